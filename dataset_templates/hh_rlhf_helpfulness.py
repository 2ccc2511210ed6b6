"""Anthropic HH-RLHF, W = helpful: of the last `n_rows` rows (the helpful subsets), each `chosen`
dialogue is a W=1 example and each `rejected` one a W=0 example, so a row gives two examples
("hh-<index>-chosen", "hh-<index>-rejected"). Response = the last assistant turn; question = the
dialogue before it. `turn_format: original` (default) builds them as the original code did
(`_hh_rlhf.original_last_turn`): the question ends with " Assistant: ", which the reward model then
reads; `plain` leaves that out. A row side whose last assistant turn is empty is skipped.
`original_prompt: true` asks with the original's prompt."""

from __future__ import annotations

from dataset_templates import DatasetTemplate, _hh_rlhf, _sources
from utils.schema import AT_LEAST_1, Choice

OPTIONS = {**_hh_rlhf.OPTIONS, "n_rows": 12500, "turn_format": "original"}
CHECKS = {"n_rows": AT_LEAST_1, "turn_format": Choice(("original", "plain"))}
FIXTURE = dict(_hh_rlhf.FIXTURE)


def build(options: dict) -> DatasetTemplate:
    split = _hh_rlhf.original_last_turn if options["turn_format"] == "original" else _hh_rlhf.last_turn

    def response(row: dict) -> str:
        return split(row["dialogue"])[1]

    return DatasetTemplate(
        name="hh_rlhf_helpfulness",
        description=f"HH-RLHF, last {options['n_rows']} rows; W = chosen (1) or rejected (0) last assistant turn.",
        load_rows=lambda: _hh_rlhf.examples(options, "hh_rlhf_helpfulness", ("chosen", "rejected"),
                                            -options["n_rows"], None),
        n_examples=2 * options["n_rows"],
        w_strings={"w=1": "more helpful", "w=0": "less helpful"},
        w_classifier=lambda row: (row["side"] == "chosen") if response(row) else None,
        get_reward_question=lambda row: split(row["dialogue"])[0],
        get_original_completion=response,
        get_id=lambda row, index: row["id"],
        get_cluster=lambda row: f"hh-{row['hh_index']}",  # chosen and rejected continue one dialogue
        rewrite_prompt=_hh_rlhf.ORIGINAL_HELPFULNESS_PROMPT if options["original_prompt"] else _hh_rlhf.REWRITE_PROMPT,
        backend="openai_batch",
        extra={"source": _sources.describe(options)},
    )
