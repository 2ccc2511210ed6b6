"""The failure detectors (rewriters/_failures.py) on real answers of SmolLM2-135M-Instruct, kept in
tests/fixtures/smollm2/rewrite_answers.jsonl: the answers `transformers serve` gave at temperature 0
to this project's own rewrite prompts (synthetic reviews in both rounds, HH-RLHF, HelpSteer, IMDB),
each labelled with the verdict a reader gives it (a reason, or null for a usable rewrite). Also the
edge cases the fixtures do not hold, and the LLM judge's parsing of the same model's answers."""

from __future__ import annotations

import json
import math
from collections import Counter

import pytest

import utils
from conftest import REPO
from judges import llm as llm_judge
from rewriters import RewriteRequest
from rewriters._failures import FailureDetector

FIXTURES = REPO / "tests/fixtures/smollm2"
ANSWERS = [json.loads(line) for line in (FIXTURES / "rewrite_answers.jsonl").read_text().splitlines()]
ALL = ["empty", "apology", "echo", "meta"]


def judge(fixture: dict, detectors=ALL):
    reply = {"text": fixture["answer"], "finish_reason": fixture["finish_reason"], "usage": fixture["usage"]}
    request = RewriteRequest("x", fixture["prompt"], fixture["text"], fixture["target_w"])
    return FailureDetector(detectors, []).judge(reply, request, fixture["cap"])


@pytest.mark.parametrize("fixture", ANSWERS, ids=lambda f: f"{f['template']}-r{f['round']}-{f['answer'][:24]}")
def test_each_real_answer_gets_the_verdict_a_reader_gives_it(fixture):
    assert judge(fixture) == fixture["expected"]


def test_the_fixtures_hold_every_kind_of_failure_the_model_made():
    kinds = Counter((f["expected"] or "usable").split(":")[0] + f" (round {f['round']})"
                    if f["expected"] and "echoed" in f["expected"] else (f["expected"] or "usable").split(":")[0]
                    for f in ANSWERS)
    assert kinds["refusal"] >= 10 and kinds["meta-commentary"] >= 5
    assert kinds["truncated (finish_reason=length)"] >= 5 and kinds["usable"] >= 20
    # The model handed the text back unchanged in both rounds, not only when asked to restore W.
    assert kinds["refusal (round 1)"] >= 5 and kinds["refusal (round 2)"] >= 5


@pytest.mark.parametrize("detector", ["apology", "echo", "meta"])
def test_each_detector_is_what_catches_its_failures(detector):
    """Switching one detector off lets exactly its failures through (truncation is always caught)."""
    others = [d for d in ALL if d != detector]
    caught = [f for f in ANSWERS if f["expected"] and judge(f, others) is None]
    assert caught, f"no fixture needs the {detector} detector"
    names = {"apology": "refusal: apology", "echo": "refusal: prompt echoed back", "meta": "meta-commentary"}
    assert all(f["expected"].startswith(names[detector]) for f in caught)


def answer(text, finish="stop", refusal=None, usage=None):
    return {"text": text, "finish_reason": finish, "refusal": refusal, "usage": usage or {}}


REVIEW = "The acting was dreadful. I watched it on a Sunday."
ASK = f"{REVIEW}\n\nPlease adjust this movie review so it has positive sentiment, but change *nothing* else."


@pytest.mark.parametrize("reply, reason", [
    (answer("The acting was wonderful. I watched it on a Sunday."), None),
    (answer("   \n"), "refusal: empty completion"),
    (answer(None), "refusal: empty completion"),
    (answer("I'm sorry, but I can't help with that."), "refusal: apology"),
    (answer("I'm so sorry, but as an AI I cannot change reviews."), "refusal: apology"),  # reported in issue 10
    (answer("I cannot assist with this request."), "refusal: apology"),
    (answer("Sorry, I won't do that."), "refusal: apology"),
    (answer("Unfortunately, I can't rewrite this review."), "refusal: apology"),
    (answer("As a language model, I have no opinions. The acting was fine."), "refusal: apology"),
    (answer("The movie was sorry and sad. I watched it on a Sunday."), None),
    (answer(ASK), "refusal: prompt echoed back"),
    (answer(REVIEW), "refusal: prompt echoed back"),
    (answer(f'"{REVIEW.upper()}"'), "refusal: prompt echoed back"),  # quotes and case do not make it new
    # The review handed back with a note about it: reported in issue 10, and passed every detector then.
    (answer(f"{REVIEW}\n\nYour review text can be edited to remove the negative words."), "meta-commentary"),
    (answer(f"Here is the revised review:\n\n{REVIEW.replace('dreadful', 'superb')}"), "meta-commentary"),
    (answer("The acting was superb. I watched it on a Sunday.\n\nNote: I changed one word."), "meta-commentary"),
    (answer("Cut off mid", "length"), "truncated (finish_reason=length)"),
    (answer("No finish reason, but as long as the cap", None, usage={"completion_tokens": 40}), "truncated (40 tokens, the cap)"),
    (answer("No finish reason, shorter than the cap", None, usage={"completion_tokens": 12}), None),
    (answer(None, "content_filter"), "content filter (finish_reason=content_filter)"),
    (answer(None, "stop", "I can't"), "refusal: the model declined (refusal field)"),
])
def test_failure_detector_reasons(reply, reason):
    found = FailureDetector(ALL, []).judge(reply, RewriteRequest("x", ASK, REVIEW, True), cap=40)
    assert (found or "").startswith(reason or "") and (found is None) == (reason is None), found


def test_phrases_the_text_already_holds_are_not_failures():
    # An assistant's reply may itself apologise or offer help; its rewrite keeping that is a rewrite.
    source = "I'm sorry to hear that. I'm here to help: try restarting the router."
    request = RewriteRequest("x", f"{source}\n\nPlease adjust this response so it's less helpful.", source, False)
    kept = answer("I'm sorry to hear that. I'm here to help, maybe: restart something.")
    assert FailureDetector(ALL, []).judge(kept, request) is None
    added = RewriteRequest("y", "It rained.\n\nPlease adjust this response so it's more helpful.", "It rained.", True)
    assert FailureDetector(ALL, []).judge(answer("I'm here to help! It rained."), added).startswith("meta-commentary")


def test_failure_detectors_can_be_switched_off_or_extended():
    request = RewriteRequest("x", "PROMPT text", "the original", True)
    assert FailureDetector([], []).judge(answer("the original"), request) is None
    assert FailureDetector([], []).judge(answer("I'm sorry, no."), request) is None
    custom = FailureDetector(["apology"], [r"as a language model"])
    assert custom.judge(answer("Well, as a language model I won't."), request) == "refusal: apology"
    # Truncation and filtering are never acceptable, whatever the detectors.
    assert FailureDetector([], []).judge(answer("x", "length"), request) == "truncated (finish_reason=length)"
    with pytest.raises(utils.RateError, match="unknown detector 'polite'"):
        FailureDetector(["polite"], [])
    with pytest.raises(utils.RateError, match="refusal_patterns"):
        FailureDetector([], ["(unclosed"])


# ---------------------------------------------------------------------------------------------
# The LLM judge's reading of answers (judges/llm.py)
# ---------------------------------------------------------------------------------------------

JUDGED = [json.loads(line) for line in (FIXTURES / "judge_answers.jsonl").read_text().splitlines()]


def test_the_real_judge_answers_parse_and_show_the_models_position_bias():
    """SmolLM2 answered "B: <description>" to all 32 questions, whichever description was B: its
    answers parse, and they say nothing about the text."""
    options = []
    for fixture in JUDGED:
        a = fixture["prompt"].split("\nA: ")[1].split("\n")[0]
        b = fixture["prompt"].split("\nB: ")[1].split("\n")[0]
        options.append(llm_judge.parse_answer(fixture["answer"], a, b))
    assert options == ["B"] * len(JUDGED)


@pytest.mark.parametrize("text, picked", [
    ("A", "A"), ("(B)", "B"), ("B.", "B"), ("Answer: A", "A"), ("The answer is B", "B"), ("A: positive sentiment", "A"),
    ("It has negative sentiment.", "B"), ("positive sentiment and negative sentiment", None), ("A movie", None),
    ("", None), (None, None), ("Neither", None),
])
def test_judge_answers_parse_to_an_option_or_to_nothing(text, picked):
    assert llm_judge.parse_answer(text, "positive sentiment", "negative sentiment") == picked


def test_the_probability_comes_from_the_first_letters_log_probabilities():
    top = [[" B", math.log(0.6)], ["A", math.log(0.3)], ["The", math.log(0.1)]]
    assert llm_judge.letter_probability([{"token": " B", "logprob": math.log(0.6), "top": top}]) == pytest.approx(1 / 3)
    # White space and brackets first are skipped; a word first is no letter, so no probability.
    lead = {"token": "(", "logprob": -0.1, "top": [["(", -0.1]]}
    assert llm_judge.letter_probability([lead, {"token": "A", "logprob": 0.0, "top": [["A", 0.0]]}]) == 1.0
    assert llm_judge.letter_probability([{"token": "The", "logprob": -0.1, "top": top}]) is None
    assert llm_judge.letter_probability([]) is None


def test_option_order_is_fixed_per_text_and_balanced_over_texts():
    texts = [f"review number {i}" for i in range(400)]
    firsts = [llm_judge.w1_first(text) for text in texts]
    assert firsts == [llm_judge.w1_first(text) for text in texts]
    assert 160 < sum(firsts) < 240  # about half: a judge that always says "A" is right half the time
