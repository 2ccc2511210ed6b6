"""Importing any script, template or backend does no work: no files, no folders, no logging set-up,
no heavy library loaded. Run in a fresh interpreter so earlier tests cannot hide a side effect."""

from __future__ import annotations

import pytest

import json
import os
import subprocess
import sys

from conftest import REPO

PROBE = r"""
import importlib, json, logging, os, sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])
names = ["utils", "create_dataset", "score_dataset", "treatment_effects", "visualize", "run_experiments", "run_audit"]
for package in ("phases", "dataset_templates", "scoring_templates", "rewriters", "judges", "estimation", "reporting",
                "local_llm", "experiments", "audit"):
    names.append(package)
    names += [f"{package}.{p.stem}" for p in sorted((Path(sys.argv[1]) / package).glob("*.py")) if not p.stem.startswith("_")]
for name in names:
    importlib.import_module(name)
print(json.dumps({"imported": names, "root_handlers": len(logging.getLogger().handlers),
                  "heavy": sorted(m for m in ("vaderSentiment.vaderSentiment", "spellchecker", "matplotlib.pyplot", "torch",
                                              "transformers", "openai") if m in sys.modules)}))
"""


@pytest.mark.slow
def test_importing_everything_has_no_side_effects(tmp_path):
    project = tmp_path / "project"
    env = {**os.environ, "PROJECT_DIR": str(project)}
    done = subprocess.run([sys.executable, "-c", PROBE, str(REPO)], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert "dataset_templates.synthetic_sentiment" in report["imported"]
    assert report["root_handlers"] == 0, "logging.basicConfig belongs in main()"
    assert report["heavy"] == [], "reward models and plotting libraries load when built, not when imported"
    assert list(tmp_path.iterdir()) == [], "importing wrote into the working directory or created PROJECT_DIR"


def test_scripts_are_run_never_imported_and_bench_is_no_library():
    """The four scripts are entry points: no script, test or benchmark imports one of them, and no test
    imports bench/ (what both need lives in a package)."""
    import ast

    scripts = {"create_dataset", "score_dataset", "treatment_effects", "visualize", "run_experiments", "run_audit"}
    for path in [*(REPO / "tests").glob("*.py"), *(REPO / "bench").glob("*.py"), *(REPO / f"{p}.py" for p in scripts),
                 *(REPO / "experiments").glob("*.py"), *(REPO / "audit").glob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                top = name.split(".")[0]
                assert top not in scripts, f"{path.name} imports the script {name}"
                assert not (path.parent.name == "tests" and top == "bench"), f"{path.name} imports {name}"


def test_each_script_is_its_usage_and_a_call_of_one_main():
    """A script is a docstring with its usage and the few lines that run its module's main(argv); the
    phases are modules that never import one another (what two of them need lives in a package)."""
    import ast

    mains = {"create_dataset": "phases", "score_dataset": "phases", "treatment_effects": "phases", "visualize": "phases",
             "run_experiments": "experiments", "run_audit": "audit"}
    for script, package in mains.items():
        text = (REPO / f"{script}.py").read_text()
        tree = ast.parse(text)
        assert len(text.splitlines()) <= 80 and "Usage:" in ast.get_docstring(tree), script
        assert [n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))] == [], script
        imported = {(node.module, alias.name) for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                    for alias in node.names}
        assert imported == {(package, script if package == "phases" else "cli")}, (script, imported)
        assert "utils.run_cli(" in text, script
    phases = {p.stem for p in (REPO / "phases").glob("*.py") if p.stem != "__init__"}
    assert phases == {s for s, package in mains.items() if package == "phases"}
    for phase in phases:
        for node in ast.walk(ast.parse((REPO / "phases" / f"{phase}.py").read_text())):
            module = node.module if isinstance(node, ast.ImportFrom) else None
            assert module != "phases" and not (module or "").startswith("phases."), f"phases/{phase}.py imports {module}"
