"""Dataset templates: one module per dataset+attribute, found by its file name.

A template module declares `OPTIONS` (defaults of its own settings, set in config under
`rewrites.template_options`) and `build(options) -> DatasetTemplate`. Building must be cheap: rows
are only read when the script calls `load_rows()`. The file name is the key used in config
(`rewrites.dataset_name`) and in output names.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Callable, Iterable, Optional

DEFAULT_REWRITER_MODEL = "gpt-4o-2024-08-06"
DEFAULT_REWRITER_TEMPERATURE = 0.7


@dataclass(frozen=True)
class DatasetTemplate:
    """What create_dataset.py needs to know about one dataset+attribute.

    `w_classifier(row)` gives the attribute W of a raw row: True, False, or None (skip the row).
    `rewrite_prompt` holds `{original_completion}` and `{w_counterfactual_string}`; the second
    rewrite uses the same prompt with the w strings swapped.
    The optional hooks serve templates that know their own latent structure:
    `classify_text(text)` judges W from text alone (the attribute judge's rule, judges/: did a
    rewrite really flip W?); `classify_texts(texts) -> [(w, confidence)]` does the same for many
    texts at once, with the classifier's probability of its verdict;
    `oracle_counterfactual(text, w)` is the same text with W set to w and nothing else changed;
    `simulate_rewrite(text, w, rng)` is how the `simulated` rewriter edits this corpus;
    `rewrite_check(text, rewrite)` returns why a rewrite did not follow the template's prompt (a
    recorded failure), or None. `get_cluster(row)` names the group of examples that are not
    independent of each other (the answers to one question), written as the record's `cluster`:
    treatment_effects.py then uses cluster-robust standard errors. `w_from_judge`: the rows carry
    no W (`w_classifier` gives None); the attribute judge's verdict on each sampled original is its W.
    """

    name: str
    load_rows: Callable[[], Iterable[dict]]
    n_examples: int
    w_strings: dict[str, str]
    w_classifier: Callable[[dict], Optional[bool]]
    get_reward_question: Callable[[dict], str]
    get_original_completion: Callable[[dict], str]
    rewrite_prompt: str
    get_id: Callable[[dict, int], str] = lambda row, index: str(row.get("id", index))
    model: str = DEFAULT_REWRITER_MODEL
    temperature: float = DEFAULT_REWRITER_TEMPERATURE
    backend: str = "openai"
    description: str = ""
    classify_text: Optional[Callable[[str], Optional[bool]]] = None
    classify_texts: Optional[Callable[[list[str]], list[tuple[Optional[bool], Optional[float]]]]] = None
    oracle_counterfactual: Optional[Callable[[str, bool], str]] = None
    simulate_rewrite: Optional[Callable[[str, bool, random.Random], str]] = None
    rewrite_check: Optional[Callable[[str, str], Optional[str]]] = None
    get_cluster: Optional[Callable[[dict], Optional[str]]] = None
    w_from_judge: bool = False
    extra: dict = field(default_factory=dict)

    def w_string(self, w: bool) -> str:
        return self.w_strings["w=1" if w else "w=0"]

    def prompt_for(self, text: str, target_w: bool) -> str:
        return self.rewrite_prompt.format(original_completion=text, w_counterfactual_string=self.w_string(target_w))
