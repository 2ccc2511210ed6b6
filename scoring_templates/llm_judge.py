"""`llm_judge`: an LLM asked to rate each response is the reward model ("LLM as a judge").

Each (question, completion) fills the rubric (`{question}`, `{completion}`, and `{min}` / `{max}` for
the scale) and is sent as one user message through a rewriter backend's engine (`openai` or
`openai_batch`, rewriters/_engine.py), so its requests are cached, retried, priced, counted and
resumable like phase 1's. Temperature 0 by default, at most `max_tokens` tokens per answer.

The reward is a rating on the scale [min, max], integers only:
  with `logprobs` and a server that returns them, the expected rating over the first generated token
  that is a rating: E = sum_r r p(r) / sum_r p(r), r over the scale's ratings found among that
  token's top alternatives (p = exp(logprob); " 7" and "7" are both 7);
  otherwise the first number the answer holds, which must lie in the scale.
An answer with no rating in the scale, no text, or a request that failed after its retries is a
failure: its reward is NaN and its reason "<kind>: <detail>" comes back through
`score_with_failures`, never a 0 (scoring/engine.py records it).
"""

from __future__ import annotations

import importlib
import math
import re
from typing import Optional, Sequence

from scoring_templates import RewardModel
from utils.errors import ConfigError
from utils.schema import AT_LEAST_0, AT_LEAST_1, POSITIVE, Choice, Numbers, PricePair

SERVER = "chat"  # the conformance test serves it tests/fake_judge.judge_stand_in
NEEDS_GPU = False
PREFIX = "scoring.model_options"
PLACEHOLDERS = ("{question}", "{completion}")
TOP_LOGPROBS = 20  # OpenAI's most; 1-10 and its spaced variants fit
TEXTS_PER_CALL = 256  # requests handed to the engine at once: one progress bar per 256 texts

DEFAULT_RUBRIC = (
    'Here is a prompt and a response to it.\n\nPrompt:\n"""\n{question}\n"""\n\nResponse:\n"""\n{completion}\n"""\n\n'
    "How good is the response? Rate it from {min} (very poor) to {max} (excellent).\n"
    "Answer with the number only.")

OPTIONS = {
    "base_url": None,
    "model": "gpt-4o-mini",
    "backend": "openai",
    "rubric": DEFAULT_RUBRIC,
    "scale": [1, 9],  # one digit each: a tokeniser that splits "10" into "1", "0" would read it as 1
    "logprobs": True,
    "max_tokens": 4,
    "temperature": 0.0,
    "price_per_million_tokens": None,
    "concurrency": 16,
    "max_retries": 6,
    "retry_backoff": 1.0,
    "timeout": 120.0,
    "cache": True,
    "reward_key": None,
}
CHECKS = {
    "backend": Choice(("openai", "openai_batch")),
    "scale": Numbers("ratings"),
    "max_tokens": AT_LEAST_1,
    "temperature": AT_LEAST_0,
    "price_per_million_tokens": PricePair(),
    "concurrency": AT_LEAST_1,
    "max_retries": AT_LEAST_0,
    "retry_backoff": AT_LEAST_0,
    "timeout": POSITIVE,
}
_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?")
_FILL = re.compile(r"\{(question|completion|min|max)\}")


def check_options(options: dict) -> tuple[int, int]:
    """The scale as (min, max); a rubric missing a placeholder or a scale that is not two rising
    integers is refused, naming the option."""
    missing = [p for p in PLACEHOLDERS if p not in options["rubric"]]
    if missing:
        raise ConfigError(f"{PREFIX}.rubric", f"the rubric must hold {' and '.join(PLACEHOLDERS)}; "
                                             f"it lacks {' and '.join(missing)}")
    scale = options["scale"]
    if (len(scale) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) for v in scale)
            or scale[0] >= scale[1]):
        raise ConfigError(f"{PREFIX}.scale", f"must be [min, max], two integers with min < max, got {scale!r}")
    return scale[0], scale[1]


def fill(rubric: str, question: str, completion: str, low: int, high: int) -> str:
    # One pass: a question that quotes "{completion}" stays as written.
    values = {"question": question, "completion": completion, "min": str(low), "max": str(high)}
    return _FILL.sub(lambda match: values[match.group(1)], rubric)


def rating_of(token: str, low: int, high: int) -> Optional[int]:
    bare = token.strip(" \t\n\"'*(`.:")
    return int(bare) if bare.isdigit() and low <= int(bare) <= high else None


def expected_rating(logprobs: list[dict], low: int, high: int) -> Optional[float]:
    """The expected rating at the first generated token that is a rating (module docstring), or None."""
    for position in logprobs or []:
        if rating_of(position["token"], low, high) is None:
            continue
        mass: dict[int, float] = {}
        for token, logprob in position["top"] or [[position["token"], position["logprob"]]]:
            rating = rating_of(token, low, high)
            if rating is not None:
                mass[rating] = mass.get(rating, 0.0) + math.exp(logprob)
        total = sum(mass.values())
        return sum(r * p for r, p in mass.items()) / total if total > 0 else None
    return None


def parsed_rating(text: Optional[str], low: int, high: int) -> tuple[Optional[float], Optional[str]]:
    """(rating, None) from the first number of an answer, or (None, failure reason)."""
    if text is None or not text.strip():
        return None, "no answer text: the model answered nothing"
    shown = " ".join(text.split())[:80]
    match = _NUMBER.search(text)
    if match is None:
        return None, f"unparsable answer: no rating in {shown!r}"
    value = float(match.group(0))
    if not low <= value <= high:
        return None, f"rating outside the scale: {match.group(0)} not in [{low}, {high}] in {shown!r}"
    return value, None


def rate(reply: dict, low: int, high: int, use_logprobs: bool) -> tuple[Optional[float], Optional[str]]:
    if use_logprobs:
        expected = expected_rating(reply.get("logprobs"), low, high)
        if expected is not None:
            return expected, None
    return parsed_rating(reply.get("text"), low, high)


def build(options: dict) -> RewardModel:
    from rewriters import RewriteRequest

    low, high = check_options(options)
    settings = {"base_url": options["base_url"], "max_tokens": options["max_tokens"], "cache": options["cache"],
                "logprobs": TOP_LOGPROBS if options["logprobs"] else 0, "max_concurrency": options["concurrency"],
                "max_retries": options["max_retries"], "retry_backoff": options["retry_backoff"],
                "timeout": options["timeout"], "price_per_million_tokens": options["price_per_million_tokens"]}
    module = importlib.import_module(f"rewriters.{options['backend']}")

    def backend_for(dry_run: bool):
        # "scoring": the section named in the engine's messages; no rewrite template is involved.
        return module.build(dict(module.OPTIONS), None, options["model"], float(options["temperature"]), 0,
                            {**settings, "dry_run": dry_run}, "scoring")

    made: list = []  # the backend that sends, made at the first score: a dry run needs no API key

    def backend():
        if not made:
            made.append(backend_for(False))
        return made[0]

    name = f"llm_judge ({options['model']})"

    def requests(questions: Sequence[str], completions: Sequence[str]) -> list:
        # the completion is what the engine sizes a request by; target_w means nothing here
        return [RewriteRequest(str(i), fill(options["rubric"], q, c, low, high), c, False)
                for i, (q, c) in enumerate(zip(questions, completions))]

    def score_with_failures(questions: Sequence[str], completions: Sequence[str]) -> tuple[list[float], dict]:
        asked = requests(questions, completions)
        answers, failed, _ = backend().ask(asked, desc=f"asking {name}")
        rewards, failures = [], {}
        for i, request in enumerate(asked):
            if request.custom_id in failed:
                value, reason = None, f"request failed: {failed[request.custom_id]}"
            else:
                value, reason = rate(answers[request.custom_id], low, high, options["logprobs"])
            rewards.append(math.nan if value is None else float(value))
            if reason:
                failures[i] = reason
        return rewards, failures

    def estimate(questions: Sequence[str], completions: Sequence[str]) -> dict:
        planner = backend_for(True)
        try:
            plan = planner.estimate(requests(questions, completions), output_tokens=lambda r: options["max_tokens"])
        finally:
            planner.close()
        return {**plan, "backend": options["backend"], "model": options["model"], "batch": planner.batch,
                "cost_hint": f"{PREFIX}.price_per_million_tokens"}

    info = {"backend": options["backend"], "model": options["model"], "scale": [low, high],
            "logprobs": bool(options["logprobs"])}
    if options["base_url"]:
        import utils

        info["base_url"] = utils.redact_url(options["base_url"])
    return RewardModel(
        name="llm_judge",
        reward_key=options["reward_key"] or f"llm_judge:{options['model']}",
        score_batch=lambda questions, completions: score_with_failures(questions, completions)[0],
        description=f"{options['model']} rating each response from {low} to {high}",
        info=info,
        close=lambda: made[0].close() if made else None,
        texts_per_call=TEXTS_PER_CALL,
        score_with_failures=score_with_failures,
        estimate=estimate,
        summary=lambda: made[0].summary() if made else {},
    )
