"""How much a rewriter changed besides W, per example: length ratios and word-level similarity.

  length ratio rewrite/original             characters of the rewrite / of the original
  length ratio rewritten rewrite/original   the same for the rewrite of the rewrite (a round trip)
  similarity original/rewritten rewrite     word-level Indel similarity: 2 x the longest common
  similarity rewrite/rewritten rewrite      subsequence of words / (words of one + words of the other)

Words are lower-cased and stripped of punctuation (rewriters/_failures.words). A faithful round trip
has a length ratio near 1 and a similarity near 1 between the original and its rewritten rewrite;
RATE compares the rewrite with the rewritten rewrite, so their similarity says how much besides W
separates the two texts it relies on.
"""

from __future__ import annotations

import statistics
from typing import Optional

from rapidfuzz.distance import Indel

from rewriters._failures import words

MEASURES = ("length ratio rewrite/original", "length ratio rewritten rewrite/original",
            "similarity original/rewritten rewrite", "similarity rewrite/rewritten rewrite")


def similarity(a: str, b: str) -> float:
    return float(Indel.normalized_similarity(words(a), words(b)))


def changes(original: str, rewrite: Optional[str], back: Optional[str]) -> dict:
    """The measures the texts allow (a failed rewrite has none)."""
    out = {}
    length = max(1, len(original))
    if rewrite is not None:
        out[MEASURES[0]] = round(len(rewrite) / length, 4)
    if back is not None:
        out[MEASURES[1]] = round(len(back) / length, 4)
        out[MEASURES[2]] = round(similarity(original, back), 4)
        if rewrite is not None:
            out[MEASURES[3]] = round(similarity(rewrite, back), 4)
    return out


def summary(records: list[dict]) -> dict:
    """Median and mean of each measure over the records that have it, for sidecars and reports."""
    out = {}
    for measure in MEASURES:
        values = [r["changes"][measure] for r in records if measure in (r.get("changes") or {})]
        if values:
            out[measure] = {"median": round(statistics.median(values), 4), "mean": round(statistics.fmean(values), 4),
                            "n": len(values)}
    return out
