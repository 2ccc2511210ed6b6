"""A stand-in LLM judge for the `llm_judge` reward model: a FakeOpenAI (tests/fake_openai.py) whose
answer is a rating drawn from a hash of the response it is asked about."""

from __future__ import annotations

import hashlib
import math
import re

from fake_openai import FakeOpenAI


def judge_rating(prompt: str) -> int:
    """The stand-in judge's rating, 1-9, from a hash of the response it is shown (the default rubric
    quotes it after "Response:"), else of the whole prompt."""
    quoted = re.search(r'Response:\n"""\n(.*)\n"""', prompt, re.S)
    return 1 + hashlib.sha256((quoted.group(1) if quoted else prompt).encode()).digest()[0] % 9


def judge_stand_in():
    """(a started FakeOpenAI answering judge_rating, the `llm_judge` options pointing at it). Asked for
    log-probabilities, the rating has p 0.6, the next rating up (1 after 9) 0.3, and "The" 0.1."""
    def logprober(prompt: str, text: str) -> list:
        rating = judge_rating(prompt)
        return [[str(rating), math.log(0.6)], [str(rating % 9 + 1), math.log(0.3)], ["The", math.log(0.1)]]

    server = FakeOpenAI(lambda prompt: str(judge_rating(prompt)), logprober=logprober).start()
    return server, {"base_url": server.url, "model": "fake-judge", "cache": False, "max_retries": 1,
                    "retry_backoff": 0.0}
