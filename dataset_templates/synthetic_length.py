"""Synthetic movie reviews with length as W, and sentiment correlated with it by downsampling: the
offline version of the RATE paper's correlation experiment (make experiments).

Each review has 1-3 aspect sentences, all positive or all negative (synthetic_sentiment's phrase
banks), and neutral filler sentences: 2 in a short review (W=0), 6 in a long one (W=1). The corpus
draws sentiment and length independently; `correlation_level` i (0-10) then keeps every positive
long and negative short review and only a share (1 - a)/a of the positive short and negative long
ones, a = 0.5 + 0.05 i, so that P(long | positive) = a and P(long | negative) = 1 - a, as in the paper.
A reward that reads sentiment and not length (VADER with its length and spelling terms off) has a
true effect of length of exactly 0, and the naive comparison rises with the correlation.

The oracle counterfactual adds filler sentences (the first unused ones) up to 6, or keeps the first
2. The `simulated` rewriter does the same with fillers of its own choosing and, off target, rewords
each filler between its short and long phrasing with probability `rewriter_reword_prob`.
"""

from __future__ import annotations

import random
from typing import Optional

from dataset_templates import DatasetTemplate
from dataset_templates.synthetic_sentiment import (ASPECT_SIDE, ASPECTS, FILLER_SIDE, FILLERS, review_template,
                                                   set_and_reword, split_sentences)
from utils.schema import AT_LEAST_1, UNIT, Range

OPTIONS = {"corpus_size": 20000, "corpus_seed": 1234, "correlation_level": 0, "rewriter_reword_prob": 0.3}
CHECKS = {"corpus_size": AT_LEAST_1, "correlation_level": Range(0, 10), "rewriter_reword_prob": UNIT}
SHORT, LONG = 2, 6


def classify_text(text: str) -> Optional[bool]:
    """Long (True) with 6 or more sentences besides the aspect sentences, short (False) with 3 or fewer."""
    fillers = sum(sentence not in ASPECT_SIDE for sentence in split_sentences(text))
    return True if fillers >= LONG else (False if fillers <= SHORT + 1 else None)


def set_length(text: str, long: bool, pick) -> str:
    """`text` with fillers added up to LONG (each chosen by `pick` from the unused ones) or cut to its
    first SHORT; the aspect sentences and their order untouched."""
    sentences = split_sentences(text)
    fillers = [s for s in sentences if s not in ASPECT_SIDE]
    if long:
        used = {FILLER_SIDE[s][0] for s in fillers if s in FILLER_SIDE}
        while len(fillers) < LONG:
            index = pick(sorted(set(range(len(FILLERS))) - used))
            used.add(index)
            fillers.append(FILLERS[index][0])
            sentences.append(FILLERS[index][0])
        return " ".join(sentences)
    keep = set(fillers[:SHORT])
    return " ".join(s for s in sentences if s in ASPECT_SIDE or s in keep)


def oracle_counterfactual(text: str, target_w: bool) -> str:
    return set_length(text, target_w, lambda unused: unused[0])


def _generate(options: dict) -> list[dict]:
    rng = random.Random(options["corpus_seed"])
    share = 0.5 + 0.05 * options["correlation_level"]
    rows = []
    for index in range(options["corpus_size"]):
        positive, long = rng.random() < 0.5, rng.random() < 0.5
        # drawn for every review, kept or not, so that a level's sample is a subset of the corpus
        kept = rng.random() < (1.0 if long == positive else (1 - share) / share)
        aspects = [pair[0 if positive else 1] for pair in rng.sample(ASPECTS, 1 + rng.randint(0, 2))]
        fillers = [rng.choice(pair) for pair in rng.sample(FILLERS, LONG if long else SHORT)]
        sentences = aspects + fillers
        rng.shuffle(sentences)
        if kept:
            rows.append({"id": f"review-{index}", "text": " ".join(sentences), "long": int(long),
                         "positive": int(positive)})
    return rows


def build(options: dict) -> DatasetTemplate:
    return review_template("synthetic_length", f"Offline synthetic movie reviews; W = long; sentiment correlated with "
                           f"it at level {options['correlation_level']} of 10.", lambda: _generate(options),
                           {"w=1": "longer", "w=0": "shorter"}, "long", classify_text, oracle_counterfactual,
                           set_and_reword(set_length, options["rewriter_reword_prob"]))
