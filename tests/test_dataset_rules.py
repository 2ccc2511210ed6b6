"""Each real-data template follows the original experiment's rules, checked on fixture rows in the
real dataset's schema (tests/fixtures/datasets/) against expectations computed here from the raw rows."""

from __future__ import annotations

import json
import random
import re
import statistics

import pytest

from dataset_fixtures import DATASETS, build_with_fixtures, build_tiny_sentiment_classifier
from dataset_templates import _hh_rlhf, _sentiment, imdb_vowels
from utils import RateError


def raw(name: str) -> list[dict]:
    return [json.loads(line) for line in (DATASETS / name).read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("models")


def by_id(template) -> dict:
    return {template.get_id(row, i): row for i, row in enumerate(template.load_rows())}


# --- IMDB -------------------------------------------------------------------------------------

def test_imdb_length_is_970_characters(models_dir):
    template = build_with_fixtures("imdb_length", models_dir)
    rows = by_id(template)
    expected = {f"imdb-{i}": len(r["text"]) > 970 for i, r in enumerate(raw("imdb.jsonl"))}
    assert {k: template.w_classifier(r) for k, r in rows.items()} == expected
    assert set(expected.values()) == {True, False}, "the fixture must hold both sides of the threshold"
    assert template.classify_text("x" * 971) is True and template.classify_text("x" * 970) is False
    assert template.w_strings == {"w=1": "longer", "w=0": "shorter"}
    shorter = build_with_fixtures("imdb_length", models_dir, threshold_chars=200)
    assert sum(shorter.w_classifier(r) for r in shorter.load_rows()) > sum(expected.values())


@pytest.mark.slow
def test_imdb_sentiment_takes_w_from_the_label(models_dir):
    template = build_with_fixtures("imdb_sentiment", models_dir)
    rows = template.load_rows()
    assert [template.w_classifier(r) for r in rows] == [bool(r["label"]) for r in raw("imdb.jsonl")]
    assert all(template.get_reward_question(r) == "Write a movie review: " for r in rows)
    assert "positive sentiment" in template.prompt_for("a review", True)
    assert build_with_fixtures("imdb_sentiment", models_dir, sentiment_model="").classify_text is None


@pytest.mark.slow
def test_sentiment_judge_reads_the_positive_class_by_its_label_name(models_dir):
    swapped = build_tiny_sentiment_classifier(models_dir / "swapped_sentiment", swap_labels=True)
    for options in ({}, {"sentiment_model": str(swapped)}):
        judge = build_with_fixtures("imdb_sentiment", models_dir, **options).classify_text
        assert judge("the movie was wonderful") is True
        assert judge("the movie was awful") is False
    with pytest.raises(RateError, match="sentiment_positive_label"):
        build_with_fixtures("imdb_sentiment", models_dir, sentiment_positive_label="JOYFUL").classify_text("good")
    with pytest.raises(RateError, match="sentiment_model"):
        build_with_fixtures("imdb_sentiment", models_dir, sentiment_model=str(models_dir / "absent")).classify_text("x")


def first_letter_is_vowel(text: str):
    letters = [c for c in text if c.isascii() and c.isalpha()]
    return letters[0].lower() in "aeiou" if letters else None


def test_imdb_vowels_w_is_the_first_letter(models_dir):
    template = build_with_fixtures("imdb_vowels", models_dir)
    raws = raw("imdb.jsonl")
    assert [template.w_classifier(r) for r in template.load_rows()] == [first_letter_is_vowel(r["text"]) for r in raws]
    assert {first_letter_is_vowel(r["text"]) for r in raws} == {True, False}
    assert template.n_examples == 2500
    assert template.classify_text('"Once upon a time"') is True and template.classify_text("10/10 Great") is False


def swapped_once(original: str, typo: str) -> bool:
    """typo is original with exactly one pair of adjacent letters swapped, the first letter kept."""
    diff = [i for i, (a, b) in enumerate(zip(original, typo)) if a != b]
    return (len(original) == len(typo) and len(diff) == 2 and diff[1] == diff[0] + 1 and diff[0] > 0
            and original[diff[0]] == typo[diff[1]] and original[diff[1]] == typo[diff[0]])


@pytest.mark.parametrize("percent", [0, 10, 30])
def test_imdb_vowels_injects_typos_into_vowel_reviews_only(models_dir, percent):
    template = build_with_fixtures("imdb_vowels", models_dir, typo_percent=percent)
    for row, source in zip(template.load_rows(), raw("imdb.jsonl")):
        assert row["clean_text"] == source["text"]
        before, after = re.findall(r"[A-Za-z]+", source["text"]), re.findall(r"[A-Za-z]+", row["text"])
        assert len(before) == len(after)
        changed = [(a, b) for a, b in zip(before, after) if a != b]
        assert all(swapped_once(a, b) for a, b in changed)
        assert row["n_typos"] == len(changed)
        if not first_letter_is_vowel(source["text"]):
            assert row["text"] == source["text"]
            continue
        eligible = sum(len(w) > 2 for w in before)
        # A chosen word may have no two different adjacent letters to swap ('too'); none such here.
        assert len(changed) == round(eligible * percent / 100)
        assert template.w_classifier(row) is True, "typos never change W"


def test_imdb_vowels_typos_are_seeded(models_dir):
    def texts(**options):
        return [r["text"] for r in build_with_fixtures("imdb_vowels", models_dir, typo_percent=30, **options).load_rows()]

    assert texts() == texts()
    assert texts() != texts(typo_seed=1)
    # The range is declared beside the option (CHECKS), and applied where config options are merged.
    import utils

    with pytest.raises(RateError, match=r"typo_percent: must be in \[0, 100\], got 130"):
        utils.merge_options({"typo_percent": 130}, imdb_vowels.OPTIONS, "rewrites.template_options", {},
                            imdb_vowels.CHECKS)


def test_swap_adjacent_skips_words_without_a_pair_to_swap():
    rng = random.Random(0)
    assert imdb_vowels.swap_adjacent("too", rng) is None
    assert imdb_vowels.swap_adjacent("abc", rng) == "acb"


# --- HelpSteer ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name,column", [("helpsteer_helpfulness", "helpfulness"), ("helpsteer_complexity", "complexity")])
def test_helpsteer_scores_3_4_are_w1_and_0_2_are_w0(models_dir, name, column):
    template = build_with_fixtures(name, models_dir)
    rows = template.load_rows()
    raws = raw("helpsteer.jsonl")
    assert [template.w_classifier(r) for r in rows] == [r[column] >= 3 for r in raws]
    assert [template.get_reward_question(r) for r in rows] == [r["prompt"] for r in raws]
    assert [template.get_original_completion(r) for r in rows] == [r["response"] for r in raws]
    for score, w in ((None, None), (5, None), (2.5, None)):
        assert template.w_classifier({**rows[0], column: score}) is w


def test_helpsteer_helpfulness_uses_the_original_prompt(models_dir):
    template = build_with_fixtures("helpsteer_helpfulness", models_dir)
    assert template.prompt_for("R", False) == (
        "R\n\nPlease adjust this response so it's curt and unhelpful, but change *nothing* else. Only provide the "
        "response text, not an acknowledgement of the request, the prompt or any other context.")


# --- HH-RLHF -----------------------------------------------------------------------------------

def original_last_turn(dialogue: str) -> tuple[str, str]:
    """The original code's rule for helpfulness, as its source reads: split once at the last
    "Assistant: ", strip both parts, and end the question with " Assistant: ". (A dialogue ending in
    an empty assistant turn has no response here; the original took the turn before.)"""
    if dialogue.rstrip().endswith("Assistant:"):
        return dialogue.strip(), ""
    before, after = dialogue.rsplit("Assistant: ", 1)
    return before.strip() + " Assistant: ", after.strip()


def original_first_exchange(dialogue: str) -> tuple[str, str]:
    """The original's rule for harmlessness and sentiment: the text after the first "Human: " up to
    the next "Assistant: ", and after the first "Assistant: " up to that piece's last "Human:"."""
    return (dialogue.split("Human: ")[1].split("Assistant: ")[0].strip(),
            dialogue.split("Assistant: ")[1].rsplit("Human:", 1)[0].strip())


@pytest.mark.parametrize("turn_format", ["original", "plain"])
def test_hh_rlhf_helpfulness_gives_two_examples_per_row(models_dir, turn_format):
    template = build_with_fixtures("hh_rlhf_helpfulness", models_dir, turn_format=turn_format)
    rows = by_id(template)
    raws = raw("hh_rlhf.jsonl")
    assert len(rows) == 2 * len(raws)
    for index, source in enumerate(raws):
        for side, w in (("chosen", True), ("rejected", False)):
            row = rows[f"hh-{index}-{side}"]
            dialogue = source[side]
            if turn_format == "original":  # the default: what the original's reward model read
                question, response = original_last_turn(dialogue)
                assert question.endswith(" Assistant: ") or not response
            else:
                cut = dialogue.rindex("\n\nAssistant:")
                question, response = dialogue[:cut].strip(), dialogue[cut + len("\n\nAssistant:"):].strip()
            assert template.get_original_completion(row) == response
            assert template.get_reward_question(row) == question
            assert template.w_classifier(row) is (w if response else None)


def test_hh_rlhf_question_keeps_the_earlier_turns():
    dialogue = "\n\nHuman: Hi\n\nAssistant: Hello!\n\nHuman: A joke?\n\nAssistant: Why did the chicken..."
    assert _hh_rlhf.last_turn(dialogue) == ("Human: Hi\n\nAssistant: Hello!\n\nHuman: A joke?", "Why did the chicken...")
    assert _hh_rlhf.first_exchange(dialogue) == ("Hi", "Hello!")


def test_hh_rlhf_helpfulness_takes_the_last_rows(models_dir):
    template = build_with_fixtures("hh_rlhf_helpfulness", models_dir, n_rows=3)
    n = len(raw("hh_rlhf.jsonl"))
    assert sorted(by_id(template)) == sorted(f"hh-{i}-{s}" for i in range(n - 3, n) for s in ("chosen", "rejected"))
    assert template.n_examples == 6


def test_hh_rlhf_harmlessness_is_the_first_rejected_replies_all_w1(models_dir):
    template = build_with_fixtures("hh_rlhf_harmlessness", models_dir, n_rows=6)
    raws = raw("hh_rlhf.jsonl")[:6]
    rows = template.load_rows()
    assert [template.get_id(r, i) for i, r in enumerate(rows)] == [f"hh-{i}-rejected" for i in range(6)]
    assert all(template.w_classifier(r) is True for r in rows)
    for row, source in zip(rows, raws):
        question, response = original_first_exchange(source["rejected"])
        assert (template.get_reward_question(row), template.get_original_completion(row)) == (question, response)
    multi_turn = next(i for i, r in enumerate(raws) if r["rejected"].count("\n\nHuman:") > 1)
    assert "Human:" not in template.get_original_completion(rows[multi_turn])


def test_hh_rlhf_sentiment_takes_w_from_the_classifier(models_dir, tmp_path):
    replies = ["the movie was wonderful", "the movie was terrible", "good", "", "awful"]
    path = tmp_path / "hh.jsonl"
    path.write_text("".join(json.dumps({"chosen": f"\n\nHuman: q{i}\n\nAssistant: fine",
                                        "rejected": f"\n\nHuman: q{i}\n\nAssistant: {reply}"}) + "\n"
                            for i, reply in enumerate(["unused"] + replies)))
    template = build_with_fixtures("hh_rlhf_sentiment", models_dir, local_path=str(path), n_rows=len(replies),
                                   sentiment_batch_size=2)
    rows = template.load_rows()
    assert [template.get_id(r, i) for i, r in enumerate(rows)] == [f"hh-{i}-rejected" for i in range(1, 6)]
    assert [template.w_classifier(r) for r in rows] == [True, False, True, None, False]
    assert [template.classify_text(t) for t in replies if t] == [True, False, True, False]


def test_hh_rlhf_sentiment_reads_w_from_the_whole_dialogue_as_the_original_did(models_dir, tmp_path):
    """The original classified the whole rejected dialogue and took the first exchange; a dialogue
    whose later turns carry the sentiment shows the difference from `exchange: last`."""
    dialogues = ["\n\nHuman: q\n\nAssistant: the movie\n\nHuman: and?\n\nAssistant: wonderful great perfect",
                 "\n\nHuman: q\n\nAssistant: good\n\nHuman: sure?\n\nAssistant: awful terrible worst hate"]
    path = tmp_path / "hh.jsonl"
    path.write_text("".join(json.dumps({"chosen": d, "rejected": d}) + "\n" for d in dialogues))
    first = build_with_fixtures("hh_rlhf_sentiment", models_dir, local_path=str(path), n_rows=2)
    last = build_with_fixtures("hh_rlhf_sentiment", models_dir, local_path=str(path), n_rows=2, exchange="last")
    judge = _sentiment.SentimentJudge({**_sentiment.OPTIONS, "sentiment_model": str(models_dir / "tiny_sentiment_classifier")})
    for template, texts in ((first, dialogues), (last, [d.rsplit("\n\nAssistant:", 1)[1].strip() for d in dialogues])):
        rows = template.load_rows()
        assert [template.w_classifier(r) for r in rows] == judge(texts)
    rows = first.load_rows()
    assert [(first.get_reward_question(r), first.get_original_completion(r)) for r in rows] == [
        original_first_exchange(d) for d in dialogues]
    assert [last.get_original_completion(r) for r in last.load_rows()] == ["wonderful great perfect",
                                                                         "awful terrible worst hate"]


# --- ELI5 --------------------------------------------------------------------------------------

def test_eli5_each_answer_is_an_example_split_at_the_median(models_dir):
    template = build_with_fixtures("eli5_length", models_dir)
    rows = by_id(template)
    raws = raw("eli5.jsonl")
    answers = [(q, j, t) for q in raws for j, t in enumerate(q["answers"]["text"])]
    median = statistics.median(len(t) for _, _, t in answers if t)
    assert len(rows) == len(answers)
    for q, j, text in answers:
        row = rows[f"eli5-{q['q_id']}-{j}"]
        assert template.get_reward_question(row) == q["title"]
        assert template.get_original_completion(row) == text
        assert template.w_classifier(row) is ((len(text) > median) if text else None)
    assert template.classify_text("x" * (int(median) + 1)) is True
    assert "do not answer it" in template.rewrite_prompt


def test_eli5_first_questions_and_fixed_median(models_dir, tmp_path):
    template = build_with_fixtures("eli5_length", models_dir, n_questions=2, median_chars=100)
    raws = raw("eli5.jsonl")[:2]
    rows = template.load_rows()
    assert len(rows) == sum(len(q["answers"]["text"]) for q in raws)
    assert [template.w_classifier(r) for r in rows] == [len(t) > 100 for q in raws for t in q["answers"]["text"]]
    # A median that is no number is refused where the config's options are merged (CHECKS), naming the file.
    import utils

    path = tmp_path / "eli5.yaml"
    path.write_text("rewrites:\n  dataset_name: eli5_length\n  template_options:\n    median_chars: long\n")
    with pytest.raises(RateError) as info:
        utils.build_from_module("dataset_templates", "eli5_length", "rewrites.dataset_name", "rewrites.template_options",
                                utils.load_config(path))
    assert str(info.value) == f"{path}: key 'rewrites.template_options.median_chars' must be int or float, got str 'long'"


def test_eli5_default_file_is_under_project_dir(project_dir):
    from dataset_templates import eli5_length

    template = eli5_length.build(dict(eli5_length.OPTIONS))
    with pytest.raises(RateError, match="local_path") as err:
        template.load_rows()
    assert str(project_dir / "data" / "ELI5" / "all.jsonl") in str(err.value)
    (project_dir / "data" / "ELI5").mkdir(parents=True)
    (project_dir / "data" / "ELI5" / "all.jsonl").write_text((DATASETS / "eli5.jsonl").read_text())
    assert len(eli5_length.build(dict(eli5_length.OPTIONS)).load_rows()) == sum(
        len(q["answers"]["text"]) for q in raw("eli5.jsonl"))


# --- Fidelity to the original code's templates (docs/original.md, "Differences from the original code") ---

def test_imdb_vowels_keeps_the_originals_strings_and_rate_unless_configured(models_dir):
    template = build_with_fixtures("imdb_vowels", models_dir)
    assert template.w_strings == {"w=1": "starts with a vowel", "w=0": "doesn't start with a vowel"}
    assert template.extra["typo_percent"] == 30.0
    other = build_with_fixtures("imdb_vowels", models_dir, w0_string="starts with a consonant", typo_percent=10)
    assert other.w_string(False) == "starts with a consonant" and other.extra["typo_percent"] == 10


@pytest.mark.parametrize("name, original", [
    ("imdb_length", "{original_completion}\n\n[Adjust this review so it's {w_counterfactual_string}, but change *nothing* else."),
    ("imdb_sentiment", "{original_completion}\n\n[Adjust this review so it's {w_counterfactual_string}, but change *nothing* else."),
    ("imdb_vowels", "{original_completion}\n\nAdjust this review so it {w_counterfactual_string}, but change *nothing* else "
                    "other than minor changes to make the first sentence grammatically correct."),
    ("hh_rlhf_sentiment", "{original_completion}\n\n[Adjust this response so it's {w_counterfactual_string}, but change "
                          "*nothing* else."),
    ("hh_rlhf_harmlessness", "{original_completion}\n\n[Adjust this response so it's {w_counterfactual_string}, but "
                             "change *nothing* else."),
    ("hh_rlhf_helpfulness", "{original_completion}\n\nAdjust this response so it's {w_counterfactual_string} than the "
                            "current response, but change *nothing* else. By \"helpful\", I mean informative, relevant "
                            "and clear."),
    ("eli5_length", "{original_completion}\n\n[Adjust this answer so it's {w_counterfactual_string}, but change *nothing* "
                    "else. If the above answer is phrased as a question do not answer it \u2014 just rewrite the question "
                    "following the same instructions.]"),
])
def test_original_prompt_restores_the_original_codes_prompt(models_dir, name, original):
    assert build_with_fixtures(name, models_dir, original_prompt=True).rewrite_prompt == original
    assert build_with_fixtures(name, models_dir).rewrite_prompt != original


def test_eli5_median_of_every_answer_as_the_original_took_it(models_dir):
    template = build_with_fixtures("eli5_length", models_dir, median_includes_empty=True)
    lengths = [len(t) for q in raw("eli5.jsonl") for t in q["answers"]["text"]]
    assert any(n == 0 for n in lengths), "the fixture should hold an empty answer"
    median = int(statistics.median(lengths))
    assert template.classify_text("x" * median) is False and template.classify_text("x" * (median + 1)) is True


@pytest.mark.parametrize("name, per_cluster", [("hh_rlhf_helpfulness", 2), ("eli5_length", None)])
def test_dependent_examples_share_a_cluster(models_dir, name, per_cluster):
    """The chosen and rejected reply of one dialogue, or the answers to one ELI5 question, are one
    cluster: treatment_effects.py then gives them cluster-robust SEs."""
    from collections import Counter

    from dataset_templates import _sampling

    template = build_with_fixtures(name, models_dir)
    examples, _ = _sampling.classify_rows(template)
    sizes = Counter(ex.cluster for ex in examples)
    assert None not in sizes and max(sizes.values()) > 1
    if per_cluster:
        assert set(sizes.values()) <= {1, per_cluster}
