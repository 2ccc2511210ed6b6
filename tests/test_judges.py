"""The attribute judge (judges/): which judge a config gets, the rule judges, rewrite efficacy per
direction, and the changes a rewriter made besides W."""

from __future__ import annotations

import pytest

import judges
import utils
from judges import changes, efficacy
from rewriters._engine import EngineBackend
from template_contract import build


def verdicts(original, rewrite, back):
    return {key: {"w": value, "confidence": 1.0, "by": "rule"} for key, value in
            (("original", original), ("rewrite", rewrite), ("rewritten rewrite", back)) if value != "absent"}


def record(w, judged, rewrite="r", back="rr"):
    return {"w_original": w, "completions": {"original": "o", "rewrite": rewrite, "rewritten rewrite": back},
            "judge": judged}


RECORDS = [
    record(True, verdicts(True, False, True)),                      # flipped, restored: passed
    record(True, verdicts(True, True, True)),                       # never flipped: no second-round credit
    record(True, verdicts(False, None, True)),                      # judge undecided on the rewrite
    record(False, verdicts(False, True, True)),                     # flipped, not restored
    record(False, verdicts(False, True, False)),                    # passed
    record(False, verdicts(False, "absent", "absent"), None, None),  # the rewrite failed: not judged
]


def test_efficacy_counts_each_direction_and_the_second_round_only_after_a_flip():
    result = efficacy.efficacy(RECORDS)
    rows = {(row["round"], row["direction"]): row for row in result["rows"]}
    assert rows[("first rewrite", "W=1→0")] == {"round": "first rewrite", "direction": "W=1→0", "examples": "W=1",
                                                "passed": 1, "judged": 3, "undecided": 1, "share": 0.3333}
    assert rows[("first rewrite", "W=0→1")]["passed"] == 2 and rows[("first rewrite", "W=0→1")]["judged"] == 2
    # The second rewrite of the unflipped W=1 example has W=1 again, but restoring nothing is no success.
    assert (rows[("second rewrite", "W=0→1")]["passed"], rows[("second rewrite", "W=0→1")]["judged"]) == (1, 1)
    assert (rows[("second rewrite", "W=1→0")]["passed"], rows[("second rewrite", "W=1→0")]["judged"]) == (1, 2)
    assert result["both_passed"] == {"W=1": {"passed": 1, "examples": 3}, "W=0": {"passed": 1, "examples": 3}}
    assert result["agreement"] == {"agree": 5, "judged": 6, "undecided": 0, "share": 0.8333}
    assert [utils.record.passed(r) for r in RECORDS] == [True, False, False, False, True, False]


def test_the_warning_names_every_low_direction_and_a_weak_judge():
    result = efficacy.efficacy(RECORDS)
    text = efficacy.warning(result, 0.8, "a toy judge")
    assert "first rewrite W=1→0 (W=1 examples): 1 of 3 (33.3%), 1 undecided" in text
    assert "second rewrite W=1→0 (W=0 examples): 1 of 2 (50.0%)" in text and "W=0→1 (W=0 examples)" not in text
    assert "a toy judge" not in text  # agreement 83 % is above the threshold
    assert "The judge (a toy judge) agrees with the dataset's own W on only 5 of 6" in efficacy.warning(result, 0.9, "a toy judge")
    assert efficacy.warning(result, 0.3) is None
    assert efficacy.counts(result)["efficacy first rewrite W=1→0"] == "1 of 3"


def test_changes_measure_length_and_word_overlap():
    measured = changes.changes("The acting was dull.", "The acting was great!", "The acting was very dull.")
    assert measured["length ratio rewrite/original"] == round(21 / 20, 4)
    assert measured["length ratio rewritten rewrite/original"] == round(25 / 20, 4)
    # words: [the acting was dull] vs [the acting was very dull]: 2 * 4 / (4 + 5)
    assert measured["similarity original/rewritten rewrite"] == round(8 / 9, 4)
    assert measured["similarity rewrite/rewritten rewrite"] == round(2 * 3 / (4 + 5), 4)
    assert changes.changes("x", None, None) == {}
    summary = changes.summary([{"changes": measured}, {"changes": {"length ratio rewrite/original": 2.0}}])
    assert summary["length ratio rewrite/original"] == {"median": 1.525, "mean": 1.525, "n": 2}


def config(*overrides: str):
    return utils.load_config(None, [tuple(o.split("=", 1)) for o in overrides])


def backend(cfg, template, name):
    section = cfg["rewrites"]
    return build("rewriters", name, template, "gpt-4o", 0.7, 0, dict(section))


def test_auto_takes_the_templates_rule_else_an_llm_else_nothing(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key")  # the openai backends check for one when built
    synthetic = build("dataset_templates", "synthetic_sentiment")
    cfg = config()
    assert judges.build(cfg, synthetic, backend(cfg, synthetic, "simulated"), "simulated", "simulated").method == "rule"
    helpsteer = build("dataset_templates", "helpsteer_helpfulness")
    llm = judges.build(cfg, helpsteer, backend(cfg, helpsteer, "openai"), "openai", "gpt-4o")
    assert llm.method == "llm" and isinstance(llm.backend, EngineBackend)
    assert llm.backend.temperature == 0.0 and llm.backend.settings["max_tokens"] == 10 and llm.backend.settings["logprobs"] == 5
    assert llm.describe()["model"] == "gpt-4o"
    # imdb_sentiment without its classifier has no rule: the LLM judge takes over.
    module = __import__("dataset_templates.imdb_sentiment", fromlist=["OPTIONS"])
    imdb = module.build({**module.OPTIONS, "sentiment_model": ""})
    assert judges.build(cfg, imdb, backend(cfg, imdb, "openai"), "openai", "gpt-4o").method == "llm"
    plain = judges.build(config("judge.method=none"), synthetic, None, "simulated", "simulated")
    assert plain is None


@pytest.mark.parametrize("name, overrides, message", [
    ("helpsteer_helpfulness", ("judge.method=rule",), "judge.method rule: dataset template 'helpsteer_helpfulness' has no rule"),
    ("helpsteer_helpfulness", ("judge.method=llm",), "judge.method llm: the rewriter 'simulated' calls no model; set judge.model"),
    ("synthetic_sentiment", ("judge.method=llm", "judge.model=m", "judge.backend=simulated"),
     "judge.backend 'simulated' calls no model"),
    ("helpsteer_helpfulness", ("judge.method=llm", "judge.model=m", "judge.backend=openai", "judge.max_tokens=0"),
     "judge.max_tokens: must be positive"),
])
def test_a_judge_that_cannot_work_is_one_line_naming_the_key(name, overrides, message):
    template = build("dataset_templates", name)
    simulated = build("rewriters", "simulated", build("dataset_templates", "synthetic_sentiment"), "s", 0.0, 0)
    with pytest.raises(utils.RateError, match=message):
        judges.build(config(*overrides), template, simulated, "simulated", "simulated")


def test_an_unknown_judge_method_is_a_config_error():
    with pytest.raises(utils.RateError, match="key 'judge.method' must be one of"):
        config("judge.method=maybe")


def test_the_synthetic_rule_reads_words_so_it_also_judges_an_llms_wording():
    template = build("dataset_templates", "synthetic_sentiment")
    judge = judges.RuleJudge(template)
    found = judge.judge([("a", "Honestly I loved it, and the cast was charming."), ("b", "It has subtitles."),
                         ("c", "The story was dull but the visuals were stunning.")])
    assert found["a"].w is True and found["a"].confidence == 1.0 and found["a"].by == "rule"
    assert found["b"].w is None and "decides no W" in found["b"].failure
    assert found["c"].w is None


@pytest.mark.slow
def test_the_sentiment_classifier_gives_its_probability(tmp_path):
    from dataset_fixtures import build_tiny_sentiment_classifier
    from dataset_templates._sentiment import OPTIONS, SentimentJudge

    model = build_tiny_sentiment_classifier(tmp_path / "clf")
    judge = SentimentJudge({**OPTIONS, "sentiment_model": str(model)})
    (good, p_good), (bad, p_bad) = judge.with_confidence(["the movie was wonderful", "the movie was awful"])
    assert good is True and bad is False and 0.5 < p_good <= 1 and 0.5 < p_bad <= 1
    assert judge(["the movie was wonderful"]) == [True]


def test_eli5_records_a_question_rewritten_into_an_answer_as_a_failure():
    module = __import__("dataset_templates.eli5_length", fromlist=["OPTIONS"])
    template = module.build({**module.OPTIONS, "median_chars": 100})
    assert template.rewrite_check("Why is the sky blue?", "Because of Rayleigh scattering.").startswith("the text was a question")
    assert template.rewrite_check("Why is the sky blue, do you think?", "Why, do you think, is the sky blue?") is None
    assert template.rewrite_check("Light scatters.", "Light scatters a lot.") is None
