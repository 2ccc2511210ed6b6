"""NVIDIA HelpSteer (`nvidia/HelpSteer`, train split: `prompt`, `response` and five 0-4 scores),
shared by the helpsteer_* templates. W = 1 for a score of 3-4, 0 for 0-2, and a row with any other
score is skipped. Every row is one example, with id "helpsteer-<row index>"."""

from __future__ import annotations

from typing import Optional

from dataset_templates import DatasetTemplate, _sources

OPTIONS = _sources.source_options("nvidia/HelpSteer")
FIXTURE = {"local_path": "helpsteer.jsonl"}
# The original code's HelpSteer prompt, word for word.
REWRITE_PROMPT = (
    "{original_completion}\n\nPlease adjust this response so it's {w_counterfactual_string}, but change *nothing* "
    "else. Only provide the response text, not an acknowledgement of the request, the prompt or any other context."
)


def w_from_score(score) -> Optional[bool]:
    if score in (3, 4):
        return True
    if score in (0, 1, 2):
        return False
    return None


def build(name: str, attribute: str, w_strings: dict, options: dict) -> DatasetTemplate:
    def load_rows() -> list[dict]:
        return [{**row, "id": f"helpsteer-{index}"}
                for index, row in _sources.read_rows(options, name, ("prompt", "response", attribute))]

    return DatasetTemplate(
        name=name,
        description=f"HelpSteer train responses; W = {attribute} score 3-4 (W=0 for 0-2).",
        load_rows=load_rows,
        n_examples=25000,
        w_strings=w_strings,
        w_classifier=lambda row: w_from_score(row[attribute]) if row["response"].strip() else None,
        get_reward_question=lambda row: row["prompt"],
        get_original_completion=lambda row: row["response"],
        get_id=lambda row, index: row["id"],
        rewrite_prompt=REWRITE_PROMPT,
        backend="openai_batch",
        extra={"source": _sources.describe(options), "attribute": attribute},
    )
