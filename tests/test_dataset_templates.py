"""The contract every dataset template meets, run on fixture rows in the real dataset's schema. A new
file in dataset_templates/ is picked up here with no list to edit; a template that reads a dataset
declares `FIXTURE` (see tests/dataset_fixtures.py) to say which stand-ins the test hands it."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys

import pytest

from conftest import REPO
from dataset_fixtures import build_with_fixtures
from dataset_templates import DEFAULT_REWRITER_MODEL, DEFAULT_REWRITER_TEMPERATURE, DatasetTemplate
from template_contract import build, modules

LOADER_OPTIONS = {"local_path", "hf_dataset", "hf_split"}
TEMPLATES = modules("dataset_templates")
# Templates of a named dataset read it through the standard loader options; `custom` reads whatever file
# its user names (`path`), so it has no default source to check here (tests/test_custom_dataset.py).
DATA_BACKED = [n for n in TEMPLATES if "local_path" in importlib.import_module(f"dataset_templates.{n}").OPTIONS]


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("models")


def test_each_package_has_templates():
    assert "synthetic_sentiment" in modules("dataset_templates")
    assert "vader" in modules("scoring_templates")
    assert "simulated" in modules("rewriters")


def test_every_dataset_of_the_original_work_has_a_template():
    expected = {"imdb_sentiment", "imdb_length", "imdb_vowels", "helpsteer_helpfulness", "helpsteer_complexity",
                "hh_rlhf_helpfulness", "hh_rlhf_harmlessness", "hh_rlhf_sentiment", "eli5_length"}
    assert expected <= set(TEMPLATES)
    assert expected <= set(DATA_BACKED), "these read a real dataset and must say where from"


@pytest.mark.parametrize("name", DATA_BACKED)
def test_data_backed_templates_declare_their_loader_and_fixture(name):
    module = importlib.import_module(f"dataset_templates.{name}")
    assert LOADER_OPTIONS <= set(module.OPTIONS), "hf_dataset, hf_split and local_path are the standard loader options"
    assert module.OPTIONS["hf_dataset"] or module.OPTIONS["local_path"], "a default place to read the data from"
    assert "local_path" in getattr(module, "FIXTURE", {}), "the conformance test needs a fixture file for it"
    template = module.build(dict(module.OPTIONS))
    assert template.model == DEFAULT_REWRITER_MODEL and template.temperature == DEFAULT_REWRITER_TEMPERATURE
    assert template.backend == "openai_batch" and template.backend in modules("rewriters")
    assert "source" in template.extra


def options_for(name: str, models_dir):
    module = importlib.import_module(f"dataset_templates.{name}")
    return build_with_fixtures(name, models_dir) if hasattr(module, "FIXTURE") else build("dataset_templates", name)


@pytest.mark.slow
@pytest.mark.parametrize("name", TEMPLATES)
def test_dataset_template_contract(name, models_dir):
    template = options_for(name, models_dir)
    assert isinstance(template, DatasetTemplate)
    assert template.name == name, "file name, template key and output name must agree"
    assert set(template.w_strings) == {"w=1", "w=0"}
    assert template.n_examples > 0
    assert isinstance(template.model, str) and isinstance(template.temperature, float)
    assert "{original_completion}" in template.rewrite_prompt and "{w_counterfactual_string}" in template.rewrite_prompt
    for target in (True, False):
        prompt = template.prompt_for("ORIGINAL TEXT", target)
        assert "ORIGINAL TEXT" in prompt and template.w_string(target) in prompt
    rows = list(template.load_rows())
    assert rows
    ids = [template.get_id(row, i) for i, row in enumerate(rows)]
    assert len(set(ids)) == len(ids), "example ids must be unique"
    decided = []
    for row in rows[:50]:
        w = template.w_classifier(row)
        assert w in (True, False, None)
        if w is not None:
            decided.append((row, w))
            assert isinstance(template.get_reward_question(row), str)
            assert isinstance(template.get_original_completion(row), str) and template.get_original_completion(row)
    assert decided, "the fixture rows must give at least one example with a definite W"
    if template.classify_text is not None:
        for row, _ in decided[:5]:
            assert template.classify_text(template.get_original_completion(row)) in (True, False, None)
    if template.classify_texts is not None:
        texts = [template.get_original_completion(row) for row, _ in decided[:5]]
        found = template.classify_texts(texts)
        assert len(found) == len(texts)
        for text, (w, confidence) in zip(texts, found):
            assert w is template.classify_text(text), "the batch rule and the one-text rule must agree"
            assert w is None or 0.5 <= confidence <= 1.0
    if template.rewrite_check is not None:
        for row, _ in decided[:5]:
            text = template.get_original_completion(row)
            assert template.rewrite_check(text, text) is None, "a text that keeps its form passes the check"
    if template.get_cluster is not None:
        clusters = [template.get_cluster(row) for row, _ in decided]
        assert all(isinstance(c, str) and c for c in clusters)
        assert len(set(clusters)) > 1, "one cluster of everything leaves no independent units"
    if template.oracle_counterfactual is not None and template.classify_text is not None:
        for row, w in decided:
            flipped = template.oracle_counterfactual(template.get_original_completion(row), not w)
            assert template.classify_text(flipped) is (not w)


PROBE = r"""
import importlib, json, sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])
built = []
for p in sorted((Path(sys.argv[1]) / "dataset_templates").glob("*.py")):
    if not p.stem.startswith("_"):
        module = importlib.import_module(f"dataset_templates.{p.stem}")
        # a template with no default source (custom) is given its fixture file, which building must not read
        fixtures = Path(sys.argv[1]) / "tests" / "fixtures" / "datasets"
        unread = {k: str(fixtures / v) for k, v in getattr(module, "FIXTURE", {}).items() if module.OPTIONS[k] is None}
        options = {**module.OPTIONS, **getattr(module, "FIXTURE_OPTIONS", {}), **unread}
        built.append(module.build(options).name)
print(json.dumps({"built": built, "heavy": sorted(m for m in ("torch", "transformers", "datasets") if m in sys.modules)}))
"""


def test_building_a_template_reads_and_loads_nothing(tmp_path):
    """Building happens for every run and for --dry_run; the data and models wait for load_rows()."""
    env = {**os.environ, "PROJECT_DIR": str(tmp_path / "project")}
    done = subprocess.run([sys.executable, "-c", PROBE, str(REPO)], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(report["built"]) == set(TEMPLATES)
    assert report["heavy"] == []
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("path", sorted((REPO / "configs").glob("*.yaml")), ids=lambda p: p.name)
def test_configs_name_existing_templates(path):
    import utils

    name = utils.load_config(path)["rewrites"]["dataset_name"]
    assert name in TEMPLATES, f"{path.name} names dataset template {name!r}, which has no file"
    assert path.stem.startswith(name + "_"), "config files are named <dataset template>_<reward model>.yaml"
