"""One contract for every dataset template, scoring template and rewriter backend, found by file name.

A new template file is picked up here with no list to edit."""

from __future__ import annotations

import importlib
import math
import random
from pathlib import Path

import pytest

import utils
from dataset_templates import DatasetTemplate
from rewriters import RewriteRequest
from scoring_templates import RewardModel

REPO = Path(__file__).resolve().parent.parent


def modules(package: str) -> list[str]:
    return sorted(p.stem for p in (REPO / package).glob("*.py") if not p.stem.startswith("_"))


def build(package: str, name: str, *args):
    module = importlib.import_module(f"{package}.{name}")
    assert isinstance(module.OPTIONS, dict)
    return module.build(dict(module.OPTIONS), *args)


def test_each_package_has_templates():
    assert "synthetic_sentiment" in modules("dataset_templates")
    assert "vader" in modules("scoring_templates")
    assert "simulated" in modules("rewriters")


@pytest.mark.parametrize("name", modules("dataset_templates"))
def test_dataset_template_contract(name):
    template = build("dataset_templates", name)
    assert isinstance(template, DatasetTemplate)
    assert template.name == name, "file name, template key and output name must agree"
    assert set(template.w_strings) == {"w=1", "w=0"}
    assert template.n_examples > 0
    prompt = template.prompt_for("ORIGINAL TEXT", True)
    assert "ORIGINAL TEXT" in prompt and template.w_strings["w=1"] in prompt
    rows = list(template.load_rows())
    assert rows
    ids = [template.get_id(row, i) for i, row in enumerate(rows)]
    assert len(set(ids)) == len(ids), "example ids must be unique"
    for row in rows[:50]:
        assert template.w_classifier(row) in (True, False, None)
        assert isinstance(template.get_reward_question(row), str)
        assert isinstance(template.get_original_completion(row), str) and template.get_original_completion(row)
    if template.oracle_counterfactual is not None and template.classify_text is not None:
        for row in rows[:50]:
            w = template.w_classifier(row)
            if w is not None:
                flipped = template.oracle_counterfactual(template.get_original_completion(row), not w)
                assert template.classify_text(flipped) is (not w)


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


def test_simulated_backend_is_order_independent_and_records_failures():
    template = build("dataset_templates", "synthetic_sentiment")
    rows = template.load_rows()[:40]
    requests = [RewriteRequest(f"{r['id']}:rewrite", "", r["text"], not r["label"]) for r in rows]
    backend = build("rewriters", "simulated", template, "simulated", 0.0, 7)
    forward = backend.rewrite(requests)
    backward = backend.rewrite(list(reversed(requests)))
    assert {k: v.text for k, v in forward.items()} == {k: v.text for k, v in backward.items()}
    assert all(result.ok and result.failure is None for result in forward.values())

    failing = importlib.import_module("rewriters.simulated").build({"failure_rate": 1.0}, template, "m", 0.0, 7)
    results = failing.rewrite(requests)
    assert all(result.text is None and result.failure == "simulated failure" for result in results.values())


def test_simulated_backend_refuses_a_template_it_cannot_rewrite():
    template = build("dataset_templates", "synthetic_sentiment")
    plain = DatasetTemplate(**{**template.__dict__, "simulate_rewrite": None})
    with pytest.raises(utils.RateError, match="defines no simulate_rewrite"):
        build("rewriters", "simulated", plain, "m", 0.0, 0)


def test_same_seed_same_rewrite_different_seed_different_rewrite():
    template = build("dataset_templates", "synthetic_sentiment")
    rows = template.load_rows()[:60]
    requests = [RewriteRequest(r["id"], "", r["text"], not r["label"]) for r in rows]
    a = build("rewriters", "simulated", template, "m", 0.0, 1).rewrite(requests)
    b = build("rewriters", "simulated", template, "m", 0.0, 1).rewrite(requests)
    c = build("rewriters", "simulated", template, "m", 0.0, 2).rewrite(requests)
    assert {k: v.text for k, v in a.items()} == {k: v.text for k, v in b.items()}
    assert {k: v.text for k, v in a.items()} != {k: v.text for k, v in c.items()}
    assert random.Random("1:x").random() == random.Random("1:x").random()
