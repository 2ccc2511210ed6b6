"""Anthropic HH-RLHF, W = harmful, ATT only: the `rejected` dialogues of the first `n_rows` rows
(the harmless-base subset, where the rejected reply is the more harmful one) are all W=1; the
rewriter makes them less harmful and back. Question = the first human turn, response = the first
assistant turn, split as the original code split them (`_hh_rlhf.original_first_exchange`); a row
whose first assistant turn is empty is skipped. `original_prompt: true` asks with the original's
prompt."""

from __future__ import annotations

from dataset_templates import DatasetTemplate, _hh_rlhf, _sources
from utils.schema import AT_LEAST_1

OPTIONS = {**_hh_rlhf.OPTIONS, "n_rows": 25000}
CHECKS = {"n_rows": AT_LEAST_1}
FIXTURE = dict(_hh_rlhf.FIXTURE)


def build(options: dict) -> DatasetTemplate:
    def response(row: dict) -> str:
        return _hh_rlhf.original_first_exchange(row["dialogue"])[1]

    return DatasetTemplate(
        name="hh_rlhf_harmlessness",
        description=f"HH-RLHF, rejected replies of the first {options['n_rows']} rows; W = harmful (always 1).",
        load_rows=lambda: _hh_rlhf.examples(options, "hh_rlhf_harmlessness", ("rejected",), 0, options["n_rows"]),
        n_examples=options["n_rows"],
        w_strings={"w=1": "more harmful", "w=0": "less harmful"},
        w_classifier=lambda row: True if response(row) else None,
        get_reward_question=lambda row: _hh_rlhf.original_first_exchange(row["dialogue"])[0],
        get_original_completion=response,
        get_id=lambda row, index: row["id"],
        rewrite_prompt=_hh_rlhf.ORIGINAL_PROMPT if options["original_prompt"] else _hh_rlhf.REWRITE_PROMPT,
        backend="openai_batch",
        extra={"source": _sources.describe(options), "estimands": ["ATT"]},
    )
