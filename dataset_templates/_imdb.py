"""IMDB movie reviews (Hugging Face `imdb`, train split: 25,000 reviews with `text` and `label`),
shared by the imdb_* templates. Every review is one example, with id "imdb-<row index>"."""

from __future__ import annotations

from dataset_templates import _sources

FIELDS = ("text", "label")
OPTIONS = {**_sources.source_options("imdb"), "original_prompt": False}
FIXTURE = {"local_path": "imdb.jsonl"}


def rewrite_prompt(request: str) -> str:
    """The original HelpSteer prompt, worded for reviews; `request` holds {w_counterfactual_string}."""
    return ("{original_completion}\n\nPlease adjust this movie review " + request + ", but change *nothing* else. "
            "Only provide the review text, not an acknowledgement of the request or any other context.")


# The original code's prompts (`original_prompt: true` restores them; its opening "[" is never closed).
ORIGINAL_PROMPT = "{original_completion}\n\n[Adjust this review so it's {w_counterfactual_string}, but change *nothing* else."
ORIGINAL_VOWELS_PROMPT = ("{original_completion}\n\nAdjust this review so it {w_counterfactual_string}, but change "
                          "*nothing* else other than minor changes to make the first sentence grammatically correct.")

REWARD_QUESTION = "Write a movie review: "


def rows(options: dict, template: str) -> list[dict]:
    return [{**row, "id": f"imdb-{index}"} for index, row in _sources.read_rows(options, template, FIELDS)]
