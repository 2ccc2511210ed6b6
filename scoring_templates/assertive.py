"""`assertive`: an offline reward that dislikes hedging, and nothing else. Instant, no download.

    R(question, response) = -hedge_penalty * (number of hedge words) + text_noise * z(response)

Hedge words are synthetic_hedging's (perhaps, maybe, might, probably...). It is a stand-in for a
reward model that prefers confident answers, with a sensitivity known in advance: negative for
hedging, none for sentiment or length (its only other term is the fixed response to wording,
`text_noise`, which the neutral rewrites move in both directions alike). With vader (sentiment, and
length through its length term) and length (words), it gives `make audit` three offline models whose
answers differ by design.
"""

from __future__ import annotations

import re

from dataset_templates.synthetic_hedging import HEDGE_WORDS
from scoring_templates import RewardModel, wording_noise
from utils.schema import AT_LEAST_0

# Scores on the CPU in seconds: SLURM scoring jobs ask for no GPU (GPUS=auto).
NEEDS_GPU = False
OPTIONS = {"hedge_penalty": 0.5, "text_noise": 0.05}
CHECKS = {"hedge_penalty": AT_LEAST_0, "text_noise": AT_LEAST_0}
WORD = re.compile(r"[a-z]+")


def build(options: dict) -> RewardModel:
    penalty, noise = options["hedge_penalty"], options["text_noise"]

    def reward(text: str) -> float:
        hedges = sum(word in HEDGE_WORDS for word in WORD.findall(text.lower()))
        return -penalty * hedges + (wording_noise(text, noise) if noise else 0.0)

    return RewardModel(
        name="assertive",
        reward_key="assertive",
        score_batch=lambda questions, completions: [reward(text) for text in completions],
        description=f"-{penalty:g} per hedge word (perhaps, maybe, might...) + {noise:g} * wording noise (offline)",
    )
