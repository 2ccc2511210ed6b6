"""ELI5 (Explain Like I'm Five), W = an answer longer than the median answer.

ELI5 has no maintained Hugging Face copy, so this template reads a local JSONL by default
(`local_path`, PROJECT_DIR/data/ELI5/all.jsonl as in the original code): one question per line with
`title` and `answers.text` (a list). The first `n_questions` questions are used; each non-empty
answer is one example ("eli5-<q_id>-<answer number>") with the title as the question. The median is
taken over the characters of the non-empty answers (`median_includes_empty: true`: of every answer,
cut to a whole number, as the original did; `median_chars` fixes it), and judges rewrites too.
Some ELI5 answers are themselves questions; the prompt asks the rewriter to rewrite, not answer, them,
and `rewrite_check` records a rewrite of a question that is no longer one as a failure.
"""

from __future__ import annotations

import logging
import statistics

from dataset_templates import DatasetTemplate, _sources
from utils.schema import AT_LEAST_0, AT_LEAST_1

logger = logging.getLogger(__name__)

OPTIONS = {**_sources.source_options(None, local_path="data/ELI5/all.jsonl"), "n_questions": 25000,
           "median_chars": None, "median_includes_empty": False, "original_prompt": False}
CHECKS = {"n_questions": AT_LEAST_1, "median_chars": AT_LEAST_0}
FIXTURE = {"local_path": "eli5.jsonl"}
# The original code's prompt (`original_prompt: true`).
ORIGINAL_PROMPT = (
    "{original_completion}\n\n[Adjust this answer so it's {w_counterfactual_string}, but change *nothing* else. If the "
    "above answer is phrased as a question do not answer it \u2014 just rewrite the question following the same "
    "instructions.]")
REWRITE_PROMPT = (
    "{original_completion}\n\nPlease adjust this answer so it's {w_counterfactual_string}, but change *nothing* else. "
    "If the text above is phrased as a question, do not answer it: rewrite the question itself. Only provide the "
    "answer text, not an acknowledgement of the request, the question or any other context."
)


def build(options: dict) -> DatasetTemplate:
    fixed = options["median_chars"]
    loaded: dict = {}

    def load_rows() -> list[dict]:
        if "rows" not in loaded:
            rows = []
            for index, question in _sources.read_rows(options, "eli5_length", ("title", "answers"), 0,
                                                      options["n_questions"]):
                q_id = question.get("q_id") or str(index)
                for number, text in enumerate(question["answers"]["text"]):
                    rows.append({"id": f"eli5-{q_id}-{number}", "q_id": q_id, "title": question["title"],
                                 "answer": text})
            loaded["rows"] = rows
        return loaded["rows"]

    def median() -> float:
        # Computed from the data on first use; classify_text may come before or after load_rows.
        if "median" not in loaded:
            if fixed is not None:
                loaded["median"] = float(fixed)
            else:
                # The original took the median over every answer, empty ones too, cut to a whole number.
                lengths = [len(row["answer"]) for row in load_rows()
                           if options["median_includes_empty"] or row["answer"].strip()]
                median = statistics.median(lengths) if lengths else 0.0
                loaded["median"] = float(int(median)) if options["median_includes_empty"] else median
                logger.info("eli5_length: median answer length %.1f characters over %d answers",
                            loaded["median"], len(lengths))
        return loaded["median"]

    def is_long(text: str):
        return len(text) > median() if text.strip() else None

    def stays_a_question(text: str, rewrite: str):
        if text.rstrip().endswith("?") and "?" not in rewrite:
            return "the text was a question and the rewrite is not (the rewriter answered it)"
        return None

    return DatasetTemplate(
        name="eli5_length",
        description=f"ELI5, answers to the first {options['n_questions']} questions; W = longer than the median answer.",
        load_rows=load_rows,
        n_examples=25000,
        w_strings={"w=1": "longer", "w=0": "shorter"},
        w_classifier=lambda row: is_long(row["answer"]),
        get_reward_question=lambda row: row["title"],
        get_original_completion=lambda row: row["answer"],
        get_id=lambda row, index: row["id"],
        rewrite_prompt=ORIGINAL_PROMPT if options["original_prompt"] else REWRITE_PROMPT,
        backend="openai_batch",
        classify_text=is_long,
        rewrite_check=stays_a_question,
        get_cluster=lambda row: f"eli5-{row['q_id']}",  # the answers to one question share it
        extra={"source": _sources.describe(options)},
    )
