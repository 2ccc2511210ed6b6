"""The engine's input side: texts are taken in windows (one checkpoint chunk each), and each window
is tokenised, planned into length-sorted batches and collated into padded tensors, either in the
caller's thread (`depth=0`) or in a background thread that keeps up to `depth` windows ready
while the model scores the current one.

Why windows rather than one global sort: sorting needs every length before the first batch, so a
global plan makes the device wait for the whole tokenisation (serial, and slow for a chat template).
Within a window of 1,024 texts, sorting keeps padding close to a global sort's on a long-tailed length
distribution, far below unsorted batches' (docs/performance.md, scoring).

Why a thread helps: the fast tokenizers release the GIL while encoding, torch releases it inside
every operator, and on a GPU the forward pass only queues kernels; so tokenising window k+1
overlaps the model working on window k. The serial and the threaded path produce the same windows
in the same order (tests/test_scoring_gpu_path.py).
"""

from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass, field
from typing import Callable, Iterator, Sequence

logger = logging.getLogger(__name__)

ENCODE_SLICE = 2048  # texts tokenised per call, to keep the tokenizer's intermediate lists small


@dataclass
class Window:
    """One chunk of items, ready to score: `batches[k]` are the item indices of the k-th forward
    pass and `inputs[k]` what that pass takes (collated tensors, or the `Encoded` list, or the
    texts for models that do not tokenise)."""

    items: list[int]
    batches: list[list[int]]
    inputs: list
    real: list[int] = field(default_factory=list)  # real tokens per batch (empty: no tokenizer)
    padded: list[int] = field(default_factory=list)  # tokens fed per batch, padding included
    truncated: int = 0


def tokenised_window(encode: Callable, collate: Callable | None, questions: Sequence[str],
                     completions: Sequence[str], items: list[int], max_tokens: int, max_texts: int) -> Window:
    from scoring.engine import plan_batches

    encoded = []
    for start in range(0, len(items), ENCODE_SLICE):
        part = items[start:start + ENCODE_SLICE]
        encoded.extend(encode([questions[i] for i in part], [completions[i] for i in part]))
    if len(encoded) != len(items):
        raise RuntimeError(f"the template's encode returned {len(encoded)} encodings for {len(items)} texts")
    plan = plan_batches([len(e) for e in encoded], max_tokens, max_texts)
    window = Window(items=items, batches=[], inputs=[], truncated=sum(bool(e.truncated) for e in encoded))
    for batch in plan:
        chosen = [encoded[j] for j in batch]
        window.batches.append([items[j] for j in batch])
        window.inputs.append(collate(chosen) if collate is not None else chosen)
        window.real.append(sum(len(e) for e in chosen))
        window.padded.append(max(len(e) for e in chosen) * len(chosen))
    return window


def text_window(questions: Sequence[str], completions: Sequence[str], items: list[int], max_texts: int) -> Window:
    """Batches in input order, for models that score raw text."""
    batches = [items[k:k + max_texts] for k in range(0, len(items), max_texts)]
    return Window(items=items, batches=batches,
                  inputs=[([questions[i] for i in b], [completions[i] for i in b]) for b in batches])


class _Failed:
    def __init__(self, error: BaseException):
        self.error = error


_DONE = object()


class Windows:
    """`with Windows(make, parts, depth) as stream: for window in stream: ...` yields `make(part)`
    for each part, in order. With `depth` >= 1 a daemon thread makes them ahead, at most `depth`
    waiting; an error there is raised here, at the window it concerns. Leaving the block (also by
    an error in the caller's loop) stops the thread and waits for it."""

    def __init__(self, make: Callable[[list[int]], Window], parts: Sequence[list[int]], depth: int = 1):
        self.make, self.parts, self.depth = make, list(parts), max(int(depth), 0)
        self._queue: queue.Queue = queue.Queue(maxsize=max(self.depth, 1))
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> "Windows":
        if self.depth and self.parts:
            self._thread = threading.Thread(target=self._produce, name="rate-scoring-prefetch", daemon=True)
            self._thread.start()
        return self

    def __iter__(self) -> Iterator[Window]:
        if self._thread is None:
            for part in self.parts:
                yield self.make(part)
            return
        while True:
            got = self._queue.get()
            if got is _DONE:
                return
            if isinstance(got, _Failed):
                raise got.error
            yield got

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            while self._thread.is_alive():
                try:  # unblock a producer waiting for room, then let it see the stop flag
                    self._queue.get(timeout=0.05)
                except queue.Empty:
                    pass
            self._thread.join()

    def _produce(self) -> None:
        try:
            for part in self.parts:
                if self._stop.is_set():
                    return
                self._put(self.make(part))
            self._put(_DONE)
        except BaseException as error:  # handed to the consumer, which raises it
            self._put(_Failed(error))

    def _put(self, item) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue
