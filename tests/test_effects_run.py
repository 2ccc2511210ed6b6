"""treatment_effects.py and visualize.py as a user runs them, on what issue #13 added: clusters from the
records, duplicate ids, the placebo, pooling across files, adjusted p-values, the sensitivity analysis
in the JSON, the table and the report, and the settings' errors."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

import utils
from conftest import run_script
from test_effects_io import failing, make_records, outputs, run_main, strict_json, write_jsonl


def scored_file(project_dir, name: str, dataset: str, records: list[dict]):
    path = write_jsonl(project_dir / "data" / "scored" / name, records)
    artifact = utils.artifacts.Artifact("scored", dataset, ("x",), stamp=name[-20:-6])
    utils.meta_path(path).write_text(json.dumps({"script": "score_dataset.py", "artifact": artifact.as_meta(),
                                                 "output": str(path), "inputs": []}))
    return path


def clustered_records(groups: int, per: int, seed: int) -> list[dict]:
    """Effects shared within a cluster, so that clusters matter."""
    rng = np.random.default_rng(seed)
    records = []
    for g in range(groups):
        shared = rng.normal(0, 1)
        for k in range(per):
            w = bool(rng.random() < 0.5)
            y = float(rng.normal(w, 1))
            tau = 1 + shared + float(rng.normal(0, 0.3))
            r, rr = y - (tau if w else -tau), y + float(rng.normal(0, 0.1))
            records.append({"id": f"g{g}-{k}", "w_original": w, "reward_question": f"question {g}", "completions": {},
                            "m1": {"original": y, "rewrite": r, "rewritten rewrite": rr}})
    return records


@pytest.mark.slow
def test_examples_sharing_a_question_get_cluster_robust_ses_and_none_turns_them_off(project_dir):
    scored_file(project_dir, "toy_x_scored_20240101_000000.jsonl", "toy", clustered_records(60, 4, 0))
    run_main("--effects.dataset_filename=toy_x_scored_20240101_000000.jsonl")
    (path,) = outputs(project_dir, "*_treatment_effects_*.json")
    effects = strict_json(path)
    assert effects["clusters"]["clustered"] and effects["clusters"]["clusters"] == 60
    assert "reward question" in effects["clusters"]["rule"]
    rows = {(r["estimator"], r["estimand"]): r for r in effects["estimates"]}
    ate = rows[("RATE", "ATE")]
    assert ate["clusters"] == 60 and ate["se"] > 1.3 * ate["se_iid"]  # four correlated answers per question
    run_main("--effects.dataset_filename=toy_x_scored_20240101_000000.jsonl", "--effects.cluster_key=none")
    plain = strict_json(outputs(project_dir, "*_treatment_effects_*.json")[-1])
    plain_ate = next(r for r in plain["estimates"] if (r["estimator"], r["estimand"]) == ("RATE", "ATE"))
    assert not plain["clusters"]["clustered"] and plain_ate["se"] == pytest.approx(ate["se_iid"], rel=1e-12)


def test_a_duplicate_id_stops_the_run_unless_kept_once(project_dir):
    records = make_records(40, 0)
    records.append(dict(records[3]))
    scored_file(project_dir, "toy_x_scored_20240101_000000.jsonl", "toy", records)
    line = failing("--effects.dataset_filename=toy_x_scored_20240101_000000.jsonl")
    assert "example id 'ex-3' appears twice (records 4 and 41)" in line and "effects.duplicate_ids" in line
    run_main("--effects.dataset_filename=toy_x_scored_20240101_000000.jsonl", "--effects.duplicate_ids=keep_first")
    effects = strict_json(outputs(project_dir, "*_treatment_effects_*.json")[0])
    assert effects["dropped"] == {"duplicate id": 1} and effects["Y1_count"] + effects["Y0_count"] == 40


def test_pooling_two_files_gives_pooled_rows_and_heterogeneity(project_dir):
    scored_file(project_dir, "toya_x_scored_20240101_000000.jsonl", "toya", make_records(80, 0))
    scored_file(project_dir, "toyb_x_scored_20240102_000000.jsonl", "toyb", make_records(60, 1))
    done = run_main("--effects.dataset_filename=[toya_x_scored_20240101_000000.jsonl, toyb_x_scored_20240102_000000.jsonl]",
                    "--effects.pool=true")
    (table,) = outputs(project_dir, "*_effects_table_*.csv")
    rows = list(csv.DictReader(table.open()))
    pooled = [r for r in rows if r["estimator"] == "RATE pooled"]
    assert [r["estimand"] for r in pooled] == ["ATE", "ATT", "ATU"]
    files = [r for r in rows if r["estimator"] == "RATE" and r["estimand"] == "ATE"]
    weights = [1 / float(r["se"]) ** 2 for r in files]
    expected = sum(w * float(r["estimate"]) for w, r in zip(weights, files)) / sum(weights)
    assert float(pooled[0]["estimate"]) == pytest.approx(expected)
    assert float(pooled[0]["se"]) == pytest.approx(sum(weights) ** -0.5)
    assert "pooled RATE ATE of 'm1' over 2 files: I^2 = " in done.stdout
    # the RATE family: 3 estimands x 2 files; Holm's smallest adjusted p is 6 x the smallest p
    rate = [r for r in rows if r["estimator"] == "RATE"]
    smallest = min(rate, key=lambda r: float(r["p"]))
    assert float(smallest["p_holm"]) == pytest.approx(min(1.0, 6 * float(smallest["p"])))


@pytest.mark.slow
def test_the_demo_runs_its_placebo_and_its_sensitivity_analysis_into_table_and_report(project_dir):
    smoke = ("--smoke_test=true",)
    for script in ("create_dataset.py", "score_dataset.py"):
        assert run_script(script, *smoke).returncode == 0
    done = run_script("treatment_effects.py", *smoke)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "placebo 'length' (a reward that ignores W): RATE ATE" in done.stdout
    assert "| length (placebo) | RATE | ATE |" in done.stdout
    effects = strict_json(outputs(project_dir, "*_treatment_effects_*.json")[0])
    assert effects["reward_key"] == "vader" and effects["placebo"]["reward_key"] == "length"
    # the demo's rewriter changes sentiment words for sentiment words: the placebo sees no asymmetry
    assert effects["placebo"]["consistent_with_zero"]
    rate = {r["estimand"]: r for r in effects["estimates"] if r["estimator"] == "RATE"}
    assert rate["ATE"]["breakdown_delta"] == pytest.approx(rate["ATE"]["ci_low"])
    assert effects["sensitivity"]["shifted"]["ATE"][0]["ci_low"] == pytest.approx(
        rate["ATE"]["ci_low"] - effects["sensitivity"]["deltas"][0])
    drawn = run_script("visualize.py", *smoke)
    assert drawn.returncode == 0, drawn.stderr[-2000:]
    (report,) = (project_dir / "plots").glob("*_report_*.html")
    page = report.read_text()
    for text in ("Robustness", "breakdown Δ", "The placebo check", "silence certifies nothing", "Multiplicity"):
        assert text in page, text
    assert list((project_dir / "plots").glob("*_report_*/*_sensitivity_*.png"))


@pytest.mark.parametrize("override, message", [
    ("--effects.sensitivity_deltas=[0.1, x]", "effects.sensitivity_deltas must be a non-empty list of numbers"),
    ("--effects.placebo_reward_key=m1", "is also in effects.reward_key"),
    ("--effects.cluster_key=rows", "key 'effects.cluster_key' must be one of"),
    ("--effects.duplicate_ids=merge", "key 'effects.duplicate_ids' must be one of"),
])
def test_wrong_settings_stop_with_one_line(project_dir, override, message):
    scored_file(project_dir, "toy_x_scored_20240101_000000.jsonl", "toy", make_records(20, 0))
    line = failing("--effects.dataset_filename=toy_x_scored_20240101_000000.jsonl", "--effects.reward_key=m1", override)
    assert message in line and line.startswith("error: ")
    assert not (project_dir / "effects").exists() or not list((project_dir / "effects").iterdir())


def test_rewards_near_1e160_are_refused_with_the_right_reason(project_dir):
    records = make_records(20, 0)
    for record in records:
        record["m1"] = {k: v * 1e160 for k, v in record["m1"].items()}
    scored_file(project_dir, "toy_x_scored_20240101_000000.jsonl", "toy", records)
    line = failing("--effects.dataset_filename=toy_x_scored_20240101_000000.jsonl")
    assert "overflow when squared" in line and "does not vary" not in line
