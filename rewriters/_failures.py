"""Turning a model's answer into a rewrite or a recorded failure.

An answer fails when the model was cut off (`finish_reason == "length"`), filtered
(`content_filter`), refused through the API's `refusal` field, or when a configured detector
(`rewrites.refusal_detectors`) fires:
  - `empty`: no text, or only white space;
  - `apology`: the text opens like a refusal ("I'm sorry", "I can't help with that", ...), or matches
    one of `rewrites.refusal_patterns` (regular expressions, searched case-insensitively);
  - `echo`: the text is the prompt, or the text to rewrite, handed back unchanged.
"""

from __future__ import annotations

import re
from typing import Optional

from rewriters import RewriteRequest

DETECTORS = ("empty", "apology", "echo")

APOLOGY = re.compile(
    r"^\s*(?:I['’]m sorry|I am sorry|Sorry,|I apologi[sz]e|I['’]m afraid I can|I (?:can(?:['’]|no)t|cannot|won['’]t|"
    r"am unable to|['’]m unable to|am not able to) (?:help|assist|comply|do that|fulfill|rewrite|provide)|As an AI)",
    re.IGNORECASE)


def _same(a: str, b: str) -> bool:
    return " ".join(a.split()) == " ".join(b.split())


class FailureDetector:
    def __init__(self, detectors: list[str], patterns: list[str]):
        unknown = [d for d in detectors if d not in DETECTORS]
        if unknown:
            from rewriters._engine import setting_error

            raise setting_error("rewrites.refusal_detectors", f"unknown detector {unknown[0]!r} (known: {', '.join(DETECTORS)})")
        self.detectors = set(detectors)
        try:
            self.patterns = [re.compile(p, re.IGNORECASE) for p in patterns]
        except re.error as exc:
            from rewriters._engine import setting_error

            raise setting_error("rewrites.refusal_patterns", f"not a regular expression ({exc})") from None

    def judge(self, answer: dict, request: RewriteRequest) -> Optional[str]:
        """The failure reason of an answer, or None if its text is a usable rewrite."""
        finish = answer.get("finish_reason")
        if finish == "length":
            return "truncated (finish_reason=length)"
        if finish == "content_filter":
            return "content filter (finish_reason=content_filter)"
        if answer.get("refusal"):
            return "refusal: the model declined (refusal field)"
        text = answer.get("text")
        if text is None or ("empty" in self.detectors and not text.strip()):
            return "refusal: empty completion"
        if "apology" in self.detectors and (APOLOGY.search(text) or any(p.search(text) for p in self.patterns)):
            return "refusal: apology"
        if "echo" in self.detectors and (_same(text, request.prompt) or (request.text.strip() and _same(text, request.text))):
            return "refusal: prompt echoed back"
        return None
