"""The contract every dataset template meets. A new file in dataset_templates/ is picked up here
with no list to edit."""

from __future__ import annotations

import pytest

from dataset_templates import DatasetTemplate
from template_contract import build, modules


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
