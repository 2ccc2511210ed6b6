"""`length`: a reward that is the response's length in words, and nothing else. Offline, instant.

It is not a reward model anyone trains; it is a control. For an attribute that is not length
(sentiment, in the demo), a rewriter that changes only W leaves it unchanged, so RATE's estimate on
it should be 0: `effects.placebo_reward_key: length` analyses it as the placebo check (docs/effects.md,
"The placebo check"). `per_words` scales it (the default counts hundreds of words, so that the
reward is of the order of the demo's VADER reward).
"""

from __future__ import annotations

import re

from scoring_templates import RewardModel
from utils.schema import Range

# Scores on the CPU in seconds: SLURM scoring jobs ask for no GPU (GPUS=auto).
NEEDS_GPU = False
OPTIONS = {"per_words": 100.0}
CHECKS = {"per_words": Range(0, low_open=True)}

WORD = re.compile(r"\S+")


def build(options: dict) -> RewardModel:
    scale = float(options["per_words"])
    return RewardModel(
        name="length",
        reward_key="length",
        score_batch=lambda questions, completions: [len(WORD.findall(text)) / scale for text in completions],
        description=f"words of the response / {scale:g} (a placebo for attributes other than length)",
    )
