"""IMDB reviews, W = longer than `threshold_chars` characters (970 in the paper, about the median).
The same threshold judges whether a rewrite really changed the length class."""

from __future__ import annotations

from dataset_templates import DatasetTemplate, _imdb, _sources
from utils.schema import AT_LEAST_1

OPTIONS = {**_imdb.OPTIONS, "threshold_chars": 970}
CHECKS = {"threshold_chars": AT_LEAST_1}
FIXTURE = dict(_imdb.FIXTURE)


def build(options: dict) -> DatasetTemplate:
    threshold = options["threshold_chars"]

    def is_long(text: str):
        return len(text) > threshold if text.strip() else None

    return DatasetTemplate(
        name="imdb_length",
        description=f"IMDB train reviews; W = more than {threshold} characters.",
        load_rows=lambda: _imdb.rows(options, "imdb_length"),
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
