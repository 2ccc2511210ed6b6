"""Every shipped config is valid, and README or a page under docs/ names each one."""

from __future__ import annotations

import pytest

import utils
from conftest import REPO

CONFIGS = sorted((REPO / "configs").glob("*.yaml"))
DOCS = (REPO / "README.md", *sorted((REPO / "docs").glob("*.md")))


def test_there_are_real_experiment_configs():
    assert len(CONFIGS) >= 5


@pytest.mark.parametrize("path", [REPO / "config.yaml", *CONFIGS], ids=lambda p: p.name)
def test_config_loads_against_the_schema(path):
    cfg = utils.load_config(path)
    assert cfg["rewrites"]["dataset_name"]
    assert cfg["scoring"]["model"]


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_readme_mentions_each_config(path):
    assert any(f"configs/{path.name}" in page.read_text() for page in DOCS), f"no page names configs/{path.name}"


def test_default_config_needs_only_the_repository():
    cfg = utils.load_config(REPO / "config.yaml")
    for package, name in (("dataset_templates", cfg["rewrites"]["dataset_name"]),
                          ("rewriters", cfg["rewrites"]["backend"]),
                          ("scoring_templates", cfg["scoring"]["model"])):
        assert (REPO / package / f"{name}.py").is_file(), (package, name)
