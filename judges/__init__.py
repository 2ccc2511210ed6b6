"""The attribute judge: one mechanism that decides W for any text (an original, a rewrite, a
rewritten rewrite) and records each verdict, with its confidence, in the rewrites file.

`judge.method`:
  rule   the dataset template's own rule or classifier (`classify_texts`, else `classify_text`): a
         length threshold, the first letter, the synthetic reviews' aspect words, a sentiment model;
  llm    a model asked, from the template's `w_strings`, which of the two descriptions fits the text
         (judges/llm.py). It asks through a rewriter backend (`judge.backend`, default the rewriter's):
         `openai` (OpenAI or any OpenAI-compatible server: vLLM, Ollama, llama.cpp, `transformers
         serve`), `openai_batch`, or `transformers` (a local model in this process), so its requests
         are cached, retried, counted, priced and resumable like rewrites;
  auto   rule where the template has one, else llm where the rewriter calls a model, else none;
  none   no verdicts: efficacy is not measured, and treatment_effects.py says so.

A verdict, under record["judge"][<completion key>]: {"w": true | false | null, "confidence":
P(that verdict), "by": how it was reached ("rule", "llm logprobs", "llm answer")}, plus "failure"
(why) when w is null. Judging the originals too (`judge.originals`) measures the judge against the
dataset's own W labels: its agreement says how far to trust its verdicts on the rewrites.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Optional

from tqdm import tqdm

import utils

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Verdict:
    w: Optional[bool]
    confidence: Optional[float]
    by: str
    failure: Optional[str] = None

    def as_record(self) -> dict:
        record = {"w": self.w, "confidence": None if self.confidence is None else round(self.confidence, 4),
                  "by": self.by}
        if self.failure:
            record["failure"] = self.failure
        return record


class RuleJudge:
    """The template's own rule: `classify_texts(texts) -> [(w, confidence)]` where it has one (a
    classifier's probability), else `classify_text(text) -> w` with confidence 1 (a rule is certain)."""

    method = "rule"

    def __init__(self, template):
        self.template = template

    def describe(self) -> dict:
        return {"method": "rule", "template": self.template.name}

    def check(self, text: str) -> None:
        """Loads what the rule needs (a classifier) before anything is paid for."""
        self.judge([("check", text)])

    def judge(self, items: list[tuple[str, str]], desc: str = "judging W (rule)") -> dict[str, Verdict]:
        texts = [text for _, text in items]
        if self.template.classify_texts is not None:
            found = self.template.classify_texts(texts)
        else:
            found = [(self.template.classify_text(text), 1.0)
                     for text in tqdm(texts, desc=desc, unit="text", disable=len(texts) < 1000)]
        verdicts = {}
        for (custom_id, _), (w, confidence) in zip(items, found):
            verdicts[custom_id] = (Verdict(bool(w), confidence, "rule") if w is not None else
                                   Verdict(None, None, "rule", "the template's rule decides no W for this text"))
        return verdicts

    def estimate(self, items: list[tuple[str, str]], guessed: list[tuple[str, str]] = ()) -> Optional[dict]:
        return None  # a rule sends no request

    def summary(self) -> dict:
        return {}


def _calls_a_model(backend) -> bool:
    from rewriters._engine import EngineBackend

    return isinstance(backend, EngineBackend)


def build(cfg, template, rewriter, rewriter_backend: str, rewriter_model: str):
    """The judge a config asks for (None for method none), checked before anything is sent."""
    section = cfg["judge"]
    method = section["method"]
    has_rule = template.classify_text is not None or template.classify_texts is not None
    can_ask = section["backend"] is not None or _calls_a_model(rewriter)
    if method == "auto":
        method = "rule" if has_rule else ("llm" if can_ask else "none")
        logger.info("judge.method auto: %s", method if method != "none" else
                    "none (the template has no rule and the rewriter calls no model)")
    if method == "none":
        return None
    if method == "rule":
        if not has_rule:
            raise utils.RateError(f"{cfg.source('judge.method')}: judge.method rule: dataset template "
                                  f"'{template.name}' has no rule for W; use judge.method llm")
        return RuleJudge(template)
    from judges.llm import LLMJudge

    name = section["backend"] or rewriter_backend
    if section["model"] is None and not _calls_a_model(rewriter):
        raise utils.RateError(f"{cfg.source('judge.model')}: judge.method llm: the rewriter '{rewriter_backend}' "
                              f"calls no model; set judge.model (and judge.backend, judge.base_url)")
    model = section["model"] or rewriter_model
    rewrites = cfg["rewrites"]
    settings = {**rewrites, "base_url": section["base_url"] or rewrites["base_url"], "max_tokens": section["max_tokens"],
                "logprobs": section["logprobs"],
                "price_per_million_tokens": section["price_per_million_tokens"] or (
                    rewrites["price_per_million_tokens"] if section["model"] is None else None)}
    options_key = "judge.backend_options"
    if not section["backend_options"] and name == rewriter_backend:
        options_key = "rewrites.backend_options"  # the same backend: the same weights, files and sizes
    backend = utils.build_from_module("rewriters", name, "judge.backend", options_key, cfg, template, model, 0.0,
                                      rewrites["seed"], settings, "judge")
    if not _calls_a_model(backend):
        raise utils.RateError(f"{cfg.source('judge.backend')}: judge.backend '{name}' calls no model; "
                              f"the llm judge needs openai, openai_batch or transformers")
    return LLMJudge(backend, template, name)
