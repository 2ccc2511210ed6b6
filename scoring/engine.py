"""The scoring engine of score_dataset.py: tokenise once, sort by length, batch under a token budget
with dynamic padding, restore the input order, and checkpoint finished chunks so a crashed run
resumes where it stopped.

Scores do not depend on the batch: every template pads on the side its model pools from (right for
decoder classifiers and BERT-family encoders), so a text's reward is the same alone or in any batch
(up to float rounding, <= 1e-4 in fp32; tests/test_scoring/engine.py checks it).
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

logger = logging.getLogger(__name__)

# Defaults when scoring.max_batch_tokens is null. On CPU small batches of similar length are fastest
# (bench/bench_scoring.py); on a GPU a larger budget fills the device and still fits an 8B model in
# bfloat16 beside its weights on a 24 GiB card.
AUTO_BATCH_TOKENS = {"cpu": 4096, "cuda": 16384}
ENCODE_SLICE = 2048  # texts tokenised per call, to keep the tokenizer's intermediate lists small


def plan_batches(lengths: Sequence[int], max_tokens: int, max_texts: int) -> list[list[int]]:
    """Group indices into batches, longest first, so that (longest in batch) x (texts in batch)
    stays within `max_tokens` and no batch holds more than `max_texts`. Longest first makes the
    batch that needs the most memory the first one: an out-of-memory error shows at once. A text
    longer than the budget gets a batch to itself."""
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    batches: list[list[int]] = []
    current: list[int] = []
    width = 0
    for i in order:
        size = max(int(lengths[i]), 1)
        if current and (max(width, size) * (len(current) + 1) > max_tokens or len(current) >= max_texts):
            batches.append(current)
            current, width = [], 0
        current.append(i)
        width = max(width, size)
    if current:
        batches.append(current)
    return batches


def padded_tokens(batches: Sequence[Sequence[int]], lengths: Sequence[int]) -> int:
    return sum(max(lengths[i] for i in batch) * len(batch) for batch in batches)


def score_pairs(encode: Callable, score_encoded: Callable, questions: Sequence[str], completions: Sequence[str],
                max_tokens: int = AUTO_BATCH_TOKENS["cpu"], max_texts: int = 64) -> list[float]:
    """Score pairs in the input order, batched by length: a tokenising template's `score_batch`."""
    encoded = encode(list(questions), list(completions))
    rewards: list[float] = [math.nan] * len(encoded)
    for batch in plan_batches([len(e) for e in encoded], max_tokens, max_texts):
        for i, reward in zip(batch, score_encoded([encoded[i] for i in batch])):
            rewards[i] = float(reward)
    return rewards


@dataclass
class ScoreStats:
    """What one model's scoring did; logged as the summary and saved in the sidecar."""

    texts: int = 0  # texts this model has rewards for at the end
    scored: int = 0  # texts scored in this run (the rest came from the checkpoint)
    resumed: int = 0
    truncated: int = 0
    tokens: int = 0  # real tokens of the texts scored in this run (0 for models that do not tokenise)
    padded: int = 0  # tokens fed to the model, padding included
    batches: int = 0
    seconds: float = 0.0
    non_finite: int = 0
    extra: dict = field(default_factory=dict)

    def summary(self) -> dict:
        rate = self.scored / self.seconds if self.seconds else 0.0
        out = {"texts": self.texts, "scored": self.scored, "resumed_from_checkpoint": self.resumed,
               "truncated": self.truncated, "batches": self.batches, "seconds": round(self.seconds, 3),
               "texts_per_s": round(rate, 2)}
        if self.padded:
            out.update({"tokens": self.tokens, "tokens_per_s": round(self.tokens / self.seconds, 1) if self.seconds else 0.0,
                        "padding_fraction": round(1 - self.tokens / self.padded, 4)})
        if self.non_finite:
            out["non_finite"] = self.non_finite
        return {**out, **self.extra}


class Checkpoint:
    """Rewards of finished chunks, appended as JSON lines `{"i": item, "r": reward}` and synced to
    disk after each chunk. A line cut short by a crash is ignored when read back."""

    def __init__(self, path: Path):
        self.path = Path(path)

    def load(self) -> dict[int, float]:
        done: dict[int, float] = {}
        if not self.path.is_file():
            return done
        with open(self.path) as handle:
            for line in handle:
                try:
                    row = json.loads(line)
                    done[int(row["i"])] = float(row["r"])
                except (ValueError, KeyError, TypeError):
                    logger.warning("%s: ignoring an incomplete line (a crash while writing)", self.path)
        return done

    def append(self, rows: Sequence[tuple[int, float]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a+b") as handle:
            handle.seek(0, os.SEEK_END)
            if handle.tell():
                handle.seek(-1, os.SEEK_END)
                if handle.read(1) != b"\n":  # a crash cut the last line: start on a line of our own
                    handle.write(b"\n")
            handle.writelines((json.dumps({"i": i, "r": r}) + "\n").encode() for i, r in rows)
            handle.flush()
            os.fsync(handle.fileno())

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


def _chunks(batches: list[list[int]], chunk_texts: int) -> list[list[list[int]]]:
    chunks, current, count = [], [], 0
    for batch in batches:
        current.append(batch)
        count += len(batch)
        if count >= chunk_texts:
            chunks.append(current)
            current, count = [], 0
    return chunks + ([current] if current else [])


def score_texts(model, questions: Sequence[str], completions: Sequence[str], *, max_tokens: int, max_texts: int,
                checkpoint: Checkpoint | None = None, chunk_texts: int = 1024) -> tuple[list[float], ScoreStats]:
    """One reward per (question, completion), in the input order. Items already in `checkpoint`
    are not scored again; every finished chunk of about `chunk_texts` texts is added to it."""
    from tqdm import tqdm

    n = len(completions)
    stats = ScoreStats(texts=n)
    done = checkpoint.load() if checkpoint else {}
    done = {i: r for i, r in done.items() if 0 <= i < n}
    stats.resumed = len(done)
    if done:
        logger.info("%s: %d of %d texts resumed from %s", model.name, len(done), n, checkpoint.path)
    todo = [i for i in range(n) if i not in done]
    rewards: list[float] = [done.get(i, math.nan) for i in range(n)]
    started = time.perf_counter()

    encoded = None
    if model.encode is not None and model.score_encoded is not None:
        encoded = []
        for start in tqdm(range(0, len(todo), ENCODE_SLICE), desc=f"tokenising for {model.name}", unit="slice",
                          disable=len(todo) <= ENCODE_SLICE):
            part = todo[start:start + ENCODE_SLICE]
            encoded.extend(model.encode([questions[i] for i in part], [completions[i] for i in part]))
        lengths = [len(e) for e in encoded]
        stats.truncated = sum(e.truncated for e in encoded)
        batches = [[todo[j] for j in batch] for batch in plan_batches(lengths, max_tokens, max_texts)]
        by_item = dict(zip(todo, encoded))
    else:
        batches = [todo[k:k + max_texts] for k in range(0, len(todo), max_texts)]

    with tqdm(total=len(todo), desc=f"scoring with {model.name}", unit="text", dynamic_ncols=True) as bar:
        for chunk in _chunks(batches, max(chunk_texts, 1)):
            rows: list[tuple[int, float]] = []
            for batch in chunk:
                if encoded is not None:
                    items = [by_item[i] for i in batch]
                    scores = model.score_encoded(items)
                    real = sum(len(e) for e in items)
                    stats.tokens += real
                    stats.padded += max(len(e) for e in items) * len(items)
                else:
                    scores = model.score_batch([questions[i] for i in batch], [completions[i] for i in batch])
                if len(scores) != len(batch):
                    raise RuntimeError(f"scoring template '{model.name}' returned {len(scores)} rewards for "
                                       f"{len(batch)} texts")
                for i, score in zip(batch, scores):
                    rewards[i] = float(score)
                    rows.append((i, float(score)))
                stats.batches += 1
                bar.update(len(batch))
                if stats.padded:
                    elapsed = time.perf_counter() - started
                    bar.set_postfix_str(f"{stats.tokens / max(elapsed, 1e-9):,.0f} tok/s", refresh=False)
            if checkpoint is not None:
                checkpoint.append(rows)
            stats.scored += len(rows)
    stats.seconds = time.perf_counter() - started
    stats.non_finite = sum(not math.isfinite(r) for r in rewards)
    return rewards, stats
