"""The contract every scoring template meets, found by file name in scoring_templates/."""

from __future__ import annotations

import math

import pytest

from scoring_templates import RewardModel
from template_contract import build, modules


@pytest.mark.parametrize("name", modules("scoring_templates"))
def test_scoring_template_contract(name):
    model = build("scoring_templates", name)
    assert isinstance(model, RewardModel)
    assert model.name == name and model.reward_key
    questions = ["Write a movie review: "] * 3
    texts = ["The acting was wonderful.", "The plot was dull and the pacing awful.", "It has subtitles."]
    scores = model.score_batch(questions, texts)
    assert len(scores) == 3 and all(math.isfinite(s) for s in scores)
    one_by_one = [model.score_batch([q], [t])[0] for q, t in zip(questions, texts)]
    assert one_by_one == pytest.approx(scores, abs=1e-6), "a reward must not depend on its batch"
