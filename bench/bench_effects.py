"""Benchmark: phase 3 (treatment_effects.py) on 1,000,000 scored records against the floor, a minimal
orjson + numpy script that reads the same file and computes the same estimates (issue #17, point 1).

Records have a real scored file's shape (about 1.6 KB: id, W, reward question, four completion texts,
the rewriter's changes, the judge's verdicts, two reward models), written once to --workdir. The
floor reads only what its estimates need: it finds a line's id, W and one model's reward dict in the
line's bytes and parses those three slices with orjson, never the texts (its finding relies on the
layout make_records writes); it keeps W, the three rewards and each id once (a repeated id would
count an example twice, so any correct reader must look), and computes the naive and RATE estimates
with their SEs in numpy. Phase 3 is the real script run as a user runs it, with its
defaults (judge efficacy, clusters, effect sizes, placebo off, every output written). Each runs in
its own process, alternately, --repeats times; CPU seconds (user + system) and peak memory (max RSS)
come from the kernel's accounting of that process (os.wait4); the CPU ratio is the median of the
ratios of runs made back to back, the memory ratio that of the medians. The
estimates of both are checked equal to 1e-12. A third process times the stages of each side in turn:
read (the floor reads the file 1 MB at a time; the phase reads 1 MB blocks into one buffer), parse
(the floor finds its three slices and parses them; the phase's typed decoder and columns), arrays (the
floor keeps the values and checks the ids; the phase's drops, efficacy and clusters), statistics, and
the sha256 of the input that the phase's sidecar records (taken from the blocks it reads, no second
pass; the floor keeps no provenance).

Last, the estimators alone on n simulated examples already in memory: every estimator, SE, interval
and diagnostic vectorised (estimation/results.py) against a per-example Python loop in the original
code's style (tests/reference_estimators.py, same numbers asserted), and with every example in a cluster of
5 (CR1 SEs; target under 5 s at 1,000,000 examples).

Usage:
    .venv/bin/python bench/bench_effects.py [--n 1000000] [--repeats 3] [--workdir /tmp/rate_bench_effects]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TARGET_CPU, TARGET_MEMORY = 1.5, 1.3

FLOOR = r'''
import sys, time, json, orjson, numpy as np
path, reward_key, stages = sys.argv[1], sys.argv[2], sys.argv[3] == "stages"
# Only three fields of a line are parsed. make_records writes the id first and W second, and the
# reward dict, flat, after every text: no text, key or other value holds its key, so the last match
# of that key in a line is the dict and its first closing brace ends it.
W, REWARDS = b',"w_original":', b'"' + reward_key.encode() + b'":{'
def pieces():
    # (bytes, start, stop) of whole lines, 1 MB read at a time without copying it; a line the read cut
    # is joined to its end alone (make_records' lines are far shorter than a read)
    with open(path, "rb") as handle:
        rest = b""
        while data := handle.read(1 << 20):
            first = data.index(b"\n") + 1 if rest else 0
            if rest:
                yield rest + data[:first], 0, len(rest) + first
            last = data.rfind(b"\n") + 1
            yield data, first, last
            rest = data[last:]
def run(parse, extract):
    w, y, r, rr, seen, loads = [], [], [], [], set(), orjson.loads
    for data, position, stop in pieces():
        if not parse:
            continue
        ids, flags, found, index, rindex = [], [], [], data.index, data.rindex
        while position < stop:
            end = index(b"\n", position)
            at = index(W, position + 6)
            flag_end = index(b",", at + len(W))
            start = rindex(REWARDS, flag_end, end) + len(REWARDS) - 1
            ids.append(data[position + 6:at]); flags.append(data[at + len(W):flag_end])
            found.append(data[start:index(b"}", start) + 1])
            position = end + 1
        # one orjson call per field per piece: its slices joined into a JSON array
        ids, flags, found = (loads(b"[" + b",".join(part) + b"]") for part in (ids, flags, found))
        if extract:
            distinct = set(ids)
            if len(distinct) < len(ids) or not seen.isdisjoint(distinct):
                twice = next(i for n, i in enumerate(ids) if i in seen or i in ids[:n])
                raise SystemExit(f"id {twice} twice")
            seen |= distinct
            w += flags
            y += [rewards["original"] for rewards in found]
            r += [rewards["rewrite"] for rewards in found]
            rr += [rewards["rewritten rewrite"] for rewards in found]
    return np.array(w, bool), np.array(y), np.array(r), np.array(rr)
def estimate(w, y, r, rr):
    d = np.where(w, rr - r, r - rr)
    out = {}
    for name, mask in (("ATE", np.ones_like(w)), ("ATT", w), ("ATU", ~w)):
        out[name] = (float(d[mask].mean()), float(d[mask].std(ddof=1) / np.sqrt(mask.sum())))
    out["naive"] = (float(y[w].mean() - y[~w].mean()),
                    float(np.sqrt(y[w].var(ddof=1) / w.sum() + y[~w].var(ddof=1) / (~w).sum())))
    return out
if stages:
    times = {}
    for name, parse, extract in (("read", False, False), ("parse", True, False), ("arrays", True, True)):
        start = time.process_time(); arrays = run(parse, extract); times[name] = time.process_time() - start
    start = time.process_time(); estimate(*arrays); times["statistics"] = time.process_time() - start
    times["arrays"] -= times["parse"]; times["parse"] -= times["read"]
    print(json.dumps(times))
else:
    print(json.dumps(estimate(*run(True, True))))
'''

PHASE_STAGES = r'''
import sys, time, json
sys.path.insert(0, sys.argv[2])
from estimation import reader, inputs, gate, results
import treatment_effects, utils
from utils.record import COMPLETIONS, ORACLE, ORIGINAL
path, reward_key = sys.argv[1], sys.argv[3]
cfg = utils.load_config(f"{sys.argv[2]}/config.yaml", [("effects.reward_key", reward_key), ("effects.placebo_reward_key", "null")])
section = cfg["effects"]
times = {}
import hashlib
class Discard:
    def update(self, data):
        pass
def blocks(digest):
    with open(path, "rb") as handle:
        for _ in reader._blocks(handle, digest):
            pass
start = time.process_time()
blocks(Discard())
middle = time.process_time()
blocks(hashlib.sha256())
times["read"], times["hash"] = middle - start, (time.process_time() - middle) - (middle - start)
start = time.process_time()
columns = reader.read(path, COMPLETIONS, (ORACLE,), [reward_key])
times["parse"] = time.process_time() - start - times["read"] - times["hash"]
start = time.process_time()
inputs.find_reward_keys(columns, reward_key, ORIGINAL, path)
gate.assess(columns, section, "the rule")
keys = {key: key for key in COMPLETIONS}
inputs.check_completion_keys(columns, reward_key, keys, path)
arrays, _, _ = inputs.reward_arrays(columns, reward_key, keys)
labels, _ = inputs.cluster_labels(arrays, section["cluster_key"], path)
times["arrays"] = time.process_time() - start
start = time.process_time()
results.estimate(arrays, section["alpha"])
times["statistics"] = time.process_time() - start
print(json.dumps(times))
'''


def make_records(path: Path, n: int, seed: int = 0) -> None:
    """n records in a real scored file's shape, through a temporary file so a killed run leaves none."""
    import numpy as np
    import orjson

    rng = np.random.default_rng(seed)
    words = ("the photography was gorgeous and the humor delightful it follows a family moving to a new city "
             "the version I watched has subtitles in four languages and was shot by the coast").split()
    texts = [" ".join(rng.choice(words, int(length))) for length in rng.integers(30, 60, 256)]
    w = rng.random(n) < 0.4
    y = rng.normal(0.5 * w, 1.0)
    r = y - np.where(w, 0.8, -0.8) + rng.normal(0.0, 0.4, n)
    rr = r + np.where(w, 0.8, -0.8) + rng.normal(0.0, 0.4, n)
    pick = rng.integers(0, len(texts), (n, 3))
    temporary = path.with_suffix(".tmp")
    with open(temporary, "wb") as handle:
        for i in range(n):
            flag = bool(w[i])
            record = {"id": f"review-{i}", "w_original": flag, "reward_question": "Write a movie review: ",
                      "completions": {"original": texts[pick[i, 0]], "rewrite": texts[pick[i, 1]],
                                      "rewritten rewrite": texts[pick[i, 2]]},
                      "changes": {"length ratio rewrite/original": 0.7742, "length ratio rewritten rewrite/original":
                                  1.1742, "similarity original/rewritten rewrite": 0.8333,
                                  "similarity rewrite/rewritten rewrite": 0.6296},
                      "judge": {"original": {"w": flag, "confidence": 1.0, "by": "rule"},
                                "rewrite": {"w": not flag, "confidence": 1.0, "by": "rule"},
                                "rewritten rewrite": {"w": flag, "confidence": 1.0, "by": "rule"}},
                      "vader": {"original": float(y[i]), "rewrite": float(r[i]), "rewritten rewrite": float(rr[i])},
                      "length": {"original": 0.27, "rewrite": 0.21, "rewritten rewrite": 0.33}}
            handle.write(orjson.dumps(record))
            handle.write(b"\n")
    temporary.rename(path)


def run_child(command: list[str], env: dict | None = None) -> tuple[float, float, str]:
    # Popen.communicate reaps the child itself; wait4 must reap it to read its rusage, so wait here
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=REPO)
    out = process.stdout.read()
    err = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    if os.waitstatus_to_exitcode(status):
        raise SystemExit(f"{' '.join(command[:3])} failed:\n{err.decode()[-2000:]}")
    return usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, out.decode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="records (default 1,000,000)")
    parser.add_argument("--repeats", type=int, default=3, help="alternating runs of each side; medians reported")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "rate_bench_effects")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    data = args.workdir / f"scored_{args.n}.jsonl"
    if not data.exists():
        print(f"writing {args.n:,} records to {data}", flush=True)
        make_records(data, args.n)
    python = sys.executable
    floor_command = [python, "-c", FLOOR, str(data), "vader", "run"]
    floor_runs, phase_runs = [], []
    for repeat in range(args.repeats):
        floor_runs.append(run_child(floor_command))
        project = tempfile.mkdtemp(prefix="bench_effects_", dir=args.workdir)
        env = {**os.environ, "PROJECT_DIR": project}
        phase_runs.append(run_child([python, "treatment_effects.py", "--config", "config.yaml",
                                     f"--effects.dataset_filename={data}", "--effects.reward_key=vader",
                                     "--effects.placebo_reward_key=null"], env))
        if repeat == 0:
            effects = next(p for p in Path(project, "effects").glob("*_treatment_effects_*.json")
                           if not p.name.endswith(".meta.json"))
            check_equal(json.loads(floor_runs[0][2]), json.loads(effects.read_text()))
        print(f"run {repeat + 1}: floor {floor_runs[-1][0]:.2f} CPU-s {floor_runs[-1][1]:.0f} MiB; "
              f"phase 3 {phase_runs[-1][0]:.2f} CPU-s {phase_runs[-1][1]:.0f} MiB", flush=True)
    floor_stages = json.loads(run_child([python, "-c", FLOOR, str(data), "vader", "stages"])[2])
    phase_stages = json.loads(run_child([python, "-c", PHASE_STAGES, str(data), str(REPO), "vader"])[2])

    floor_cpu, floor_mib = (statistics.median(run[i] for run in floor_runs) for i in (0, 1))
    phase_cpu, phase_mib = (statistics.median(run[i] for run in phase_runs) for i in (0, 1))
    print(f"\n{args.n:,} records, {data.stat().st_size / 1e9:.2f} GB; medians of {args.repeats} alternating runs; "
          f"{os.cpu_count()} CPUs")
    print(f"{'':<34}{'floor':>10}{'phase 3':>10}")
    floor_stages["hash"] = 0.0
    names = {"hash": "sha256 of the input (provenance)"}
    for stage in ("read", "parse", "arrays", "statistics", "hash"):
        print(f"  {names.get(stage, stage):<32}{floor_stages[stage]:>9.2f}s{phase_stages[stage]:>9.2f}s")
    print(f"  {'whole run: CPU (user + system)':<32}{floor_cpu:>9.2f}s{phase_cpu:>9.2f}s   "
          "(the stages are timed in another process; the rest is imports and outputs)")
    print(f"  {'whole run: peak memory (max RSS)':<32}{floor_mib:>7.0f}MiB{phase_mib:>7.0f}MiB")
    # each pair of runs was made back to back: the ratio within a pair is steadier than medians apart
    pairs = sorted(phase[0] / floor[0] for floor, phase in zip(floor_runs, phase_runs))
    cpu_ratio, memory_ratio = statistics.median(pairs), phase_mib / floor_mib
    print(f"CPU ratio of each pair of runs: {', '.join(f'{ratio:.2f}' for ratio in pairs)}")
    print(f"phase 3 / floor: CPU {cpu_ratio:.2f}x (target <= {TARGET_CPU}: {'met' if cpu_ratio <= TARGET_CPU else 'NOT met'}), "
          f"memory {memory_ratio:.2f}x (target <= {TARGET_MEMORY}: {'met' if memory_ratio <= TARGET_MEMORY else 'NOT met'})")
    estimators(args.n, args.repeats)


def estimators(n: int, repeats: int) -> None:
    import math
    import time

    import numpy as np

    sys.path[:0] = [str(REPO), str(REPO / "tests")]
    from estimation import results, robust
    from reference_estimators import loop_estimates
    from utils.record import COMPLETIONS

    rng = np.random.default_rng(0)
    w = rng.random(n) < 0.4
    y = rng.normal(0.5 * w, 1.0)
    r = y - np.where(w, 0.8, -0.8) + rng.normal(0.0, 0.4, n)
    rr = r + np.where(w, 0.8, -0.8) + rng.normal(0.0, 0.4, n)
    data = {"w": w, **dict(zip(COMPLETIONS, (y, r, rr)))}

    def best(function, times: int):
        spent, result = [], None
        for _ in range(times):
            start = time.process_time()
            result = function()
            spent.append(time.process_time() - start)
        return min(spent), result

    vector_time, found = best(lambda: results.estimate(data, 0.05), repeats)
    loop_time, looped = best(lambda: loop_estimates(*(data[k].tolist() for k in data)), 1)
    for key, (value, se) in looped.items():
        assert math.isclose(found[key], value, rel_tol=1e-9, abs_tol=1e-12), key
        assert math.isclose(found[f"{key}_stderr"], se, rel_tol=1e-9), key
    labels = np.arange(n) // 5
    cluster_time, clustered = best(lambda: results.estimate(data, 0.05, clusters=robust.from_labels(labels)), repeats)
    print(f"\nestimators alone, {n:,} examples in memory (best of {repeats}): vectorised {vector_time:.3f} s, "
          f"per-example loop {loop_time:.3f} s ({loop_time / vector_time:.1f}x); with "
          f"{clustered['clusters']['clusters']:,} clusters of 5 {cluster_time:.3f} s "
          f"(target under 5 s: {'met' if cluster_time < 5 else 'NOT met'})")


def check_equal(floor: dict, effects: dict) -> None:
    """The floor's estimates are the phase's naive and RATE rows."""
    rows = {(row["estimator"], row["estimand"]): row for row in effects["estimates"]}
    for name, (estimate, se) in floor.items():
        row = rows[("naive", "ATE") if name == "naive" else ("RATE", name)]
        assert abs(row["estimate"] - estimate) <= 1e-12 * max(1.0, abs(estimate)), (name, row["estimate"], estimate)
        assert abs(row["se"] - se) <= 1e-12 * max(1.0, se), (name, row["se"], se)


if __name__ == "__main__":
    main()
