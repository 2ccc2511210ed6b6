"""Scoring templates: one module per reward model, found by its file name (`scoring.model`).

A scoring module declares `OPTIONS` (its settings under `scoring.model_options`) and
`build(options) -> RewardModel`. Building is cheap and loads nothing heavy at import; everything
model-specific (input format, which output is the reward) lives in the module.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class RewardModel:
    """`score_batch(questions, completions)` returns one reward per pair. `reward_key` names the dict
    that holds this model's rewards in each record (the original RATE code used the model's path)."""

    name: str
    reward_key: str
    score_batch: Callable[[list[str], list[str]], list[float]]
    description: str = ""
