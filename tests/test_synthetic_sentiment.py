"""The offline default's design: what makes its ground truth exact and its confounding real."""

from __future__ import annotations

import random
import re

import pytest
from spellchecker import SpellChecker
from vaderSentiment.vaderSentiment import BOOSTER_DICT, NEGATE, SentimentIntensityAnalyzer

import dataset_templates.synthetic_sentiment as synth
import scoring_templates.vader as vader_template

VADER = SentimentIntensityAnalyzer()
MEANINGFUL_TO_VADER = set(VADER.lexicon) | set(NEGATE) | set(BOOSTER_DICT)
DICTIONARY = SpellChecker()


def words(text):
    return [w.lower() for w in re.findall(r"[A-Za-z]+", text)]


@pytest.fixture(scope="module")
def template():
    return synth.build(dict(synth.OPTIONS))


@pytest.fixture(scope="module")
def rows(template):
    return template.load_rows()


def filler_words():
    return sorted({w for pair in synth.FILLERS for text in pair for w in words(text)})


def test_fillers_and_their_typos_mean_nothing_to_vader():
    for word in filler_words():
        assert word not in MEANINGFUL_TO_VADER, word
        for typo in synth.typo_variants(word):
            assert typo not in MEANINGFUL_TO_VADER, (word, typo)


def test_bank_is_spelled_right_and_every_typo_is_a_misspelling():
    bank = {w for pair in synth.ASPECTS + synth.FILLERS for text in pair for w in words(text)}
    assert DICTIONARY.unknown(bank) == set()
    typos = {t for w in filler_words() for t in synth.typo_variants(w)}
    assert typos and DICTIONARY.known(typos) == set()


def test_every_typo_is_fixed_back_to_its_word():
    for word in filler_words():
        for typo in synth.typo_variants(word):
            assert synth.fix_typos(typo) == word
            assert synth.fix_typos(typo.capitalize()) == word.capitalize()


def test_aspect_twins_have_opposite_vader_sentiment():
    for positive, negative in synth.ASPECTS:
        assert VADER.polarity_scores(positive)["compound"] > 0.3, positive
        assert VADER.polarity_scores(negative)["compound"] < -0.2, negative


def test_vader_score_depends_on_aspect_sentences_only(rows):
    for row in rows[:300]:
        aspects = " ".join(s for s in synth.split_sentences(row["text"]) if s in synth.ASPECT_SIDE)
        assert VADER.polarity_scores(row["text"])["compound"] == VADER.polarity_scores(aspects)["compound"]


def test_oracle_counterfactual_flips_w_and_nothing_else(rows):
    for row in rows[:300]:
        w = bool(row["label"])
        counterfactual = synth.oracle_counterfactual(row["text"], not w)
        assert synth.classify_text(row["text"]) is w
        assert synth.classify_text(counterfactual) is (not w)
        before, after = synth.split_sentences(row["text"]), synth.split_sentences(counterfactual)
        assert len(before) == len(after)
        changed = [(a, b) for a, b in zip(before, after) if a != b]
        assert changed and all(a in synth.ASPECT_SIDE and b in synth.ASPECT_SIDE for a, b in changed)


def test_simulated_rewrite_flips_w_fixes_typos_and_only_rewords_fillers(template, rows):
    with_typos = [row for row in rows if row["n_typos"] > 0][:200]
    assert with_typos
    for row in with_typos:
        w = bool(row["label"])
        rewrite = template.simulate_rewrite(row["text"], not w, random.Random(row["id"]))
        assert synth.classify_text(rewrite) is (not w)
        assert DICTIONARY.unknown(words(rewrite)) == set()
        for sentence in synth.split_sentences(rewrite):
            assert sentence in synth.ASPECT_SIDE or sentence in synth.FILLER_SIDE


def test_length_and_typos_are_confounded_with_w(rows):
    def mean(values):
        return sum(values) / len(values)

    positive = [r for r in rows if r["label"] == 1]
    negative = [r for r in rows if r["label"] == 0]
    assert mean([len(words(r["text"])) for r in positive]) > mean([len(words(r["text"])) for r in negative]) + 5
    typo_share_pos = mean([r["n_typos"] > 0 for r in positive])
    typo_share_neg = mean([r["n_typos"] > 0 for r in negative])
    assert typo_share_neg - typo_share_pos > 0.4


@pytest.mark.slow
def test_typo_count_matches_what_the_reward_model_penalises(rows):
    for row in rows[:300]:
        assert sum(w in DICTIONARY.unknown(words(row["text"])) for w in words(row["text"])) == row["n_typos"]


def test_reward_is_additive_so_rate_differences_track_the_truth(template, rows):
    """Per example, RATE's difference minus the true difference is exactly the length term of the second
    rewrite's rewording: the only thing left that RATE does not cancel, and it averages to zero."""
    model = vader_template.build(dict(vader_template.OPTIONS))
    weight = vader_template.OPTIONS["length_weight"]
    for row in rows[:200]:
        w = bool(row["label"])
        rng = random.Random(row["id"])
        rewrite = template.simulate_rewrite(row["text"], not w, rng)
        back = template.simulate_rewrite(rewrite, w, rng)
        oracle = synth.oracle_counterfactual(row["text"], not w)
        r_orig, r_rew, r_back, r_oracle = model.score_batch([""] * 4, [row["text"], rewrite, back, oracle])
        sign = 1 if w else -1
        rate_diff, true_diff = sign * (r_back - r_rew), sign * (r_orig - r_oracle)
        reworded = len(words(back)) - len(words(synth.oracle_counterfactual(rewrite, w)))
        assert rate_diff - true_diff == pytest.approx(sign * weight * reworded, abs=1e-9)
