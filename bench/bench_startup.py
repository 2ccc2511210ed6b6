"""Benchmark: how long each script takes to print its --help (issue #17, point 5: under 0.3 s), and
what the same script costs when it imports its packages at once, side by side in one run.

Each script runs as a user runs it, in a fresh process, --help on its command line; the median wall
time of --repeats runs is printed, beside the median of a process that imports everything the script
uses before parsing (what the phases would cost if they imported their packages at the top instead of
inside the functions that use them), and their ratio.

Usage:
    .venv/bin/python bench/bench_startup.py [--repeats 7]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SCRIPTS = {
    "create_dataset.py": ["dataset_templates", "rewriters", "judges"],
    "score_dataset.py": ["scoring.engine", "scoring.shards"],
    "treatment_effects.py": ["estimation.contrasts", "estimation.gate", "estimation.inputs", "estimation.results",
                             "reporting.tables", "scipy.special"],
    "visualize.py": ["reporting.figures", "reporting.report", "reporting.runs", "reporting.tables", "scipy.special"],
    "run_experiments.py": ["experiments.output", "experiments.real_rewriter", "experiments.runner",
                           "experiments.summary"],
    "run_audit.py": ["audit.card", "audit.steps", "scoring.gpus"],
}
TARGET = 0.3


def wall(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    print(f"{'script':24s} {'--help':>8s} {'eager imports':>14s} {'ratio':>6s}  target {TARGET} s")
    worst = 0.0
    for script, packages in SCRIPTS.items():
        eager = [sys.executable, "-c", f"import sys; sys.path.insert(0, {str(REPO)!r}); "
                 + "; ".join(f"import {name}" for name in packages)]
        helps, eagers = [], []
        for _ in range(args.repeats):  # interleaved, so that a busy moment hits both alike
            helps.append(wall([sys.executable, script, "--help"]))
            eagers.append(wall(eager))
        help_time, eager_time = statistics.median(helps), statistics.median(eagers)
        worst = max(worst, help_time)
        print(f"{script:24s} {help_time:7.3f}s {eager_time:13.3f}s {eager_time / help_time:5.1f}x")
    print(f"slowest --help: {worst:.3f} s ({'within' if worst < TARGET else 'over'} the {TARGET} s target)")


if __name__ == "__main__":
    main()
