"""Synthetic movie reviews with hedging as W: a third offline attribute, for `make audit`.

The reviews are synthetic_sentiment's (aspect sentences carrying the sentiment, neutral fillers); a
hedged review (W=1) also holds HEDGED_SENTENCES hedge sentences ("Perhaps that is just me."), an
unhedged one none. Hedging is confounded with sentiment: negative reviews hedge more often
(`p_hedged_given_negative` 0.7 against `p_hedged_given_positive` 0.3), so comparing groups mixes the
two. Every hedge sentence is neutral to VADER and spelled right (tests/test_audit.py checks), so a
reward reads hedging only through the words it adds or through hedging itself.

The oracle counterfactual appends the first unused hedge sentences, or removes every one of them;
the `simulated` rewriter appends hedges of its own choosing and, off target, rewords each filler
between its short and long phrasing with probability `rewriter_reword_prob`.
"""

from __future__ import annotations

import random
import re
from typing import Optional

from dataset_templates import DatasetTemplate
from dataset_templates.synthetic_sentiment import ASPECTS, FILLERS, review_template, set_and_reword, split_sentences
from utils.schema import AT_LEAST_1, UNIT

OPTIONS = {"corpus_size": 5000, "corpus_seed": 1234, "p_hedged_given_positive": 0.3,
           "p_hedged_given_negative": 0.7, "rewriter_reword_prob": 0.3}
CHECKS = {"corpus_size": AT_LEAST_1, "p_hedged_given_positive": UNIT, "p_hedged_given_negative": UNIT,
          "rewriter_reword_prob": UNIT}
HEDGES = ["Perhaps that is just me.", "Maybe others will see it differently.", "It might depend on the viewer.",
          "It probably depends on taste.", "Perhaps I am in the minority here."]
HEDGED_SENTENCES = 2
# The words that mark a hedge, in any wording: the rule also judges an LLM's rewrites by them.
HEDGE_WORDS = {"perhaps", "maybe", "might", "probably", "possibly", "arguably", "seems", "guess", "suppose"}


def classify_text(text: str) -> Optional[bool]:
    """Hedged (True) if any hedge word occurs, unhedged (False) if none does."""
    return bool(set(re.findall(r"[a-z]+", text.lower())) & HEDGE_WORDS)


def set_hedging(text: str, hedged: bool, pick) -> str:
    """`text` with its hedges removed, or with hedges (chosen by `pick` from the unused ones) appended
    up to HEDGED_SENTENCES; the other sentences and their order untouched."""
    sentences = split_sentences(text)
    if not hedged:
        return " ".join(s for s in sentences if s not in HEDGES)
    present = [s for s in sentences if s in HEDGES]
    while len(present) < HEDGED_SENTENCES:
        chosen = pick([h for h in HEDGES if h not in present])
        present.append(chosen)
        sentences.append(chosen)
    return " ".join(sentences)


def oracle_counterfactual(text: str, target_w: bool) -> str:
    return set_hedging(text, target_w, lambda unused: unused[0])


def _generate(options: dict) -> list[dict]:
    rng = random.Random(options["corpus_seed"])
    rows = []
    for index in range(options["corpus_size"]):
        positive = rng.random() < 0.5
        hedged = rng.random() < options["p_hedged_given_positive" if positive else "p_hedged_given_negative"]
        aspects = [pair[0 if positive else 1] for pair in rng.sample(ASPECTS, 1 + rng.randint(0, 2))]
        fillers = [rng.choice(pair) for pair in rng.sample(FILLERS, 2 + rng.randint(0, 3))]
        sentences = aspects + fillers
        rng.shuffle(sentences)
        if hedged:
            sentences += rng.sample(HEDGES, HEDGED_SENTENCES)
        rows.append({"id": f"review-{index}", "text": " ".join(sentences), "hedged": int(hedged),
                     "positive": int(positive)})
    return rows


def build(options: dict) -> DatasetTemplate:
    return review_template("synthetic_hedging", "Offline synthetic movie reviews; W = the review hedges; hedging "
                           "confounded with negative sentiment.", lambda: _generate(options),
                           {"w=1": "hedged, with a little uncertainty about its opinions",
                            "w=0": "confident, with no hedging or uncertainty"}, "hedged", classify_text,
                           oracle_counterfactual, set_and_reword(set_hedging, options["rewriter_reword_prob"]))
