"""Scoring templates: one module per reward model, found by its file name (`scoring.model`).

A scoring module declares `OPTIONS` (its settings under `scoring.model_options`) and
`build(options) -> RewardModel`. Importing a module loads nothing heavy; `build` loads the model.
Everything model-specific (input format, padding side, which output is the reward) lives in the
module; Hugging Face templates describe their model with `_hf.HFSpec` and share `_hf.build_hf`.
A template that scores through a server declares `SERVER`, the kind of server it talks to
("reward": a reward model served over HTTP; "chat": an OpenAI-compatible chat endpoint), so that
the conformance test (tests/test_scoring_templates.py) can start a stand-in of that kind for it.

The config value `hf:<local path or hub id>` is the `hf` template with `path` set to what follows
the colon (see `resolve`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

GENERIC_PREFIX = "hf:"


@dataclass(frozen=True)
class Encoded:
    """One tokenised (question, completion) pair, ready to be padded into a batch."""

    input_ids: Any  # 1-d numpy int array
    token_type_ids: Any = None  # 1-d numpy int array, for models that take segment ids
    truncated: bool = False

    def __len__(self) -> int:
        return len(self.input_ids)


@dataclass(frozen=True)
class RewardModel:
    """`score_batch(questions, completions)` returns one reward per pair. `reward_key` names the dict
    that holds this model's rewards in each record (the original RATE code used the model's path).

    Tokenising models also give `encode(questions, completions) -> [Encoded]` and
    `score_encoded([Encoded]) -> [float]` (one padded forward pass); the scoring engine then
    tokenises once, sorts by length and batches under a token budget. `close()` frees the model
    (GPU memory) before the next model of a run is loaded. `texts_per_call`, for a model that scores
    raw text, is how many texts one `score_batch` call should get (a served model sends them as
    several requests at once); the engine honours it unless `scoring.batch_size` is set.

    A model whose texts can fail (a served model: an unparsable answer, a request that failed) gives
    `score_with_failures(questions, completions) -> (rewards, {index: reason})`, NaN at each failed
    index and the reason as "<kind>: <detail>"; the engine then records the failures instead of
    rewards. `estimate(questions, completions) -> {requests, to_send, cached, input_tokens,
    output_tokens, cost_usd, ...}` says what scoring would send and cost (`scoring.dry_run`), and
    `summary() -> dict` what it sent (requests, tokens, cost), for the sidecar."""

    name: str
    reward_key: str
    score_batch: Callable[[Sequence[str], Sequence[str]], list[float]]
    description: str = ""
    encode: Callable[[Sequence[str], Sequence[str]], list[Encoded]] | None = None
    score_encoded: Callable[[Sequence[Encoded]], list[float]] | None = None
    max_length: int | None = None
    info: dict | None = None  # device, dtype, attention, padding side: recorded in the sidecar
    close: Callable[[], None] | None = None
    # The engine's fast path (scoring/engine.py): an object with `collate([Encoded]) -> inputs`,
    # `forward(inputs) -> rewards left on the device` and `score_encoded`; optional.
    scorer: Any = None
    texts_per_call: int | None = None
    score_with_failures: Callable[[Sequence[str], Sequence[str]], tuple[list[float], dict[int, str]]] | None = None
    estimate: Callable[[Sequence[str], Sequence[str]], dict] | None = None
    summary: Callable[[], dict] | None = None


def wording_noise(text: str, sd: float) -> float:
    """sd * z(text), z a standard normal drawn from a hash of the text: an offline reward's fixed,
    idiosyncratic response to wording, as real reward models have (`text_noise` of vader, assertive)."""
    import hashlib
    from statistics import NormalDist

    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return sd * NormalDist().inv_cdf((int.from_bytes(digest[:8], "big") + 0.5) / 2 ** 64)


def resolve(value: str) -> tuple[str, dict]:
    """A `scoring.model` value -> (template file name, options it implies). `hf:<path>` is the
    generic `hf` template with `path` set; any other value is a template file name."""
    if value.startswith(GENERIC_PREFIX):
        return "hf", {"path": value[len(GENERIC_PREFIX):]}
    return value, {}
