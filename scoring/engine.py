"""The scoring engine of score_dataset.py: texts are taken in chunks (`scoring.checkpoint_texts`,
1,024 by default); each chunk is tokenised, sorted by length and cut into batches under a token
budget with dynamic padding, scored, put back in the input order, and checkpointed, so a crashed
run resumes where it stopped.

The device is kept busy (scoring/prefetch.py): the next chunk is tokenised and its padded tensors
built (vectorised, in pinned memory on a GPU) in a background thread while the model scores the
current one; a template with a `scorer` (the Hugging Face ones) hands back rewards that stay on the
device, and they are copied to the host once per chunk, just before the chunk is checkpointed,
rather than once per batch. A template's `score_encoded` wrapped after it was built (as the tests
inject faults) is honoured: the engine then calls the wrapper, one batch at a time.

Scores do not depend on the batch: every template pads on the side its model pools from (right for
decoder classifiers and BERT-family encoders), so a text's reward is the same alone or in any batch
(up to float rounding, <= 1e-4 in fp32; tests/test_scoring_engine.py checks it).

A model that gives `score_with_failures` (a served LLM judge) may fail a text: its reward is NaN and
its reason is kept in `ScoreStats.failures` (item -> "<kind>: <detail>"), counted by kind. The
checkpoint keeps the failure with its reason: a resumed run asks again for a text whose request
failed, and not for one whose answer could not be read.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Callable, Sequence

from scoring import prefetch
from scoring.budget import AUTO_BATCH_TOKENS  # noqa: F401  (the defaults by device, read by score_dataset.py)

logger = logging.getLogger(__name__)

ENCODE_SLICE = prefetch.ENCODE_SLICE
PREFETCH_WINDOWS = 1  # chunks made ready ahead of the one being scored (0: all in the calling thread)


def plan_batches(lengths: Sequence[int], max_tokens: int, max_texts: int) -> list[list[int]]:
    """Group indices into batches, longest first, so that (longest in batch) x (texts in batch)
    stays within `max_tokens` and no batch holds more than `max_texts`. Longest first makes the
    batch that needs the most memory the first one of its chunk: an out-of-memory error shows at
    once. A text longer than the budget gets a batch to itself."""
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
    non_finite: int = 0  # NaN or infinite rewards that are no recorded failure
    failures: dict = field(default_factory=dict)  # item -> why it has no reward (resumed ones included)
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
        if self.failures:
            out["failed"] = len(self.failures)
            out["failures"] = failure_counts(self.failures.values())
        return {**out, **self.extra}


def failure_kind(reason: str) -> str:
    """What a failure is counted under: its reason up to the first colon ("request failed")."""
    return reason.split(":", 1)[0].strip() or reason


def failure_counts(reasons) -> dict[str, int]:
    counts: dict[str, int] = {}
    for reason in reasons:
        counts[failure_kind(reason)] = counts.get(failure_kind(reason), 0) + 1
    return dict(sorted(counts.items()))


class Checkpoint:
    """Rewards of finished chunks, appended as JSON lines `{"i": item, "r": reward}` (a failed text:
    `{"i": item, "r": null, "f": reason}`) and synced to disk after each chunk. A line cut short by a
    crash is ignored when read back."""

    def __init__(self, path: Path):
        self.path = Path(path)

    def read(self) -> tuple[dict[int, float], dict[int, str]]:
        """(reward by item, NaN for a failed one; failure reason by item)."""
        done: dict[int, float] = {}
        failed: dict[int, str] = {}
        if not self.path.is_file():
            return done, failed
        with open(self.path) as handle:
            for line in handle:
                try:
                    row = json.loads(line)
                    if row.get("f") is not None and row["r"] is None:
                        done[int(row["i"])], failed[int(row["i"])] = math.nan, str(row["f"])
                    else:
                        done[int(row["i"])] = float(row["r"])
                except (ValueError, KeyError, TypeError, AttributeError):
                    logger.warning("%s: ignoring an incomplete line (a crash while writing)", self.path)
        return done, failed

    def load(self) -> dict[int, float]:
        return self.read()[0]

    def append(self, rows: Sequence[tuple[int, float]], failures: dict[int, str] | None = None) -> None:
        failures = failures or {}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a+b") as handle:
            handle.seek(0, os.SEEK_END)
            if handle.tell():
                handle.seek(-1, os.SEEK_END)
                if handle.read(1) != b"\n":  # a crash cut the last line: start on a line of our own
                    handle.write(b"\n")
            handle.writelines((json.dumps({"i": i, "r": None, "f": failures[i]} if i in failures else {"i": i, "r": r})
                               + "\n").encode() for i, r in rows)
            handle.flush()
            os.fsync(handle.fileno())

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


def fast_scorer(model):
    """The template's scorer when the engine may drive it directly (collate in the prefetch thread,
    rewards left on the device), else None."""
    scorer = getattr(model, "scorer", None)
    if scorer is None or not all(callable(getattr(scorer, name, None)) for name in ("collate", "forward")):
        return None
    return scorer if model.score_encoded == getattr(scorer, "score_encoded", None) else None


def gather(outputs: list) -> list[float]:
    """Rewards of a chunk's batches, in order, as floats. Device tensors are joined and copied to the
    host in one transfer: the one synchronisation of the chunk."""
    tensors = [k for k, out in enumerate(outputs) if hasattr(out, "detach")]
    host: dict[int, list] = {}
    if tensors:
        import torch

        joined = torch.cat([outputs[k].detach().reshape(-1) for k in tensors]).float().cpu().tolist()
        start = 0
        for k in tensors:
            host[k], start = joined[start:start + len(outputs[k])], start + len(outputs[k])
    return [float(x) for k, out in enumerate(outputs) for x in host.get(k, out)]


def score_texts(model, questions: Sequence[str], completions: Sequence[str], *, max_tokens: int, max_texts: int,
                checkpoint: Checkpoint | None = None, chunk_texts: int = 1024,
                prefetch_windows: int | None = None) -> tuple[list[float], ScoreStats]:
    """One reward per (question, completion), in the input order. Items already in `checkpoint`
    are not scored again; every finished chunk of `chunk_texts` texts is added to it."""
    from tqdm import tqdm

    n = len(completions)
    stats = ScoreStats(texts=n)
    done, failed = checkpoint.read() if checkpoint else ({}, {})
    # a request that failed (a server down, a timeout) is asked again on resume; an answer that was
    # unparsable would come back the same, so it stays a failure
    done = {i: r for i, r in done.items() if 0 <= i < n and failure_kind(failed.get(i, "")) != "request failed"}
    stats.failures = {i: reason for i, reason in failed.items() if i in done}
    stats.resumed = len(done)
    if done:
        logger.info("%s: %d of %d texts resumed from %s", model.name, len(done), n, checkpoint.path)
    todo = [i for i in range(n) if i not in done]
    rewards: list[float] = [done.get(i, math.nan) for i in range(n)]
    started = time.perf_counter()
    size = max(int(chunk_texts), 1)
    parts = [todo[k:k + size] for k in range(0, len(todo), size)]
    depth = PREFETCH_WINDOWS if prefetch_windows is None else prefetch_windows

    if model.encode is not None and model.score_encoded is not None:
        scorer = fast_scorer(model)
        make = partial(prefetch.tokenised_window, model.encode, scorer.collate if scorer else None, questions,
                       completions, max_tokens=max_tokens, max_texts=max_texts)
        forward = scorer.forward if scorer else model.score_encoded
    else:  # raw-text models: nothing to prepare ahead
        make = partial(prefetch.text_window, questions, completions, max_texts=max_texts)
        forward, depth = (lambda pair: model.score_batch(*pair)), 0
    failing = model.encode is None and getattr(model, "score_with_failures", None) is not None
    if failing:
        forward = (lambda pair: model.score_with_failures(*pair))

    with tqdm(total=len(todo), desc=f"scoring with {model.name}", unit="text", dynamic_ncols=True) as bar, \
            prefetch.Windows(make, parts, depth) as windows:
        for window in windows:
            outputs, lost = [], {}
            for k, (batch, inputs) in enumerate(zip(window.batches, window.inputs)):
                out = forward(inputs)
                if failing:
                    out, why = out
                    lost.update({batch[j]: reason for j, reason in why.items()})
                if len(out) != len(batch):  # a tensor's length is its shape: no synchronisation
                    raise RuntimeError(f"scoring template '{model.name}' returned {len(out)} rewards for "
                                       f"{len(batch)} texts")
                outputs.append(out)
                stats.batches += 1
                bar.update(len(batch))
                if window.padded:
                    stats.tokens += window.real[k]
                    stats.padded += window.padded[k]
                    elapsed = time.perf_counter() - started
                    bar.set_postfix_str(f"{stats.tokens / max(elapsed, 1e-9):,.0f} tok/s", refresh=False)
            rows = [(i, score) for batch, scores in zip(window.batches, _split(gather(outputs), window.batches))
                    for i, score in zip(batch, scores)]
            for i, score in rows:
                rewards[i] = score
            stats.truncated += window.truncated
            stats.failures.update(lost)
            if checkpoint is not None:
                checkpoint.append(rows, lost)
            stats.scored += len(rows)
    stats.seconds = time.perf_counter() - started
    stats.non_finite = sum(not math.isfinite(r) for i, r in enumerate(rewards) if i not in stats.failures)
    return rewards, stats


def _split(flat: list[float], batches: list[list[int]]) -> list[list[float]]:
    out, start = [], 0
    for batch in batches:
        out.append(flat[start:start + len(batch)])
        start += len(batch)
    return out
