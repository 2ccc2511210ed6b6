"""`vader`: an offline reward model for the demo, needing no download and no GPU.

    R(question, response) = VADER compound(response)
                            + length_weight * (number of words)
                            - typo_penalty  * (number of misspelled words)

The compound score (vaderSentiment's lexicon, in [-1, 1]) makes the reward care about sentiment; the
two documented extra terms make it also care, like real reward models, about length and spelling.
Misspelled means unknown to pyspellchecker's English dictionary. The question is not used. Set both
weights to 0 for plain VADER. `text_noise` (default 0) adds text_noise * z(text), z a standard normal
drawn from a hash of the text: a fixed, idiosyncratic response to wording, as real reward models have,
so that two texts that differ only in neutral words get slightly different rewards (make experiments).
"""

from __future__ import annotations

import re

from scoring_templates import RewardModel, wording_noise
from utils.schema import AT_LEAST_0

# Scores on the CPU in seconds: SLURM scoring jobs ask for no GPU (GPUS=auto).
NEEDS_GPU = False
OPTIONS = {
    "length_weight": 0.01,
    "typo_penalty": 0.25,
    "text_noise": 0.0,
}
CHECKS = {"text_noise": AT_LEAST_0}

WORD = re.compile(r"[A-Za-z']+")


def build(options: dict) -> RewardModel:
    from spellchecker import SpellChecker
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    analyzer = SentimentIntensityAnalyzer()
    dictionary = SpellChecker()
    length_weight, typo_penalty, text_noise = options["length_weight"], options["typo_penalty"], options["text_noise"]

    def reward(text: str) -> float:
        words = WORD.findall(text)
        unknown = dictionary.unknown(words)
        misspelled = sum(word.lower() in unknown for word in words)
        value = analyzer.polarity_scores(text)["compound"] + length_weight * len(words) - typo_penalty * misspelled
        return value + wording_noise(text, text_noise) if text_noise else value

    return RewardModel(
        name="vader",
        reward_key="vader",
        score_batch=lambda questions, completions: [reward(text) for text in completions],
        description="VADER compound + length_weight*words - typo_penalty*misspelled (offline)",
    )
