"""Benchmark: every estimator of treatment_effects.py on 1,000,000 examples, vectorised, against a
straightforward per-example Python loop in the original RATE code's style (issue #3, point 7).

Both sides compute the same numbers (asserted): naive with its Welch SE; single rewrite and RATE for
ATE, ATT and ATU with paired SEs; RATE's unpaired SEs; reward_std; the rewrite effects and their
asymmetry; and a t interval and p-value for each. Both start from columns already in memory (numpy
arrays for the vectorised code, Python lists for the loop): reading the records is common to both and
timed on its own line. Then the same estimates with every example in a cluster of 5 (CR1 SEs, issue #13: under 5 s at
1,000,000 examples). A last line times the optional studentized bootstrap at a typical run's size.

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

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from estimation import bootstrap as effects_bootstrap  # noqa: E402
from estimation import inputs as effects_inputs  # noqa: E402
from estimation import results as effects_results  # noqa: E402
from estimation import robust  # noqa: E402
from estimation.reference import loop_estimates  # noqa: E402


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
    vector_time, results = best_time(lambda: effects_results.estimate(data, 0.05), args.repeats)
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
    # Clusters of 5 examples: every SE becomes CR1 (estimation/robust.py); labels as the phase forms them.
    labels = [f"question:{i // 5}" for i in range(args.n)]
    cluster_time, clustered = best_time(lambda: effects_results.estimate(
        data, 0.05, clusters=robust.from_labels(labels)), args.repeats)
    assert clustered["clusters"]["clusters"] == (args.n + 4) // 5
    report(f"the same with {clustered['clusters']['clusters']:,} clusters of 5 (labels to CR1, best of {args.repeats})",
           cluster_time)
    print(f"clusters cost: {cluster_time / vector_time:.2f}x the iid run; target under 5 s: "
          f"{'met' if cluster_time < 5 else 'NOT met'}")
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
