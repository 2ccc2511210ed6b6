"""Benchmark: every estimator of treatment_effects.py on 1,000,000 examples, vectorised, against a
straightforward per-example Python loop in the original RATE code's style (issue #3, point 7).

Both sides compute the same numbers (asserted): naive with its Welch SE; single rewrite and RATE for
ATE, ATT and ATU with paired SEs; RATE's unpaired SEs; reward_std; the rewrite effects and their
asymmetry; and a t interval and p-value for each. Both start from columns already in memory (numpy
arrays for the vectorised code, Python lists for the loop): reading the records is common to both and
timed on its own line. A last line times the optional studentized bootstrap at a typical run's size.

Usage:
    .venv/bin/python bench/bench_effects.py [--n 1000000] [--repeats 3] [--records] [--bootstrap 1000]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from estimation import bootstrap as effects_bootstrap  # noqa: E402
from estimation import inputs as effects_inputs  # noqa: E402
import treatment_effects as te  # noqa: E402


def _mean_se(values: list[float]) -> tuple[float, float]:
    n = len(values)
    mean = sum(values) / n
    variance = sum((v - mean) ** 2 for v in values) / (n - 1)
    return mean, math.sqrt(variance / n)


def _variance(values: list[float]) -> float:
    mean = sum(values) / len(values)
    return sum((v - mean) ** 2 for v in values) / (len(values) - 1)


def loop_estimates(w: list, y: list, r: list, rr: list, alpha: float = 0.05) -> dict[str, tuple[float, float]]:
    """The estimators one example at a time, collecting per-group lists as the original code did.
    Returns {original JSON key: (estimate, SE)}; intervals and p-values are computed as well, so that
    the loop does the same work as the vectorised code."""
    groups = {True: {"y": [], "single": [], "rate": [], "do1": [], "do0": [], "rewrite": []},
              False: {"y": [], "single": [], "rate": [], "do1": [], "do0": [], "rewrite": []}}
    single_all, rate_all, do1_all, do0_all = [], [], [], []
    for wi, yi, ri, rri in zip(w, y, r, rr):
        group = groups[bool(wi)]
        single = yi - ri if wi else ri - yi
        rate = rri - ri if wi else ri - rri
        do1, do0 = (rri, ri) if wi else (ri, rri)
        group["y"].append(yi)
        group["single"].append(single)
        group["rate"].append(rate)
        group["do1"].append(do1)
        group["do0"].append(do0)
        group["rewrite"].append(rri - yi)
        single_all.append(single)
        rate_all.append(rate)
        do1_all.append(do1)
        do0_all.append(do0)
    treated, control = groups[True], groups[False]
    n1, n0 = len(treated["y"]), len(control["y"])
    v1, v0 = _variance(treated["y"]), _variance(control["y"])
    out = {"naive_effect": (sum(treated["y"]) / n1 - sum(control["y"]) / n0, math.sqrt(v1 / n1 + v0 / n0))}
    for name, key in (("single_rewrite", "single"), ("rewritten_rewrite", "rate")):
        out[f"ATT_{name}"] = _mean_se(treated[key])
        out[f"ATU_{name}"] = _mean_se(control[key])
        out[f"ATE_{name}"] = _mean_se(single_all if key == "single" else rate_all)
    unpaired = {"ATT": math.sqrt(_variance(treated["do1"]) / n1 + _variance(treated["do0"]) / n1),
                "ATU": math.sqrt(_variance(control["do1"]) / n0 + _variance(control["do0"]) / n0),
                "ATE": math.sqrt(_variance(do1_all) / (n1 + n0) + _variance(do0_all) / (n1 + n0))}
    reward_std = math.sqrt(((n1 - 1) * v1 + (n0 - 1) * v0) / (n1 + n0 - 2))
    e1, e0 = _mean_se(treated["rewrite"]), _mean_se(control["rewrite"])
    asymmetry = (e1[0] - e0[0], math.sqrt(e1[1] ** 2 + e0[1] ** 2))
    for key, (estimate, se) in [*out.items(), ("asymmetry", asymmetry)]:
        df = n1 + n0 - 1 if key.startswith("ATE") else (n1 - 1 if key.startswith("ATT") else n0 - 1)
        half = stats.t.ppf(1 - alpha / 2, df) * se
        _ = (estimate - half, estimate + half, 2 * stats.t.sf(abs(estimate) / se, df), estimate / reward_std)
    assert unpaired and reward_std > 0
    return out


def simulate(n: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    w = rng.random(n) < 0.4
    y = rng.normal(0.5 * w, 1.0)
    r = y - np.where(w, 0.8, -0.8) + rng.normal(0.0, 0.4, n)
    rr = r + np.where(w, 0.8, -0.8) + rng.normal(0.0, 0.4, n)
    return {"w": w, "original": y, "rewrite": r, "rewritten rewrite": rr}


def best_time(function, repeats: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="examples (default 1,000,000)")
    parser.add_argument("--repeats", type=int, default=3, help="vectorised runs; the best is reported")
    parser.add_argument("--records", action="store_true", help="also time reading n records into arrays")
    parser.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples timed at n=25,000 (0: skip)")
    args = parser.parse_args()

    data = simulate(args.n)
    vector_time, results = best_time(lambda: te.estimate(data, 0.05), args.repeats)
    columns = [data[k].tolist() for k in ("w", "original", "rewrite", "rewritten rewrite")]
    loop_time, looped = best_time(lambda: loop_estimates(*columns), 1)
    for key, (value, se) in looped.items():
        assert math.isclose(results[key], value, rel_tol=1e-9, abs_tol=1e-12), key
        assert math.isclose(results[f"{key}_stderr"], se, rel_tol=1e-9), key

    def report(label: str, seconds: float) -> None:
        print(f"{label:<86} {seconds:7.3f} s", flush=True)

    print(f"examples: {args.n:,} (W=1: {results['Y1_count']:,}), numpy {np.__version__}")
    report(f"vectorised: every estimator, SE, t interval, p, normalised, diagnostics (best of {args.repeats})",
           vector_time)
    report("per-example Python loop in the original code's style, same quantities", loop_time)
    print(f"speed-up: {loop_time / vector_time:.1f}x")
    if args.records:
        records = [{"w_original": bool(w), "m": {"original": y, "rewrite": r, "rewritten rewrite": rr}}
                   for w, y, r, rr in zip(*columns)]
        keys = {"original": "original", "rewrite": "rewrite", "rewritten rewrite": "rewritten rewrite"}
        read_time, _ = best_time(lambda: effects_inputs.reward_arrays(records, "m", keys), 1)
        report(f"reading {args.n:,} records into arrays (common to both, not in the ratio)", read_time)
    if args.bootstrap:
        small = simulate(25_000, seed=1)
        boot_time, _ = best_time(lambda: effects_bootstrap.bootstrap_intervals(
            small["w"], small["original"], small["rewrite"], small["rewritten rewrite"], 0.05, args.bootstrap, 0), 1)
        report(f"studentized bootstrap, {args.bootstrap} resamples of 25,000 examples", boot_time)

if __name__ == "__main__":
    main()
