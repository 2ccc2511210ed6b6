"""Turning a model's answer into a rewrite or a recorded failure.

An answer fails when the model was cut off (`finish_reason == "length"`, or, from a server that
reports no finish reason, a completion as long as its cap), filtered (`content_filter`), refused
through the API's `refusal` field, or when a configured detector (`rewrites.refusal_detectors`) fires:
  - `empty`: no text, or only white space;
  - `apology`: the text opens like a refusal ("I'm sorry", "I'm so sorry, but", "I can't help with
    that", "Unfortunately, I cannot"...), speaks as a machine in its first sentence ("as an AI", "as a
    chatbot", "as a language model"), or matches one of `rewrites.refusal_patterns` (regular
    expressions, searched case-insensitively);
  - `echo`: the text is the prompt, or the text to rewrite, handed back unchanged: the same words
    once case, punctuation, quotes and spacing are ignored;
  - `meta`: the model talks about the text instead of (or besides) rewriting it: "Here is the revised
    review:", "The movie review is:", "I made a change to...", "Your review text can be edited...",
    "Note: ...", or it repeats the instructions of the prompt.
`apology` and `meta` only fire on phrases the text to rewrite does not hold itself, so a response that
says "I'm happy to help" keeps its rewrites that say so. tests/test_failure_detectors.py runs every
detector on real answers of SmolLM2-135M-Instruct (tests/fixtures/smollm2/).
"""

from __future__ import annotations

import re
from typing import Optional

from rewriters import RewriteRequest
from utils.errors import ConfigError

DETECTORS = ("empty", "apology", "echo", "meta")

_SORRY = r"I(?:['’]m| am)(?: so| very| really| truly| terribly)? sorry"
APOLOGY_OPENING = re.compile(
    rf"^\W*(?:{_SORRY}|Sorry\b|I (?:sincerely |truly )?apologi[sz]e|I['’]m afraid I can|Unfortunately,? I (?:can|am|['’]m|don|do|won)|"
    r"I (?:can(?:['’]|no)t|cannot|won['’]t|am unable to|['’]m unable to|am not able to|['’]m not able to) "
    r"(?:help|assist|comply|do that|fulfill|rewrite|provide|edit|modify|change|adjust)|As an? (?:AI|artificial|language model|chatbot))",
    re.IGNORECASE)
MACHINE_VOICE = re.compile(
    r"\bas an? (?:(?:helpful |friendly )?(?:AI|artificial intelligence)(?: language model| model| assistant)?|"
    r"(?:large )?language model|chatbot|virtual assistant|[\w-]+ AI)\b", re.IGNORECASE)
_TEXT_NOUN = r"(?:review|text|response|answer|reply|version|passage|paragraph|sentence|rewrite)"
META = [re.compile(pattern, re.IGNORECASE | re.MULTILINE) for pattern in (
    rf"^\W*(?:sure|certainly|of course|okay|ok|absolutely)\b[^\n]{{0,80}}\b{_TEXT_NOUN}\b",
    rf"\b(?:here(?:['’]s| is| are)|below is)\b[^\n]{{0,60}}\b{_TEXT_NOUN}s?\b",
    rf"^\W*(?:the |your |my )?(?:[\w-]+ ){{0,3}}{_TEXT_NOUN} (?:is|reads|would be|now reads)\s*:",
    rf"\bI(?:['’]ve| have)? (?:made (?:a |some |the |these )?(?:small |minor )?changes?|changed|adjusted|rewr[io]te|rewritten|"
    rf"revised|modified|edited|removed the|replaced the|kept the)\b[^.\n]{{0,80}}\b(?:{_TEXT_NOUN}|phrase|word|tone|"
    r"sentiment|wording)s?\b",
    rf"\b(?:your|the original|the above|this) (?:[\w-]+ )?{_TEXT_NOUN} (?:can|could|has been|was|is now|should)\b",
    r"^\W*(?:note|notes|explanation|changes(?: made)?|revised (?:review|text|response|version))\s*:",
    r"\bI(?:['’]d| would) be (?:happy|glad) to help\b|\bI['’]m here to (?:help|assist)\b|\blet me know if\b",
)]
INSTRUCTION_WORDS = 6  # a run of this many words of the prompt's own instructions, repeated, is meta
_WORD = re.compile(r"[a-z0-9]+(?:['’][a-z]+)?")


def words(text: str) -> list[str]:
    """Lower-case words without punctuation: what `echo` compares."""
    return _WORD.findall(text.lower().replace("’", "'"))


def _found(patterns, text: str, source: str) -> bool:
    """A pattern in the answer that the text to rewrite does not hold itself."""
    return any(p.search(text) and not p.search(source) for p in patterns)


def instructions_repeated(text: str, request: RewriteRequest) -> bool:
    """Whether the answer holds a run of INSTRUCTION_WORDS words of the prompt's instructions (the
    prompt without the text to rewrite) that the text to rewrite does not hold."""
    instructions = request.prompt.replace(request.text, " ") if request.text else request.prompt
    said, given, source = words(instructions), words(text), words(request.text)
    runs = {tuple(said[i:i + INSTRUCTION_WORDS]) for i in range(len(said) - INSTRUCTION_WORDS + 1)}
    runs -= {tuple(source[i:i + INSTRUCTION_WORDS]) for i in range(len(source) - INSTRUCTION_WORDS + 1)}
    return any(tuple(given[i:i + INSTRUCTION_WORDS]) in runs for i in range(len(given) - INSTRUCTION_WORDS + 1))


class FailureDetector:
    def __init__(self, detectors: list[str], patterns: list[str]):
        unknown = [d for d in detectors if d not in DETECTORS]
        if unknown:
            raise ConfigError("rewrites.refusal_detectors", f"unknown detector {unknown[0]!r} (known: {', '.join(DETECTORS)})")
        self.detectors = set(detectors)
        try:
            self.patterns = [re.compile(p, re.IGNORECASE) for p in patterns]
        except re.error as exc:
            raise ConfigError("rewrites.refusal_patterns", f"not a regular expression ({exc})") from None

    def judge(self, answer: dict, request: RewriteRequest, cap: Optional[int] = None) -> Optional[str]:
        """The failure reason of an answer, or None if its text is a usable rewrite. `cap` is the
        completion cap the request was sent with."""
        finish = answer.get("finish_reason")
        if finish == "length":
            return "truncated (finish_reason=length)"
        used = (answer.get("usage") or {}).get("completion_tokens") or 0
        if finish is None and cap and used >= cap:
            return f"truncated ({used} tokens, the cap)"
        if finish == "content_filter":
            return "content filter (finish_reason=content_filter)"
        if answer.get("refusal"):
            return "refusal: the model declined (refusal field)"
        text = answer.get("text")
        if text is None or ("empty" in self.detectors and not text.strip()):
            return "refusal: empty completion"
        source = request.text or ""
        if "apology" in self.detectors:
            first_sentence = re.split(r"(?<=[.!?])\s", text.strip(), maxsplit=1)[0]
            if (_found([APOLOGY_OPENING], text, source) or _found([MACHINE_VOICE], first_sentence, source)
                    or any(p.search(text) for p in self.patterns)):
                return "refusal: apology"
        if "echo" in self.detectors:
            given = words(text)
            if given == words(request.prompt) or (source.strip() and given == words(source)):
                return "refusal: prompt echoed back"
        if "meta" in self.detectors and (_found(META, text, source) or instructions_repeated(text, request)):
            return "meta-commentary: the answer talks about the text or repeats the instructions"
        return None
