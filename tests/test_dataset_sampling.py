"""Sampling (dataset_templates/_sampling.py: classify_rows and sample): seeded, smoke runs keep both W values, rows W
cannot be decided for are skipped and counted, ids stay unique; on the real templates' fixture rows."""

from __future__ import annotations

import pytest

from dataset_templates import _sampling
from dataset_templates._sampling import Example, classify_rows, sample
from dataset_fixtures import build_with_fixtures
from dataset_templates import DatasetTemplate
from utils import RateError


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("models")


def pool(n: int, n_w0: int = None) -> list[Example]:
    """n examples; the first n_w0 of them (default: every other one) have W=0."""
    return [Example(f"e{i}", (i >= n_w0) if n_w0 is not None else bool(i % 2), "q", f"text {i}") for i in range(n)]


def test_sample_is_seeded_sized_and_in_dataset_order():
    examples = pool(1000)
    first = sample(examples, 50, seed=7, need_both_w=False)
    assert first == sample(examples, 50, seed=7, need_both_w=False)
    assert first != sample(examples, 50, seed=8, need_both_w=False)
    ids = [ex.id for ex in first]
    assert len(set(ids)) == 50
    assert ids == sorted(ids, key=lambda i: int(i[1:]))


def test_sample_takes_everything_when_asked_for_more():
    examples = pool(20)
    assert sample(examples, 25, seed=0, need_both_w=True) == examples


def test_smoke_sample_keeps_both_w_values_even_when_one_is_rare():
    examples = pool(3000, n_w0=2)  # two W=0 examples among 3,000
    plain = [len({ex.w for ex in sample(examples, 30, seed, need_both_w=False)}) for seed in range(20)]
    assert plain.count(1) > 15, "without the smoke rule a small sample usually misses the rare value"
    for seed in range(20):
        smoke = sample(examples, 30, seed, need_both_w=True)
        assert len(smoke) == 30 and len({ex.id for ex in smoke}) == 30
        assert {ex.w for ex in smoke} == {True, False}


def test_smoke_sample_of_an_att_only_dataset_is_fine():
    examples = [Example(f"e{i}", True, "q", "t") for i in range(100)]
    assert len(sample(examples, 30, seed=1, need_both_w=True)) == 30


def test_unclassifiable_rows_are_skipped_and_counted(models_dir):
    template = build_with_fixtures("hh_rlhf_helpfulness", models_dir)
    rows = template.load_rows()
    undecided = sum(template.w_classifier(r) is None for r in rows)
    assert undecided >= 1, "the fixture holds a dialogue whose last assistant turn is empty"
    examples, unclassified = classify_rows(template)
    assert unclassified == undecided and len(examples) + unclassified == len(rows)
    assert all(ex.original for ex in examples)
    assert {ex.w for ex in examples} == {True, False}


@pytest.mark.parametrize("name", ["imdb_length", "helpsteer_helpfulness", "eli5_length", "hh_rlhf_harmlessness"])
def test_real_templates_sample_reproducibly(models_dir, name):
    examples, _ = classify_rows(build_with_fixtures(name, models_dir))
    again, _ = classify_rows(build_with_fixtures(name, models_dir))
    assert examples == again
    n = max(2, len(examples) // 2)
    assert sample(examples, n, 42, True) == sample(again, n, 42, True)
    if len({ex.w for ex in examples}) == 2:
        assert {ex.w for ex in sample(examples, 2, 42, True)} == {True, False}


def test_duplicate_ids_are_a_template_error():
    template = DatasetTemplate(
        name="dupes", load_rows=lambda: [{"id": "a", "t": "x"}, {"id": "a", "t": "y"}], n_examples=2,
        w_strings={"w=1": "a", "w=0": "b"}, w_classifier=lambda row: True, get_reward_question=lambda row: "",
        get_original_completion=lambda row: row["t"], rewrite_prompt="{original_completion}{w_counterfactual_string}")
    with pytest.raises(RateError, match="duplicate id 'a'"):
        _sampling.classify_rows(template)


def test_a_real_template_from_the_command_line(project_dir):
    """Template options from the command line reach the template; sampling and skip counts show in
    the log. A dry run sends nothing, so no server is needed."""
    from conftest import REPO, run_script
    from dataset_fixtures import DATASETS

    done = run_script("create_dataset.py", "--config", str(REPO / "configs" / "hh_rlhf_helpfulness_armorm.yaml"),
                      f"--rewrites.template_options.local_path={DATASETS / 'hh_rlhf.jsonl'}",
                      "--rewrites.template_options.n_rows=6", "--rewrites.n_examples=5", "--rewrites.dry_run=true",
                      env={"OPENAI_API_KEY": ""})
    assert done.returncode == 0, done.stderr[-2000:]
    assert "11 rows classified (1 skipped: W undecided); sampled 5" in done.stderr


def test_smoke_sample_keeps_two_of_the_rarer_w():
    # only 2 of 200 examples have W=0: every smoke sample of 10 must hold both
    examples = [_sampling.Example(str(i), i not in (3, 150), "q", "a") for i in range(200)]
    for seed in range(20):
        chosen = _sampling.sample(examples, 10, seed, need_both_w=True)
        assert len(chosen) == 10 and len({ex.id for ex in chosen}) == 10
        assert sum(not ex.w for ex in chosen) == 2
        assert [ex.id for ex in chosen] == sorted((ex.id for ex in chosen), key=int)
