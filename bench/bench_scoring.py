"""Benchmark of the scoring engine against the original code's way of scoring.

Builds a Llama-style reward model of about 5 M parameters from config (random weights, a locally
trained tokenizer, a chat template) in a temporary folder, makes about 500 texts of 50-600 tokens,
and scores them three ways with the `sfairxc` template's own encode/forward code (the code path of
the Llama-3 reward models; its `path` points at the local model):

    engine     scoring_engine.score_texts: tokenise once, sort by length, batches under a token budget
    per-text   one text per forward pass, tokenised one at a time (the original RATE code)
    fixed-32   batches of 32 texts in input order, padded to the longest of each batch

and prints examples/s, tokens/s, the padding fraction, the speed-up ratios, and the largest reward
difference between the ways (scores must not depend on batching). Each way runs `--repeats` times,
interleaved, and the fastest run counts, so a busy machine disturbs the ratios less. No network,
under ~2 minutes on 2 CPU cores.

Usage:
    python bench/bench_scoring.py [--texts 500] [--device cpu|cuda] [--dtype float32|bfloat16]
                                  [--max-batch-tokens N] [--batch-size 64] [--repeats 2]
                                  [--hidden 128] [--layers 4] [--embedding-rows 32000]
"""

from __future__ import annotations

import argparse
import logging
import random
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]


def make_texts(model, n: int, seed: int = 0) -> tuple[list[str], list[str]]:
    """`n` completions whose chat-formatted length is spread evenly over 50-600 tokens."""
    import scoring_tiny_models as tiny

    rng, vocab = random.Random(seed), tiny.words()
    probe = [tiny.random_text(rng, 200, vocab) for _ in range(5)]
    overhead = len(model.encode(["Write a movie review: "], [""])[0])
    per_word = sum(len(e) - overhead for e in model.encode(["Write a movie review: "] * 5, probe)) / (5 * 200)
    questions, completions = [], []
    for _ in range(n):
        target = rng.randint(50, 600)
        questions.append("Write a movie review: ")
        completions.append(tiny.random_text(rng, max(1, round((target - overhead) / per_word)), vocab))
    return questions, completions


def run_per_text(model, questions, completions):
    rewards, tokens = [], 0
    for q, c in zip(questions, completions):
        encoded = model.encode([q], [c])
        tokens += len(encoded[0])
        rewards.extend(model.score_encoded(encoded))
    return rewards, tokens, tokens


def run_fixed(model, questions, completions, size=32):
    encoded = model.encode(questions, completions)
    rewards, tokens, padded = [], 0, 0
    for start in range(0, len(encoded), size):
        batch = encoded[start:start + size]
        tokens += sum(len(e) for e in batch)
        padded += max(len(e) for e in batch) * len(batch)
        rewards.extend(model.score_encoded(batch))
    return rewards, tokens, padded


def run_engine(model, questions, completions, max_tokens, max_texts):
    from scoring import engine as scoring_engine

    rewards, stats = scoring_engine.score_texts(model, questions, completions, max_tokens=max_tokens,
                                                max_texts=max_texts)
    return rewards, stats.tokens, stats.padded


def timed(fn, *args):
    started = time.perf_counter()
    result = fn(*args)
    return (*result, time.perf_counter() - started)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=500)
    parser.add_argument("--device", default=None)
    parser.add_argument("--dtype", default=None)
    parser.add_argument("--max-batch-tokens", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--embedding-rows", type=int, default=32000, help="padded vocabulary, as in real models")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    import torch

    from scoring import engine as scoring_engine
    import scoring_tiny_models as tiny
    from scoring_templates import sfairxc

    with tempfile.TemporaryDirectory() as folder:
        path = tiny.llama_rm(Path(folder) / "rm", hidden=args.hidden, layers=args.layers, heads=4,
                             intermediate=int(args.hidden * 2.7), vocab_size=2000, max_positions=1024,
                             embedding_rows=args.embedding_rows)
        model = sfairxc.build({**sfairxc.OPTIONS, "path": str(path), "device": args.device, "dtype": args.dtype})
    device = model.info["device"].split(":")[0]
    budget = args.max_batch_tokens or scoring_engine.AUTO_BATCH_TOKENS.get(device, 4096)
    params = sum(p.numel() for p in _torch_model(model).parameters()) if _torch_model(model) is not None else 0
    questions, completions = make_texts(model, args.texts)
    lengths = [len(e) for e in model.encode(questions, completions)]
    print(f"model: Llama-style RM, {params / 1e6:.1f} M parameters, {model.info['device']}, {model.info['dtype']}, "
          f"attention {model.info['attention']}; torch threads {torch.get_num_threads()}")
    print(f"texts: {len(lengths)}, {min(lengths)}-{max(lengths)} tokens (mean {sum(lengths) / len(lengths):.0f}); "
          f"engine budget {budget} tokens, at most {args.batch_size} texts per batch")
    model.score_encoded(model.encode(questions[:4], completions[:4]))  # warm-up: first calls allocate

    results = {}
    for _ in range(max(args.repeats, 1)):
        for name, fn, extra in (("engine", run_engine, (budget, args.batch_size)), ("per-text", run_per_text, ()),
                                ("fixed-32", run_fixed, ())):
            rewards, tokens, padded, seconds = timed(fn, model, questions, completions, *extra)
            if name not in results or seconds < results[name]["seconds"]:
                results[name] = {"rewards": rewards, "tokens": tokens, "padded": padded, "seconds": seconds}

    base = results["per-text"]["seconds"]
    print("\n| way | ex/s | tok/s | padding | time s | speed-up vs per-text |")
    print("|---|---|---|---|---|---|")
    for name, r in results.items():
        print(f"| {name} | {len(completions) / r['seconds']:.1f} | {r['tokens'] / r['seconds']:,.0f} | "
              f"{1 - r['tokens'] / r['padded']:.1%} | {r['seconds']:.2f} | {base / r['seconds']:.2f}x |")
    gap = max(max(abs(a - b) for a, b in zip(results["engine"]["rewards"], r["rewards"])) for r in results.values())
    engine = results["engine"]
    print(f"\nengine vs per-text: {base / engine['seconds']:.2f}x (target >= 1.2x on CPU, >= 10x on a GPU); "
          f"engine vs fixed-32: {results['fixed-32']['seconds'] / engine['seconds']:.2f}x; "
          f"engine padding {1 - engine['tokens'] / engine['padded']:.1%} (target <= 5%)")
    print(f"largest reward difference between the ways: {gap:.2e} (fp32 target <= 1e-4)")


def _torch_model(model):
    """The torch module behind a built template, for counting parameters."""
    scorer = getattr(model.score_encoded, "__self__", None)
    return getattr(scorer, "model", None)


if __name__ == "__main__":
    main()
