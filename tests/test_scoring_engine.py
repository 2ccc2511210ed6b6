"""The scoring engine on stand-in models made of plain Python: batch planning under a token budget,
order restored, checkpoints written per chunk and resumed."""

from __future__ import annotations

import random

import numpy as np
import pytest

from scoring import engine as scoring_engine
from scoring_templates import Encoded, RewardModel


def test_batches_cover_every_text_once_within_the_budget_longest_first():
    rng = random.Random(0)
    lengths = [rng.randint(1, 600) for _ in range(500)] + [5000]
    batches = scoring_engine.plan_batches(lengths, max_tokens=4096, max_texts=64)
    flat = [i for batch in batches for i in batch]
    assert sorted(flat) == list(range(len(lengths)))
    assert batches[0] == [len(lengths) - 1], "a text over the budget gets a batch of its own, first"
    for batch in batches[1:]:
        assert len(batch) <= 64 and max(lengths[i] for i in batch) * len(batch) <= 4096
    widths = [max(lengths[i] for i in batch) for batch in batches]
    assert widths == sorted(widths, reverse=True)
    sorted_pad = 1 - sum(lengths[:-1]) / scoring_engine.padded_tokens(batches[1:], lengths)
    unsorted = [list(range(k, min(k + 32, 500))) for k in range(0, 500, 32)]
    unsorted_pad = 1 - sum(lengths[:-1]) / scoring_engine.padded_tokens(unsorted, lengths)
    assert sorted_pad < 0.05 < unsorted_pad


class CountingModel:
    """Tokenises into character codes; the reward is a function of the text alone. Records the
    batches it is given, and can be told to fail on its n-th call, as a crash would."""

    def __init__(self, fail_on_call: int | None = None):
        self.calls, self.fail_on_call = [], fail_on_call

    def encode(self, questions, completions):
        return [Encoded(np.frombuffer(t.encode(), dtype=np.uint8).astype(np.int64), None, len(t) > 50) for t in completions]

    def score_encoded(self, batch):
        self.calls.append(len(batch))
        if self.fail_on_call is not None and len(self.calls) == self.fail_on_call:
            raise RuntimeError("injected failure")
        return [float(e.input_ids.sum()) / len(e) + len(e) for e in batch]

    def reward_model(self) -> RewardModel:
        return RewardModel(name="counting", reward_key="counting", score_batch=lambda q, c: [], encode=self.encode,
                           score_encoded=self.score_encoded)


def texts(n=60, seed=1):
    rng = random.Random(seed)
    return ["".join(rng.choice("abcdefgh ") for _ in range(rng.randint(1, 80))) for _ in range(n)]


def expected(completions):
    return [sum(t.encode()) / len(t.encode()) + len(t.encode()) for t in completions]


def test_rewards_come_back_in_input_order_with_counts(capsys):
    completions = texts()
    stub = CountingModel()
    rewards, stats = scoring_engine.score_texts(stub.reward_model(), [""] * len(completions), completions,
                                                max_tokens=200, max_texts=8)
    assert rewards == pytest.approx(expected(completions))
    assert stats.scored == stats.texts == 60 and stats.resumed == 0 and sum(stub.calls) == 60
    assert stats.truncated == sum(len(t) > 50 for t in completions)
    assert stats.tokens == sum(len(t) for t in completions) and stats.padded >= stats.tokens
    summary = stats.summary()
    assert {"tokens_per_s", "texts_per_s", "padding_fraction", "truncated"} <= set(summary)
    assert "tok/s" in capsys.readouterr().err, "the progress bar shows tokens per second"


def test_a_model_without_a_tokenizer_is_batched_in_input_order():
    seen = []

    def score_batch(questions, completions):
        seen.append(list(completions))
        return [float(len(t)) for t in completions]

    model = RewardModel(name="plain", reward_key="plain", score_batch=score_batch)
    completions = texts(20)
    rewards, stats = scoring_engine.score_texts(model, [""] * 20, completions, max_tokens=1, max_texts=6)
    assert rewards == [float(len(t)) for t in completions]
    assert [len(b) for b in seen] == [6, 6, 6, 2] and sum(seen, []) == completions
    assert "tokens" not in stats.summary()


def test_a_crash_keeps_finished_chunks_and_a_rerun_scores_only_the_rest(tmp_path):
    completions = texts(60)
    checkpoint = scoring_engine.Checkpoint(tmp_path / "ck.jsonl")
    failing = CountingModel(fail_on_call=6)
    with pytest.raises(RuntimeError, match="injected"):
        scoring_engine.score_texts(failing.reward_model(), [""] * 60, completions, max_tokens=10**6, max_texts=4,
                                   checkpoint=checkpoint, chunk_texts=8)
    saved = checkpoint.load()
    assert len(saved) == 16, "two chunks of 8 texts finished before the sixth batch failed"
    with open(checkpoint.path, "a") as handle:
        handle.write('{"i": 3')  # a line cut short by the crash
    again = CountingModel()
    rewards, stats = scoring_engine.score_texts(again.reward_model(), [""] * 60, completions, max_tokens=10**6,
                                                max_texts=4, checkpoint=checkpoint, chunk_texts=8)
    assert stats.resumed == 16 and stats.scored == 44 and sum(again.calls) == 44
    assert rewards == pytest.approx(expected(completions))
    assert len(checkpoint.load()) == 60, "rows written after a cut line are read back"


def test_each_chunk_is_sorted_on_its_own_and_pads_little_on_long_tailed_lengths():
    rng = np.random.default_rng(0)
    lengths = np.clip(np.round(rng.lognormal(np.log(200), 0.8, 600)), 51, 1493).astype(int)
    completions = ["a" * int(n) for n in lengths]
    stub = CountingModel()
    seen = []
    model = stub.reward_model()
    model = RewardModel(name="counting", reward_key="counting", score_batch=model.score_batch, encode=model.encode,
                        score_encoded=lambda batch: seen.append([len(e) for e in batch]) or stub.score_encoded(batch))
    rewards, stats = scoring_engine.score_texts(model, [""] * 600, completions, max_tokens=4096, max_texts=64,
                                                chunk_texts=256)
    assert rewards == pytest.approx(expected(completions))
    assert sum(len(b) for b in seen) == 600 and 1 - stats.tokens / stats.padded < 0.1  # 8 % in chunks of 256
    fixed = sum(max(lengths[k:k + 32]) * len(lengths[k:k + 32]) for k in range(0, 600, 32))
    assert 1 - stats.tokens / fixed > 0.6, "unsorted batches of 32 waste most of what they feed"
    widths, chunk_starts, count = [max(b) for b in seen], [0], 0
    for k, batch in enumerate(seen):  # a new chunk starts after every 256 texts
        count += len(batch)
        if count in (256, 512):
            chunk_starts.append(k + 1)
    for start, end in zip(chunk_starts, chunk_starts[1:] + [len(seen)]):
        assert widths[start:end] == sorted(widths[start:end], reverse=True), "longest first within each chunk"
