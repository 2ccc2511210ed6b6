"""Rewrite efficacy gates the estimate (estimation/gate.py), run as a user would: the offline demo with a
simulated rewriter that ignores the ask in half of its requests (backend_options.miss_rate)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import REPO, run_script

BASE = ["--config", str(REPO / "config.yaml"), "--rewrites.n_examples=400"]


def phase(script: str, *extra: str):
    return run_script(script, *BASE, *extra)


def effects_of(done) -> dict:
    assert done.returncode == 0, done.stderr[-3000:]
    path = next(Path(line) for line in done.stdout.splitlines() if line.endswith(".json"))
    return json.loads(path.read_text())


@pytest.fixture
def half_missed(project_dir):
    for script in ("create_dataset.py", "score_dataset.py"):
        done = phase(script, "--rewrites.backend_options.miss_rate=0.5")
        assert done.returncode == 0, done.stderr[-3000:]
    return project_dir


def row(effects: dict, estimator: str, estimand: str) -> dict:
    return next(r for r in effects["estimates"] if r["estimator"] == estimator and r["estimand"] == estimand)


@pytest.mark.slow
def test_low_efficacy_is_printed_above_the_table_and_kept_in_the_effects_file(half_missed):
    done = phase("treatment_effects.py")
    effects = effects_of(done)
    lines = done.stdout.splitlines()
    table = lines.index(next(line for line in lines if line.startswith("| dataset")))
    assert lines[0].startswith("synthetic_sentiment: rewrite efficacy (the synthetic_sentiment rule): first rewrite W=1→0")
    assert any(line.startswith("WARNING (synthetic_sentiment): Rewrite efficacy is below 80%") for line in lines[:table])
    block = effects["efficacy"]
    assert block["measured"] and block["threshold"] == 0.8 and len(block["below"]) == 4
    assert block["agreement"]["share"] == 1.0  # the rule is the template's own: it knows the originals
    first = {r["direction"]: r for r in block["rows"] if r["round"] == "first rewrite"}
    assert all(0.35 < r["share"] < 0.65 for r in first.values())


@pytest.mark.slow
def test_refuse_stops_with_one_line_and_writes_nothing(half_missed):
    done = phase("treatment_effects.py", "--effects.low_efficacy=refuse")
    assert done.returncode == 2
    message = done.stderr.strip().splitlines()[-1]
    assert message.startswith("error: command line: effects.low_efficacy refuse: ") and "below effects.min_efficacy 0.8" in message
    assert not (half_missed / "effects").exists()
    # A threshold the rewriter meets lets the estimate through.
    assert phase("treatment_effects.py", "--effects.low_efficacy=refuse", "--effects.min_efficacy=0.2").returncode == 0


@pytest.mark.slow
def test_passed_judge_only_estimates_on_the_rewrites_that_did_their_job_and_says_so(half_missed):
    everything = effects_of(phase("treatment_effects.py"))
    done = phase("treatment_effects.py", "--effects.passed_judge_only=true")
    selected = effects_of(done)
    counts = selected["selection"]["counts"]
    assert set(counts) == {"W=1", "W=0"} and all(c["kept"] > 20 and c["dropped"] > 20 for c in counts.values())
    assert selected["Y1_count"] == counts["W=1"]["kept"] and selected["Y0_count"] == counts["W=0"]["kept"]
    assert selected["dropped"] == {f"rewrites did not both pass the judge ({g})": c["dropped"] for g, c in counts.items()}
    assert "conditional on the selection" in selected["selection"]["rule"]
    assert "| synthetic_sentiment (passed judge only) | vader | RATE | ATE |" in done.stdout
    assert "NOTE: every estimate below is conditional on the selection" in done.stdout
    # Half the rewrites did nothing, which pulls RATE towards 0; on the rewrites that did their job it
    # covers the true effect on those same examples again.
    for effects, covers in ((everything, False), (selected, True)):
        rate = row(effects, "RATE", "ATE")
        assert (rate["ci_low"] <= rate["truth"] <= rate["ci_high"]) is covers, rate

    visual = run_script("visualize.py", *BASE)
    assert visual.returncode == 0, visual.stderr[-2000:]
    page = Path(visual.stdout.strip().splitlines()[-1]).read_text()
    assert "(passed judge only)" in page and "kept" in page and "conditional on the selection" in page


@pytest.mark.slow
def test_without_verdicts_efficacy_is_not_measured_and_saying_so_is_the_headline(project_dir):
    for script in ("create_dataset.py", "score_dataset.py"):
        assert phase(script, "--judge.method=none").returncode == 0
    done = phase("treatment_effects.py")
    assert effects_of(done)["efficacy"]["measured"] is False
    assert "Rewrite efficacy was not measured" in done.stdout
    refused = phase("treatment_effects.py", "--effects.low_efficacy=refuse")
    assert refused.returncode == 2 and "rewrite efficacy was not measured" in refused.stderr.strip().splitlines()[-1]
    selected = phase("treatment_effects.py", "--effects.passed_judge_only=true")
    assert selected.returncode == 2 and "holds no judge verdicts to select by" in selected.stderr


def test_a_threshold_outside_zero_to_one_is_refused(project_dir):
    done = phase("treatment_effects.py", "--effects.min_efficacy=1.5")
    assert done.returncode == 2 and done.stderr.strip().splitlines()[-1] == (
        "error: command line: effects.min_efficacy: must be in [0, 1], got 1.5")
