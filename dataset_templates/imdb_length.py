"""IMDB reviews, W = longer than `threshold_chars` characters (970 in the paper, about the median).
The same threshold judges whether a rewrite really changed the length class.

`correlation_level` i (0-10, default null: every review) is the paper's correlation experiment
(configs/experiments/online/): every positive long and negative short review is kept, and each other
one with probability (1 - a)/a, a = 0.5 + 0.05 i, drawn from (`correlation_seed`, its id), so that
P(long | positive) rises with i while sentiment, which the paper's DistilBERT reward reads, stays what
it was. Starting from IMDB's own shares, the level sets the correlation on top of theirs."""

from __future__ import annotations

import random

from dataset_templates import DatasetTemplate, _imdb, _sources
from utils.schema import AT_LEAST_1, Range

OPTIONS = {**_imdb.OPTIONS, "threshold_chars": 970, "correlation_level": None, "correlation_seed": 0}
CHECKS = {"threshold_chars": AT_LEAST_1, "correlation_level": Range(0, 10)}
FIXTURE = dict(_imdb.FIXTURE)


def downsampled(rows: list[dict], level, seed: int, is_long) -> list[dict]:
    """The rows the correlation level keeps (module docstring); all of them when level is None."""
    if level is None:
        return rows
    share = 0.5 + 0.05 * level
    kept = []
    for row in rows:
        long = is_long(row["text"])
        if long is None or long == bool(row["label"]) or random.Random(f"{seed}:{row['id']}").random() < (1 - share) / share:
            kept.append(row)
    return kept


def build(options: dict) -> DatasetTemplate:
    threshold = options["threshold_chars"]

    def is_long(text: str):
        return len(text) > threshold if text.strip() else None

    return DatasetTemplate(
        name="imdb_length",
        description=f"IMDB train reviews; W = more than {threshold} characters.",
        load_rows=lambda: downsampled(_imdb.rows(options, "imdb_length"), options["correlation_level"],
                                      options["correlation_seed"], is_long),
        n_examples=25000,
        w_strings={"w=1": "longer", "w=0": "shorter"},
        w_classifier=lambda row: is_long(row["text"]),
        get_reward_question=lambda row: _imdb.REWARD_QUESTION,
        get_original_completion=lambda row: row["text"],
        get_id=lambda row, index: row["id"],
        rewrite_prompt=_imdb.ORIGINAL_PROMPT if options["original_prompt"] else _imdb.rewrite_prompt("so it's {w_counterfactual_string}"),
        backend="openai_batch",
        classify_text=is_long,
        extra={"source": _sources.describe(options)},
    )
