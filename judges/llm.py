"""The LLM judge: a model asked which of the template's two W descriptions fits a text.

The question names the two `w_strings` as A and B. Which one is A is decided per text by a hash of
the text, so a model that always answers "A" (small models often do) agrees with the truth about
half the time instead of looking certain, and an identical text always gets the identical prompt
(one cached answer). Requests go through a rewriter backend's engine (judge.max_tokens, temperature
0, `judge.logprobs` top log-probabilities per token where the server returns them).

The verdict's probability comes from the log-probabilities of the answer's first letter where the
server sends them: P(A) = p(A) / (p(A) + p(B)) over the top alternatives at that position
("llm logprobs"). Otherwise the parsed answer decides, with confidence 1 ("llm answer": a stated
answer, not a calibrated probability). An answer that names neither is a failure, recorded with
its first words.
"""

from __future__ import annotations

import hashlib
import math
import re
from typing import Optional

from judges import Verdict
from rewriters import RewriteRequest, _pricing
import utils

PROMPT = ('Here is a text:\n\n"""\n{text}\n"""\n\nWhich of these two descriptions fits the text better?\n'
          "A: {a}\nB: {b}\n\nAnswer with the letter A or B only.")
_LETTER_ONLY = re.compile(r"^\W*\(?([AB])\)?\W*$")
_LETTER_FIRST = re.compile(r"^\W*(?:(?:the |my )?(?:answer|choice|option)(?: is)?\s*[:\-]?\s*)?\(?([AB])\s*(?:[).:\-]|$)",
                           re.IGNORECASE)
_STRIP = " \t\n\"'*(`"


def w1_first(text: str) -> bool:
    """Whether the W=1 description is option A for this text (stable across runs and machines)."""
    return hashlib.sha256(text.encode("utf-8")).digest()[0] % 2 == 0


def prompt_for(template, text: str) -> str:
    one, zero = template.w_string(True), template.w_string(False)
    a, b = (one, zero) if w1_first(text) else (zero, one)
    return PROMPT.format(text=text, a=a, b=b)


def letter(token: str) -> Optional[str]:
    """'A' or 'B' when a token is that letter alone (spaces, brackets, a colon or period around it)."""
    bare = token.strip(_STRIP).rstrip(").:").upper()
    return bare if bare in ("A", "B") else None


def parse_answer(text: Optional[str], a: str, b: str) -> Optional[str]:
    """The option an answer picks ('A' or 'B'), or None: the letter alone or first ("B: negative
    sentiment", "Answer: A"), else the one description the answer quotes."""
    if not text:
        return None
    for pattern in (_LETTER_ONLY, _LETTER_FIRST):
        match = pattern.match(text.strip())
        if match:
            return match.group(1).upper()
    lowered = text.lower()
    named = [option for option, words in (("A", a), ("B", b)) if re.search(rf"\b{re.escape(words.lower())}\b", lowered)]
    return named[0] if len(named) == 1 else None


def letter_probability(logprobs: list[dict]) -> Optional[float]:
    """P(A) from the first generated token that is not white space or a bracket, if that token is A
    or B and the alternatives there include either; else None."""
    for position in logprobs or []:
        if not position["token"].strip(_STRIP):
            continue
        if letter(position["token"]) is None:
            return None
        mass = {"A": 0.0, "B": 0.0}
        for token, logprob in position["top"] or [[position["token"], position["logprob"]]]:
            option = letter(token)
            if option:
                mass[option] += math.exp(logprob)
        total = mass["A"] + mass["B"]
        return mass["A"] / total if total > 0 else None
    return None


class LLMJudge:
    method = "llm"

    def __init__(self, backend, template, backend_name: str):
        self.backend, self.template, self.backend_name = backend, template, backend_name

    def close(self) -> None:
        self.backend.close()

    def describe(self) -> dict:
        out = {"method": "llm", "backend": self.backend_name, "model": self.backend.model,
               "logprobs": self.backend.settings["logprobs"], "max_tokens": self.backend.settings["max_tokens"]}
        if self.backend.settings.get("base_url"):
            out["base_url"] = utils.redact_url(self.backend.settings["base_url"])
        return out

    def requests(self, items: list[tuple[str, str]]) -> list[RewriteRequest]:
        # target_w means nothing to a question; the text is what the engine sizes the request by.
        return [RewriteRequest(f"{custom_id}:judge", prompt_for(self.template, text), text, False)
                for custom_id, text in items]

    def check(self, text: str) -> None:
        """Nothing to load before paying: the first requests (the originals) test the endpoint."""

    def judge(self, items: list[tuple[str, str]], desc: str = "judging W (llm)") -> dict[str, Verdict]:
        requests = self.requests(items)
        answers, failed, _ = self.backend.ask(requests, desc=desc)
        verdicts = {}
        for (custom_id, text), request in zip(items, requests):
            if request.custom_id in failed:
                verdicts[custom_id] = Verdict(None, None, "llm", f"judge request failed: {failed[request.custom_id]}")
                continue
            verdicts[custom_id] = self.verdict(text, answers[request.custom_id])
        return verdicts

    def verdict(self, text: str, reply: dict) -> Verdict:
        one_is_a = w1_first(text)
        a, b = ((self.template.w_string(True), self.template.w_string(False)) if one_is_a else
                (self.template.w_string(False), self.template.w_string(True)))
        p_a = letter_probability(reply.get("logprobs"))
        if p_a is not None:
            p_w1 = p_a if one_is_a else 1 - p_a
            return Verdict(p_w1 >= 0.5, max(p_w1, 1 - p_w1), "llm logprobs")
        option = parse_answer(reply.get("text"), a, b)
        if option is None:
            shown = " ".join((reply.get("text") or "").split())[:80]
            return Verdict(None, None, "llm", f"judge answer names neither option: {shown!r}")
        return Verdict((option == "A") == one_is_a, 1.0, "llm answer")

    def estimate(self, items: list[tuple[str, str]], guessed: list[tuple[str, str]] = ()) -> dict:
        """Requests, tokens and cost of judging `items` (cached answers are free) and `guessed`: texts
        standing in for rewrites not made yet, all to be sent."""
        cap = self.backend.settings["max_tokens"]
        plan = self.backend.estimate(self.requests(items), output_tokens=lambda request: cap)
        more = self.requests(list(guessed))
        plan["requests"] += len(more)
        plan["to_send"] += len(more)
        plan["input_tokens"] += sum(_pricing.estimate_tokens(r.prompt) + _pricing.TOKENS_PER_MESSAGE for r in more)
        plan["output_tokens"] += cap * len(more)
        plan["cost_usd"] = self.backend.price(plan["input_tokens"], plan["output_tokens"])
        return plan

    def summary(self) -> dict:
        return self.backend.summary()
