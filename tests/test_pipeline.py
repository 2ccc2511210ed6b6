"""The embedded default end to end, the way a user runs it: four scripts, one config, no network."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, run_process, run_script

PHASES = ["create_dataset.py", "score_dataset.py", "treatment_effects.py", "visualize.py"]


def run_pipeline(*args: str) -> list[subprocess.CompletedProcess]:
    done = []
    for script in PHASES:
        result = run_script(script, "--config", str(REPO / "config.yaml"), *args)
        assert result.returncode == 0, f"{script} failed:\n{result.stderr[-3000:]}"
        done.append(result)
    return done


def only(folder: Path, pattern: str) -> Path:
    found = sorted(p for p in folder.glob(pattern) if not p.name.endswith(".meta.json"))
    assert len(found) == 1, (pattern, found)
    return found[0]


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """One full run of the demo config in a fresh PROJECT_DIR, shared by the tests below."""
    project = tmp_path_factory.mktemp("demo") / "project"
    old = os.environ.get("PROJECT_DIR")
    os.environ["PROJECT_DIR"] = str(project)
    try:
        results = run_pipeline()
    finally:
        if old is None:
            del os.environ["PROJECT_DIR"]
        else:
            os.environ["PROJECT_DIR"] = old
    return project, results


@pytest.mark.slow
def test_every_phase_writes_its_output_and_sidecar(demo):
    project, _ = demo
    outputs = [
        only(project / "data/rewrites", "synthetic_sentiment_dataset_*.jsonl"),
        only(project / "data/scored", "synthetic_sentiment_vader_scored_*.jsonl"),
        only(project / "effects", "synthetic_sentiment_vader_treatment_effects_*.json"),
        only(project / "plots", "synthetic_sentiment_vader_estimates_*.png"),
    ]
    for output in outputs:
        assert output.stat().st_size > 0
        meta = json.loads(output.with_name(output.stem + ".meta.json").read_text())
        assert meta["output"] == str(output)
        assert meta["config"]["rewrites"]["dataset_name"] == "synthetic_sentiment"
        assert meta["started_at"] <= meta["finished_at"]
    # each phase's sidecar names the previous phase's output as its input
    for earlier, later in zip(outputs, outputs[1:]):
        meta = json.loads(later.with_name(later.stem + ".meta.json").read_text())
        assert [item["path"] for item in meta["inputs"]] == [str(earlier)]
    assert not list(project.rglob(".*.tmp")), "temporary files left behind"


@pytest.mark.slow
def test_records_keep_the_original_rate_format(demo):
    project, _ = demo
    records = read_jsonl(only(project / "data/scored", "*.jsonl"))
    assert len(records) == 2000
    for record in records[:50]:
        assert isinstance(record["w_original"], bool)
        assert record["reward_question"] == "Write a movie review: "
        assert {"original", "rewrite", "rewritten rewrite", "oracle counterfactual"} <= set(record["completions"])
        assert set(record["vader"]) == set(record["completions"])
    assert {r["w_original"] for r in records} == {True, False}


@pytest.mark.slow
def test_rate_covers_the_truth_while_naive_and_single_rewrite_miss_it(demo):
    project, _ = demo
    effects = json.loads(only(project / "effects", "*_treatment_effects_*.json").read_text())
    truth = effects["ground_truth"]
    rows = {(r["estimator"], r["estimand"]): r for r in effects["estimates"]}
    for estimand in ("ATE", "ATT", "ATU"):
        rate = rows[("RATE", estimand)]
        assert rate["ci_low"] <= truth[estimand] <= rate["ci_high"], estimand
        single = rows[("single rewrite", estimand)]
        assert not single["ci_low"] <= truth[estimand] <= single["ci_high"], estimand
    naive = rows[("naive", "ATE")]
    assert not naive["ci_low"] <= truth["ATE"] <= naive["ci_high"]
    for key in ("naive_effect", "ATE_single_rewrite", "ATT_single_rewrite", "ATU_single_rewrite",
                "ATE_rewritten_rewrite", "ATT_rewritten_rewrite", "ATU_rewritten_rewrite"):
        assert isinstance(effects[key], float) and isinstance(effects[f"{key}_stderr"], float)
    assert effects["Y1_count"] + effects["Y0_count"] == 2000 and effects["reward_std"] > 0


@pytest.mark.slow
def test_visualize_prints_the_table_and_every_file(demo):
    project, results = demo
    printed = results[-1].stdout
    assert "| RATE | ATE |" in printed and "| naive | ATE |" in printed
    for folder in ("plots", "effects", "data/scored", "data/rewrites"):
        assert str(project / folder) in printed


@pytest.mark.slow
def test_smoke_run_is_small_marked_and_never_mixed_with_full_runs(project_dir):
    run_pipeline()
    run_pipeline("--smoke_test=true")
    smoke = only(project_dir / "data/rewrites", "*_smoke_test_*.jsonl")
    records = read_jsonl(smoke)
    assert len(records) == 30 and {r["w_original"] for r in records} == {True, False}
    for folder, pattern in (("data/scored", "*_smoke_test_*.jsonl"), ("effects", "*_smoke_test_*.json"),
                            ("plots", "*_smoke_test_*.png")):
        smoke_output = only(project_dir / folder, pattern)
        meta = json.loads(smoke_output.with_name(smoke_output.stem + ".meta.json").read_text())
        assert all("_smoke_test_" in Path(item["path"]).name for item in meta["inputs"])
    report = only(project_dir / "plots", "*_report_smoke_test_*.md")
    assert re.search(r"\| examples asked +\| 30 +\|", report.read_text())
    # the smoke files are newer, yet a full run's `latest` still takes the full ones
    result = run_script("treatment_effects.py", "--config", str(REPO / "config.yaml"))
    assert result.returncode == 0, result.stderr
    full_scored = only(project_dir / "data/scored", "synthetic_sentiment_vader_scored_2*.jsonl")
    assert f"resolved to {full_scored}" in result.stderr


@pytest.mark.slow
def test_failed_rewrites_are_recorded_and_dropped_not_scored_as_text(project_dir):
    run_pipeline("--rewrites.n_examples=300", "--rewrites.backend_options.failure_rate=0.1")
    records = read_jsonl(only(project_dir / "data/scored", "*.jsonl"))
    failed = [r for r in records if r.get("failures")]
    assert failed
    for record in failed:
        assert record["completions"]["rewrite"] is None or record["completions"]["rewritten rewrite"] is None
        assert all(isinstance(reason, str) and reason for reason in record["failures"].values())
        assert set(record["vader"]) == {k for k, v in record["completions"].items() if v is not None}
    effects = json.loads(only(project_dir / "effects", "*.json").read_text())
    assert effects["dropped"] == {"failed rewrite": len(failed)}
    assert effects["Y1_count"] + effects["Y0_count"] == 300 - len(failed)


@pytest.mark.slow
def test_make_demo_runs_the_pipeline_and_prints_where_outputs_are(project_dir):
    if not (REPO / ".venv/bin/python").exists():
        pytest.skip("make demo needs the .venv that `make` builds")
    result = subprocess.run(["make", "--no-print-directory", "demo", "ARGS=--rewrites.n_examples=200"], cwd=REPO,
                            capture_output=True, text=True, timeout=600, env={**os.environ, "RUN": "local"})
    assert result.returncode == 0, result.stderr[-3000:]
    assert "| RATE | ATE |" in result.stdout
    assert str(only(project_dir / "plots", "*.png")) in result.stdout


@pytest.mark.slow
def test_the_scripts_that_run_many_phases_run_as_scripts(project_dir):
    """The other tests call run_experiments' and run_audit's main() in-process; this runs each file as a
    user does, which the in-process runs cannot show (its imports, its exit code, its workers)."""
    sweep = run_process("run_experiments.py", "--smoke", "--only", "typos", "--replicates", "2")
    assert sweep.returncode == 0, sweep.stderr[-3000:]
    assert only(project_dir / "experiments", "typos_experiment_smoke_test_*.csv").stat().st_size > 0
    plan = run_process("run_audit.py", "--config", str(REPO / "configs/audits/offline.yaml"), "--smoke_test=true",
                       "--plan")
    assert plan.returncode == 0, plan.stderr[-3000:]
    assert plan.stdout.count("create_dataset.py --config") == 3 and "treatment_effects.py" in plan.stdout


def test_scripts_explain_themselves():
    for script in PHASES:
        result = subprocess.run([sys.executable, str(REPO / script), "--help"], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        assert f"python {script} --config" in result.stdout
