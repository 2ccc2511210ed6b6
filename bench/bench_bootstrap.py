"""Benchmark: the studentized bootstrap of estimation/bootstrap.py against the cost of drawing its
resample indices (issue #17, point 3: within 1.5x), and against the implementation before the counts
formulation.

"index draw" is one rng.integers(0, n, size=n) per resample, the generator call with which the
implementation before drew a resample (the bootstrap now draws the counts, equal in distribution, in two
cheaper stages). "bootstrap" is bootstrap_intervals with the full-sample estimates given, as
estimation.results calls it: "whole call" is all of it, "resampling" the whole call less the one-off
features (estimation.bootstrap._features). "before" is the same call of estimation/bootstrap.py at the
newest git revision whose file differs from the working tree's (or at --before REV). Every time is the
best of --repeats rounds after a warm-up round, each round running all four in turn so that they meet
the same load; at --n and at a typical run's 25,000 examples, side by side.

Usage:
    .venv/bin/python bench/bench_bootstrap.py [--n 1000000] [--resamples 20]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
import types
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from estimation import bootstrap as effects_bootstrap  # noqa: E402
from estimation import stats as es  # noqa: E402

TARGET = 1.5
MODULE = "estimation/bootstrap.py"


def simulate(n: int, seed: int = 0) -> tuple:
    rng = np.random.default_rng(seed)
    w = rng.random(n) < 0.4
    y = rng.normal(0.5 * w, 1.0)
    r = y - np.where(w, 0.8, -0.8) + rng.normal(0.0, 0.4, n)
    rr = r + np.where(w, 0.8, -0.8) + rng.normal(0.0, 0.4, n)
    return w, y, r, rr


def before_module(revision: str | None) -> tuple[str, types.ModuleType]:
    """estimation/bootstrap.py at `revision`, or at the newest revision whose file differs from the
    working tree's, loaded as a module of its own."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, check=True, capture_output=True, text=True).stdout

    current = (ROOT / MODULE).read_text()
    candidates = [revision] if revision else ["HEAD", *git("log", "--format=%H", "--", MODULE).split()]
    for candidate in candidates:
        source = git("show", f"{candidate}:{MODULE}")
        if source != current or revision:
            module = types.ModuleType("bootstrap_before")
            exec(compile(source, f"{candidate}:{MODULE}", "exec"), module.__dict__)
            return git("rev-parse", "--short", candidate).strip(), module
    raise SystemExit(f"no revision of {MODULE} differs from the working tree's; pass --before REV")


def best(functions: dict, repeats: int) -> dict:
    """The best time of each function over `repeats` rounds, run in turn within a round so that all
    meet the same load, after a warm-up round (first-touch page faults, BLAS threads)."""
    times = {name: [] for name in functions}
    for round_ in range(repeats + 1):
        for name, function in functions.items():
            start = time.perf_counter()
            function()
            if round_:
                times[name].append(time.perf_counter() - start)
    return {name: min(values) for name, values in times.items()}


def measure(n: int, resamples: int, repeats: int, before: types.ModuleType) -> dict:
    w, y, r, rr = simulate(n)
    observed = es.compute(w, y, r, rr)

    def draws() -> None:
        rng = np.random.default_rng(0)
        for _ in range(resamples):
            rng.integers(0, n, size=n)

    def call(module) -> dict:
        return module.bootstrap_intervals(w, y, r, rr, 0.05, resamples, 0, observed=observed)

    out = best({"draw": draws, "whole": lambda: call(effects_bootstrap),
                "features": lambda: effects_bootstrap._features(w, y, r, rr), "before": lambda: call(before)}, repeats)
    out = {key: 1e3 * value / resamples for key, value in out.items()}
    out["resampling"] = out["whole"] - out["features"]
    out["now CI"], out["before CI"] = (call(module)["intervals"][("RATE", "ATE")] for module in (effects_bootstrap, before))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="examples (default 1,000,000)")
    parser.add_argument("--resamples", type=int, default=20, help="resamples at --n (default 20)")
    parser.add_argument("--typical", type=int, default=1000, help="resamples at 25,000 examples (0: skip; default 1000)")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs of each; the best is reported")
    parser.add_argument("--before", default=None, help="git revision of the implementation to compare with")
    args = parser.parse_args()

    revision, before = before_module(args.before)
    sizes = [(args.n, args.resamples)] + ([(25_000, args.typical)] if args.typical else [])
    results = [measure(n, resamples, args.repeats, before) for n, resamples in sizes]

    def row(label: str, values: list[str]) -> None:
        print(f"{label:<56}" + "".join(f"{value:>32}" for value in values), flush=True)

    row("", [f"n = {n:,}, {resamples} resamples" for n, resamples in sizes])
    row("index draw, rng.integers(0, n, n): ms per resample", [f"{m['draw']:.3f}" for m in results])
    row("bootstrap, resampling: ms per resample", [f"{m['resampling']:.3f}" for m in results])
    row(f"  ratio to the index draw (target <= {TARGET:g})",
        [f"{m['resampling'] / m['draw']:.2f} {'ok' if m['resampling'] / m['draw'] <= TARGET else 'OVER'}"
         for m in results])
    row("bootstrap, whole call (with features): ms per resample", [f"{m['whole']:.3f}" for m in results])
    row("  ratio to the index draw", [f"{m['whole'] / m['draw']:.2f}" for m in results])
    row("  of which features, once per call: ms per resample", [f"{m['features']:.3f}" for m in results])
    row(f"before ({revision}), whole call: ms per resample", [f"{m['before']:.3f}" for m in results])
    row("  ratio to the index draw", [f"{m['before'] / m['draw']:.2f}" for m in results])
    row("speed-up of the whole call", [f"{m['before'] / m['whole']:.1f}x" for m in results])
    row("RATE ATE 95% interval, now", [f"({m['now CI'][0]:.5f}, {m['now CI'][1]:.5f})" for m in results])
    row("RATE ATE 95% interval, before (other draws)",
        [f"({m['before CI'][0]:.5f}, {m['before CI'][1]:.5f})" for m in results])


if __name__ == "__main__":
    main()
