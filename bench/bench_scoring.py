"""Benchmark of the scoring engine against three other ways of scoring, on long-tailed lengths.

Builds a Llama-style reward model from config (random weights, a locally trained BPE tokenizer and
chat template; by default hidden 128, 4 layers, 4 heads, 2 KV heads, MLP 345, 32,000 embedding rows:
4.8 M parameters) in a temporary folder, makes `--texts` chat-formatted texts whose token lengths
follow a lognormal distribution (median 200, sigma 0.8; its quantiles, shuffled with a seed)
clipped to 51-1,493 tokens, as
answers in reward-model datasets do (a few very long ones, many short), and scores them four ways,
each from the raw texts, tokenising included:

    engine     scoring.engine.score_texts with its CPU defaults (budget 2,048 tokens, <= 64 texts,
               chunks of 1,024 texts sorted by length), and again at each other budget of
               `--budgets` (4,096, the default before it, and 1,024)
    per-text   one text per forward pass, tokenised one at a time (the original RATE code)
    fixed-32   tokenised together, then batches of 32 in input order padded to their longest
    pipeline   transformers' text-classification pipeline, batch_size 32, on the chat-formatted texts

All four run the `sfairxc` template's model code (the pipeline loads the same folder itself), in
fp32, with torch pinned to `--threads` intra-op and 1 inter-op thread (default 1: with two threads
on a loaded 2-core machine one forward pass took 273 ms instead of 15 ms, enough to flip a ratio).

Each run is a fresh subprocess: it loads the model, warms it up, then times one way. The runs go
round-robin (engine, engine-1024, per-text, fixed-32, pipeline, engine, ...) `--repeats` times and the median
of each way counts, so load from other jobs falls on every way alike. Peak memory: tracemalloc does
not see torch's allocations, so each run resets the kernel's high-water mark of its resident set
(`echo 5 > /proc/self/clear_refs`) once the model is loaded and warm, and reports VmHWM - VmRSS
after the run: the most memory the way needed on top of the loaded model, whoever allocated it
(where clear_refs is refused it falls back to ru_maxrss, which includes the loading, and says so).
Every run's rewards are compared with the engine's: the bench fails if any differ by more than 1e-4.

Usage:
    python bench/bench_scoring.py [--texts 200] [--repeats 3] [--threads 1] [--budgets 2048,4096,1024]
                                  [--batch-size 64] [--hidden 128] [--layers 4] [--embedding-rows 32000]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]

QUESTION = "Write a movie review: "
OTHERS = ("per-text", "fixed-32", "pipeline")
TOLERANCE = 1e-4
MIN_TOKENS, MAX_TOKENS, MEDIAN, SIGMA = 51, 1493, 200, 0.8


def long_tailed_lengths(n: int, seed: int = 0) -> list[int]:
    """Token lengths of a lognormal (median 200, sigma 0.8) clipped to 51-1,493: its quantiles at
    (k + 0.5) / n in a seeded random order, so that even a few hundred texts hold the tail (random
    draws of 200 rarely pass 1,000 tokens) and every run sees the same distribution."""
    import random
    from statistics import NormalDist

    normal = NormalDist(0.0, SIGMA)
    lengths = [min(max(round(MEDIAN * 2.718281828459045 ** normal.inv_cdf((k + 0.5) / n)), MIN_TOKENS), MAX_TOKENS)
               for k in range(n)]
    random.Random(seed).shuffle(lengths)
    return lengths


def texts_of_lengths(encode, targets: list[int], seed: int = 0) -> list[str]:
    """Completions whose encoded (chat-formatted) length is the target, to within a word: a binary
    search over each text's word count, all texts encoded together at every step."""
    import random

    import scoring_tiny_models as tiny

    rng, vocab = random.Random(seed), tiny.words()
    words = [[rng.choice(vocab) for _ in range(t)] for t in targets]  # a word is at least one token
    lo, hi = [1] * len(targets), [len(w) for w in words]
    text = lambda k, n: " ".join(words[k][:n]).capitalize() + "."  # noqa: E731
    while any(a < b for a, b in zip(lo, hi)):
        mids = [(a + b + 1) // 2 for a, b in zip(lo, hi)]
        lengths = [len(e) for e in encode([QUESTION] * len(targets), [text(k, m) for k, m in enumerate(mids)])]
        for k, (m, length) in enumerate(zip(mids, lengths)):
            if lo[k] < hi[k]:
                lo[k], hi[k] = (m, hi[k]) if length <= targets[k] else (lo[k], m - 1)
    return [text(k, n) for k, n in enumerate(lo)]


# ---- one timed run, in its own process ----

def _memory() -> tuple[int, int]:
    status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
    return int(status["VmRSS"].split()[0]) * 1024, int(status["VmHWM"].split()[0]) * 1024


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def worker(args) -> None:
    import torch

    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    from scoring import engine
    from scoring_templates import sfairxc

    data = json.loads(Path(args.data).read_text())
    questions, completions = [QUESTION] * len(data["completions"]), data["completions"]
    if args.worker == "pipeline":
        from transformers import AutoTokenizer, pipeline

        tokenizer = AutoTokenizer.from_pretrained(args.model)
        pipe = pipeline("text-classification", model=args.model, tokenizer=tokenizer, device="cpu",
                        dtype=torch.float32, batch_size=32, function_to_apply="none")
        chats = [tokenizer.apply_chat_template([{"role": "user", "content": q}, {"role": "assistant", "content": c}],
                                               tokenize=False) for q, c in zip(questions, completions)]
        pipe(chats[:4], add_special_tokens=False)  # warm-up: first calls allocate

        def run():
            out = pipe(chats, add_special_tokens=False)
            return [r["score"] if isinstance(r, dict) else r[0]["score"] for r in out]
    else:
        model = sfairxc.build({**sfairxc.OPTIONS, "path": args.model, "device": "cpu", "dtype": "float32"})
        model.score_encoded(model.encode(questions[:4], completions[:4]))  # warm-up

        def run():
            if args.worker.startswith("engine"):
                return engine.score_texts(model, questions, completions, max_tokens=args.max_batch_tokens,
                                          max_texts=args.batch_size)[0]
            if args.worker == "per-text":
                return [model.score_encoded(model.encode([q], [c]))[0] for q, c in zip(questions, completions)]
            encoded = model.encode(questions, completions)
            return [r for k in range(0, len(encoded), 32) for r in model.score_encoded(encoded[k:k + 32])]

    exact = _reset_peak()
    rss, _ = _memory()  # after the reset, so that the peak is measured from here
    started = time.perf_counter()
    rewards = run()
    seconds = time.perf_counter() - started
    if exact:
        peak = max(_memory()[1] - rss, 0)
    else:
        import resource

        peak = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - rss, 0)
    Path(args.out).write_text(json.dumps({"seconds": seconds, "rewards": rewards, "peak": peak, "exact": exact,
                                          "threads": torch.get_num_threads()}))


# ---- the driver ----

def padding(lengths: list[int], way: str, budget: int, texts: int, chunk: int = 1024) -> tuple[int, int]:
    """(real, padded) tokens each way feeds the model; the engine's as its planner cuts them."""
    from scoring.engine import padded_tokens, plan_batches

    if way == "per-text":
        return sum(lengths), sum(lengths)
    if way.startswith("engine"):
        padded = 0
        for start in range(0, len(lengths), chunk):
            part = lengths[start:start + chunk]
            padded += padded_tokens(plan_batches(part, budget, texts), part)
        return sum(lengths), padded
    batches = [list(range(k, min(k + 32, len(lengths)))) for k in range(0, len(lengths), 32)]
    return sum(lengths), padded_tokens(batches, lengths)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--budgets", default="2048,4096,1024", help="engine token budgets; the first is the reference")
    parser.add_argument("--max-batch-tokens", type=int, default=2048, help=argparse.SUPPRESS)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--embedding-rows", type=int, default=32000, help="padded vocabulary, as in real models")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if args.worker:
        return worker(args)

    import scoring_tiny_models as tiny
    from scoring_templates import sfairxc

    folder = Path(tempfile.mkdtemp(prefix="bench_scoring_"))
    heads, intermediate = 4, int(args.hidden * 2.7)
    path = tiny.llama_rm(folder / "rm", hidden=args.hidden, layers=args.layers, heads=heads, intermediate=intermediate,
                         vocab_size=2000, max_positions=2048, embedding_rows=args.embedding_rows)
    model = sfairxc.build({**sfairxc.OPTIONS, "path": str(path), "device": "cpu", "dtype": "float32"})
    params = sum(p.numel() for p in model.scorer.model.parameters())
    targets = long_tailed_lengths(args.texts, args.seed)
    completions = texts_of_lengths(model.encode, targets, args.seed)
    lengths = [len(e) for e in model.encode([QUESTION] * len(completions), completions)]
    data = folder / "texts.json"
    data.write_text(json.dumps({"completions": completions}))
    model.close()
    print(f"model: Llama-style RM from config, {params / 1e6:.1f} M parameters (hidden {args.hidden}, "
          f"{args.layers} layers, {heads} heads, 2 KV heads, MLP {intermediate}, {args.embedding_rows} embedding rows), "
          f"cpu, float32, torch threads {args.threads} (+1 inter-op), {os.cpu_count()} CPUs")
    ordered = sorted(lengths)
    budgets = [int(b) for b in args.budgets.split(",") if b.strip()]
    print(f"texts: {len(lengths)}, lognormal lengths {min(lengths)}-{max(lengths)} tokens, median "
          f"{ordered[len(ordered) // 2]}, mean {sum(lengths) / len(lengths):.0f}, p90 {ordered[int(0.9 * len(ordered))]}; "
          f"engine budgets {', '.join(map(str, budgets))} tokens, <= {args.batch_size} texts")

    # way -> (worker, budget); "engine" is the engine at the first budget (the CPU default)
    ways = {("engine" if k == 0 else f"engine-{b}"): ("engine", b) for k, b in enumerate(budgets)}
    ways.update({way: (way, budgets[0]) for way in OTHERS})
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "MKL_NUM_THREADS": str(args.threads),
           "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1"}
    runs: dict[str, list[dict]] = {way: [] for way in ways}
    for repeat in range(max(args.repeats, 1)):
        for way, (kind, budget) in ways.items():
            out = folder / f"{way}-{repeat}.json"
            cmd = [sys.executable, __file__, "--worker", kind, "--model", str(path), "--data", str(data), "--out",
                   str(out), "--threads", str(args.threads), "--max-batch-tokens", str(budget),
                   "--batch-size", str(args.batch_size)]
            done = subprocess.run(cmd, env=env, capture_output=True, text=True)
            if done.returncode:
                sys.exit(f"{way} failed:\n{done.stderr[-3000:]}")
            runs[way].append(json.loads(out.read_text()))
            print(f"  round {repeat + 1}: {way} {runs[way][-1]['seconds']:.2f} s", file=sys.stderr)

    reference = runs["engine"][0]["rewards"]
    gap = max(abs(a - b) for way in ways for r in runs[way] for a, b in zip(reference, r["rewards"]))
    exact = all(r["exact"] for way in ways for r in runs[way])
    median = {way: statistics.median(r["seconds"] for r in runs[way]) for way in ways}
    print(f"\n| way | ex/s | tok/s | padding | time s (median of {args.repeats}; min-max) | peak memory MiB | "
          f"engine is x faster |")
    print("|---|---|---|---|---|---|---|")
    for way, (kind, budget) in ways.items():
        real, padded = padding(lengths, kind, budget, args.batch_size)
        times = [r["seconds"] for r in runs[way]]
        peak = statistics.median(r["peak"] for r in runs[way]) / 2**20
        print(f"| {way} | {len(lengths) / median[way]:.1f} | {real / median[way]:,.0f} | {1 - real / padded:.1%} | "
              f"{median[way]:.2f} ({min(times):.2f}-{max(times):.2f}) | {peak:,.1f} | "
              f"{median[way] / median['engine']:.2f}x |")
    how = ("resident set above the loaded, warmed-up model (VmHWM - VmRSS)" if exact
           else "ru_maxrss - VmRSS (clear_refs refused: includes loading)")
    print(f"\npeak memory: {how}, median of the runs")
    print(f"largest reward difference from the engine, over all {sum(map(len, runs.values()))} runs: {gap:.2e} "
          f"(must be <= {TOLERANCE:g})")
    if gap > TOLERANCE:
        sys.exit(f"rewards differ by {gap:.2e} > {TOLERANCE:g} between the ways")


if __name__ == "__main__":
    main()
