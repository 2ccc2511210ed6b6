"""The engine's device path, checked on the CPU: chunks tokenised in a background thread while the
model scores (the same batches in the same order as the serial path, and really overlapping),
padded tensors built without a Python loop over rows (the same ids and masks as the loop), rewards
copied to the host once per chunk rather than once per batch, the non-blocking copy asked for on a
GPU, and the automatic token budget against figures worked out by hand."""

from __future__ import annotations

import collections
import os
import random
import subprocess
import sys
import threading
import time
import traceback

import numpy as np
import pytest

from scoring import budget, engine, prefetch
from scoring.collate import pad_batch
from scoring_templates import Encoded, RewardModel


def texts(n=40, seed=3):
    rng = random.Random(seed)
    return ["".join(rng.choice("abcdefgh ") for _ in range(rng.randint(1, 60))) for _ in range(n)]


def char_encode(questions, completions):
    return [Encoded(np.frombuffer(t.encode(), dtype=np.uint8).astype(np.int32), None, len(t) > 50) for t in completions]


class Recorder:
    """A tokenising model whose encode and forward pass can be slow (sleeping, as a tokenizer in Rust
    or a GPU leaves the GIL free) and which logs when each starts and ends, and in which thread."""

    def __init__(self, encode_s=0.0, forward_s=0.0):
        self.encode_s, self.forward_s, self.events, self.batches = encode_s, forward_s, [], []

    def encode(self, questions, completions):
        self.events.append(("encode-start", time.perf_counter(), threading.current_thread().name))
        time.sleep(self.encode_s)
        out = char_encode(questions, completions)
        self.events.append(("encode-end", time.perf_counter(), threading.current_thread().name))
        return out

    def score_encoded(self, batch):
        self.events.append(("forward-start", time.perf_counter(), None))
        self.batches.append([bytes(e.input_ids.astype(np.uint8)).decode() for e in batch])
        time.sleep(self.forward_s)
        self.events.append(("forward-end", time.perf_counter(), None))
        return [float(e.input_ids.sum()) / len(e) for e in batch]

    def model(self) -> RewardModel:
        return RewardModel(name="recorder", reward_key="recorder", score_batch=lambda q, c: [], encode=self.encode,
                           score_encoded=self.score_encoded)


@pytest.mark.parametrize("depth", [1, 3])
def test_prefetched_chunks_give_the_serial_batches_in_the_same_order(depth):
    completions = texts(97)
    serial, ahead = Recorder(), Recorder()
    kwargs = dict(max_tokens=120, max_texts=5, chunk_texts=16)
    rewards_serial, stats_serial = engine.score_texts(serial.model(), [""] * 97, completions, prefetch_windows=0,
                                                      **kwargs)
    rewards_ahead, stats_ahead = engine.score_texts(ahead.model(), [""] * 97, completions, prefetch_windows=depth,
                                                    **kwargs)
    assert ahead.batches == serial.batches and len(serial.batches) == stats_serial.batches > 97 // 5
    assert rewards_ahead == rewards_serial
    assert (stats_ahead.tokens, stats_ahead.padded, stats_ahead.truncated) == (
        stats_serial.tokens, stats_serial.padded, stats_serial.truncated)
    assert {e[2] for e in serial.events if e[0] == "encode-start"} == {threading.current_thread().name}
    assert {e[2] for e in ahead.events if e[0] == "encode-start"} == {"rate-scoring-prefetch"}


def first_overlap(events) -> bool:
    """Whether the second chunk's tokenising started before the first chunk's last forward ended."""
    encode_starts = [t for name, t, _ in events if name == "encode-start"]
    forward_ends = [t for name, t, _ in events if name == "forward-end"]
    return encode_starts[1] < forward_ends[1]  # chunks of 8 texts in batches of 4: two per chunk


@pytest.mark.slow
@pytest.mark.parametrize("depth, overlaps", [(1, True), (0, False)])
def test_the_next_chunk_is_tokenised_while_the_model_scores_this_one(depth, overlaps):
    slow = Recorder(encode_s=0.08, forward_s=0.04)
    started = time.perf_counter()
    engine.score_texts(slow.model(), [""] * 32, texts(32), max_tokens=10**6, max_texts=4, chunk_texts=8,
                       prefetch_windows=depth)
    elapsed = time.perf_counter() - started
    assert first_overlap(slow.events) is overlaps
    serial_sum = 4 * 0.08 + 8 * 0.04  # four chunks tokenised, eight batches scored
    if overlaps:  # everything but the first chunk's tokenising hides behind the forward passes
        assert elapsed < serial_sum - 0.1
    else:
        assert elapsed >= serial_sum


def test_an_error_while_tokenising_ahead_surfaces_at_its_chunk_and_the_thread_stops():
    calls = []

    def encode(questions, completions):
        calls.append(len(completions))
        if len(calls) == 3:
            raise ValueError("bad text")
        return char_encode(questions, completions)

    scored = []
    model = RewardModel(name="m", reward_key="m", score_batch=lambda q, c: [], encode=encode,
                        score_encoded=lambda batch: scored.extend(batch) or [0.0] * len(batch))
    with pytest.raises(ValueError, match="bad text"):
        engine.score_texts(model, [""] * 40, texts(40), max_tokens=10**6, max_texts=4, chunk_texts=8)
    assert len(scored) == 16, "the two chunks tokenised before the failure were scored"
    assert not any(t.name == "rate-scoring-prefetch" for t in threading.enumerate())


def row_by_row(batch, pad_id, side, pad_type_id, type_ids):
    """The loop that collate.pad_batch replaced (scoring_templates/_hf.py before issue 17)."""
    width = max(len(e) for e in batch)
    ids = np.full((len(batch), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(batch), width), dtype=np.int64)
    types = np.full((len(batch), width), pad_type_id, dtype=np.int64) if type_ids else None
    for row, item in enumerate(batch):
        span = slice(0, len(item)) if side == "right" else slice(width - len(item), width)
        ids[row, span] = item.input_ids
        mask[row, span] = 1
        if types is not None and item.token_type_ids is not None:
            types[row, span] = item.token_type_ids
    return ids, mask, types


@pytest.mark.parametrize("side", ["right", "left"])
def test_padded_tensors_are_the_row_by_row_loops(side):
    rng = np.random.default_rng(0)
    batch = []
    for k in range(23):
        n = int(rng.integers(1, 40))
        types = None if k % 5 == 0 else rng.integers(0, 2, n).astype(np.int8)
        batch.append(Encoded(rng.integers(5, 400, n).astype(np.int32), types))
    ids, mask, types = row_by_row(batch, 3, side, 1, True)
    got = pad_batch(batch, 3, side, mask=True, type_ids=True, pad_type_id=1)
    assert np.array_equal(got["input_ids"].numpy(), ids) and np.array_equal(got["attention_mask"].numpy(), mask)
    assert np.array_equal(got["token_type_ids"].numpy(), types)
    assert set(pad_batch(batch, 3, side, mask=False)) == {"input_ids"}
    assert str(got["input_ids"].dtype) == "torch.int64"


GIB = 2 ** 30


@pytest.mark.parametrize("memory_gib, expected", [
    # 8B parameters in bf16: weights 16e9 bytes; per token 2 * (2 * (6*4096 + 3*14336) + 8*4096) = 335,872 B.
    # 80 GiB: 0.9 * 80 GiB - 16e9 - 1 GiB = 60,235,669,504 B free -> 179,340 tokens -> capped at 65,536,
    #         texts 65,536 / 32 = 2,048.
    (80, (65536, 2048)),
    # 24 GiB: int(0.9 * 24 GiB) - 16e9 - 1 GiB = 6,119,081,574 B -> 18,218 tokens -> 17,408 (a multiple of
    #         1,024), texts 17,408 / 32 = 544.
    (24, (17408, 544)),
    # 16 GiB: the weights alone leave nothing -> the floor, 1,024 tokens and 64 texts.
    (16, (1024, 64)),
])
def test_budget_of_an_8b_model_by_device_memory(memory_gib, expected):
    got = budget.derive(8_000_000_000, 4096, 32, memory_gib * GIB, 2, intermediate=14336)
    assert (got.tokens, got.texts) == expected and got.per_token_bytes == 335_872


def test_budget_of_small_models_and_of_a_key_value_cache():
    # DistilBERT-sized in fp32 on 16 GiB: per token 2 * (4 * (6*768 + 3*3072) + 8*768) = 122,880 B;
    # free int(0.9 * 16 GiB) - 4 * 66e6 - 1 GiB = 14,124,140,441 B -> 114,942 tokens -> capped at 65,536.
    small = budget.derive(66_000_000, 768, 6, 16 * GIB, 4, intermediate=3072)
    assert (small.tokens, small.texts, small.per_token_bytes) == (65536, 2048, 122_880)
    # No intermediate size: 4 x hidden. 1.5e9 in bf16 (hidden 2048) on 12 GiB: per token
    # 2 * (2 * (6*2048 + 3*8192) + 8*2048) = 180,224 B; free int(0.9 * 12 GiB) - 3e9 - 1 GiB = 7,522,669,875 B
    # -> 41,741 tokens -> 40,960; texts 1,280.
    mid = budget.derive(1_500_000_000, 2048, 28, 12 * GIB, 2)
    assert (mid.tokens, mid.texts, mid.per_token_bytes) == (40960, 1280, 180_224)
    # a kept key/value cache adds 2 * layers * kv_dim * bytes per token (x2): 2 * 2 * 32 * 1024 * 2 = 262,144 B;
    # the 8B model on 24 GiB then gets 6,119,081,574 / 598,016 = 10,232 tokens -> 9,216
    cached = budget.derive(8_000_000_000, 4096, 32, 24 * GIB, 2, intermediate=14336, kv_dim=1024, cache=True)
    assert cached.per_token_bytes == 335_872 + 262_144 and cached.tokens == 9216


class FakeScorer:
    """A template scorer on torch tensors (CPU): collate pads, forward sums the ids."""

    def __init__(self, device="cuda:0"):
        self.device = device

    def collate(self, batch):
        return pad_batch(batch, 0, "right", mask=False)

    def forward(self, inputs):
        import torch

        ids = inputs["input_ids"]
        return ids.to(torch.float32).sum(dim=1) / (ids != 0).sum(dim=1)

    def score_encoded(self, batch):
        return self.forward(self.collate(batch)).tolist()

    def shape(self):
        return {"params": 8_000_000_000, "hidden": 4096, "layers": 32, "intermediate": 14336, "dtype_bytes": 2}

    def device_memory(self):
        return 24 * GIB


def test_engine_settings_derive_on_a_gpu_and_keep_what_the_config_sets():
    scorer = FakeScorer()
    gpu = RewardModel(name="m", reward_key="m", score_batch=None, encode=char_encode,
                      score_encoded=scorer.score_encoded, info={"device": "cuda:0"}, scorer=scorer)
    assert budget.engine_settings(gpu, None, 64, texts_set=False) == (17408, 544)
    assert budget.engine_settings(gpu, None, 16, texts_set=True) == (17408, 16)
    assert budget.engine_settings(gpu, 4096, 64, texts_set=False) == (4096, 64)
    cpu = RewardModel(name="m", reward_key="m", score_batch=None, info={"device": "cpu"}, scorer=scorer)
    assert budget.engine_settings(cpu, None, 64, texts_set=False) == (2048, 64)


SYNCS = {"item", "tolist", "cpu", "numpy", "__bool__", "__float__", "__int__", "__index__", "nonzero", "equal"}


def sync_counter():
    """A torch function mode counting the calls that make the host wait for the device, by the
    library they come from ('rate' for this project's code)."""
    from torch.overrides import TorchFunctionMode

    class Count(TorchFunctionMode):
        def __init__(self):
            super().__init__()
            self.seen = collections.Counter()

        def __torch_function__(self, func, types, args=(), kwargs=None):
            name = getattr(func, "__name__", "")
            if name in SYNCS:
                caller = traceback.extract_stack(limit=2)[0].filename
                self.seen[(name, "transformers" if "/transformers/" in caller else "rate")] += 1
            return func(*args, **(kwargs or {}))

    return Count()


def test_rewards_come_to_the_host_once_per_chunk_not_once_per_batch():
    pytest.importorskip("torch")
    scorer = FakeScorer(device="cpu")
    model = RewardModel(name="fake", reward_key="fake", score_batch=lambda q, c: [], encode=char_encode,
                        score_encoded=scorer.score_encoded, scorer=scorer)
    completions = texts(60)
    with sync_counter() as counter:
        rewards, stats = engine.score_texts(model, [""] * 60, completions, max_tokens=10**6, max_texts=4,
                                            chunk_texts=20)
    assert stats.batches == 15
    assert counter.seen == {("cpu", "rate"): 3, ("tolist", "rate"): 3}, "one copy per chunk of 20 texts"
    assert rewards == pytest.approx([sum(t.encode()) / len(t) for t in completions])
    # a score_encoded wrapped after the build (as tests inject faults) is called, batch by batch
    wrapped = []
    replaced = RewardModel(name="fake", reward_key="fake", score_batch=lambda q, c: [], encode=char_encode,
                           score_encoded=lambda b: wrapped.append(len(b)) or scorer.score_encoded(b), scorer=scorer)
    assert engine.score_texts(replaced, [""] * 60, completions, max_tokens=10**6, max_texts=3)[0] == rewards
    assert sum(wrapped) == 60


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory):
    import scoring_tiny_models as tiny
    from scoring_templates import sfairxc

    path = tiny.llama_rm(tmp_path_factory.mktemp("gpu_path") / "llama")
    return sfairxc.build({**sfairxc.OPTIONS, "device": "cpu", "path": str(path)})


def test_the_hf_template_path_copies_rewards_once_per_chunk_and_scores_as_before(tiny_llama):
    model = tiny_llama
    completions = texts(48, seed=5)
    with sync_counter() as counter:
        rewards, stats = engine.score_texts(model, ["Q"] * 48, completions, max_tokens=160, max_texts=4,
                                            chunk_texts=16)
    ours = {name: n for (name, where), n in counter.seen.items() if where == "rate"}
    assert stats.batches > 12 and ours == {"cpu": 3, "tolist": 3}
    # transformers' causal-mask code checks once per forward whether the batch is packed; that check
    # is not ours and costs one scalar, not a copy of the rewards
    assert sum(n for (_, where), n in counter.seen.items() if where == "transformers") <= stats.batches
    one_by_one = [model.score_encoded(model.encode(["Q"], [t]))[0] for t in completions]
    assert rewards == pytest.approx(one_by_one, abs=1e-4)
    assert model.scorer.shape()["layers"] == 2 and model.scorer.device_memory() is None


def test_on_a_gpu_inputs_are_pinned_and_copied_without_blocking(tiny_llama, monkeypatch):
    import scoring.collate as collate

    scorer = tiny_llama.scorer
    asked = {}

    def host(shape, fill, pin):  # torch without CUDA cannot pin: record the request instead
        asked["pin"] = pin
        return _plain_host(shape, fill)

    monkeypatch.setattr(collate, "_host", host)
    monkeypatch.setattr(scorer, "device", "cuda:0")
    inputs = scorer.collate(tiny_llama.encode(["Q"], ["some text"]))
    assert asked["pin"] is True

    copies = []

    class Spy:
        def __init__(self, tensor):
            self.tensor, self.shape = tensor, tensor.shape

        def to(self, device, non_blocking=False):
            copies.append((device, non_blocking))
            return self.tensor

    monkeypatch.setattr(scorer, "model", lambda **kw: type("Out", (), {"logits": kw["input_ids"][:, :1] * 1.0})())
    scorer.forward({k: Spy(v) for k, v in inputs.items()})
    assert copies and all(c == ("cuda:0", True) for c in copies)


def _plain_host(shape, fill):
    import torch

    tensor = torch.full(shape, fill, dtype=torch.int64)
    return tensor, tensor.numpy()


def test_windows_stop_their_thread_when_the_consumer_leaves_early():
    made = []

    def make(part):
        made.append(part)
        return prefetch.Window(items=part, batches=[part], inputs=[None])

    with prefetch.Windows(make, [[k] for k in range(100)], depth=2) as windows:
        for window in windows:
            if window.items == [3]:
                break
    assert len(made) <= 3 + 2 + 1 + 1
    assert not any(t.name == "rate-scoring-prefetch" for t in threading.enumerate())


@pytest.mark.slow
def test_the_gpu_benchmark_runs_its_smoke_mode_on_the_cpu():
    from pathlib import Path

    script = Path(__file__).resolve().parent.parent / "bench" / "gpu_scoring.sh"
    done = subprocess.run(["bash", str(script), "--cpu-smoke"], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHON": sys.executable})
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [line.split("|")[1].strip() for line in done.stdout.splitlines() if line.startswith("| ")]
    assert rows == ["way", "engine", "engine-serial", "per-text", "pipeline-32"]
    assert "engine vs pipeline:" in done.stdout and "MFU n/a" in done.stdout
