"""Anthropic HH-RLHF, W = helpful: of the last `n_rows` rows (the helpful subsets), each `chosen`
dialogue is a W=1 example and each `rejected` one a W=0 example, so a row gives two examples
("hh-<index>-chosen", "hh-<index>-rejected"). Question = the dialogue before the last assistant turn,
response = that last assistant turn; a row side whose last assistant turn is empty is skipped."""

from __future__ import annotations

from dataset_templates import DatasetTemplate, _hh_rlhf, _sources

OPTIONS = {**_hh_rlhf.OPTIONS, "n_rows": 12500}
FIXTURE = dict(_hh_rlhf.FIXTURE)


def build(options: dict) -> DatasetTemplate:
    def response(row: dict) -> str:
        return _hh_rlhf.last_turn(row["dialogue"])[1]

    return DatasetTemplate(
        name="hh_rlhf_helpfulness",
        description=f"HH-RLHF, last {options['n_rows']} rows; W = chosen (1) or rejected (0) last assistant turn.",
        load_rows=lambda: _hh_rlhf.examples(options, "hh_rlhf_helpfulness", ("chosen", "rejected"),
                                            -options["n_rows"], None),
        n_examples=2 * options["n_rows"],
        w_strings={"w=1": "more helpful", "w=0": "less helpful"},
        w_classifier=lambda row: (row["side"] == "chosen") if response(row) else None,
        get_reward_question=lambda row: _hh_rlhf.last_turn(row["dialogue"])[0],
        get_original_completion=response,
        get_id=lambda row, index: row["id"],
        rewrite_prompt=_hh_rlhf.REWRITE_PROMPT,
        backend="openai_batch",
        extra={"source": _sources.describe(options)},
    )
