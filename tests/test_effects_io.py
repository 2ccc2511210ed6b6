"""Inputs and outputs of treatment_effects.py (issue #3, points 4-6): several files and reward keys in
one run, original-format files, `latest`, dropped-example counts, the run's CSV and markdown table, and
the edge cases that must stop with one clear line."""

from __future__ import annotations

import csv
import json
import re
import math
from pathlib import Path

import numpy as np
import pytest

from estimation import inputs as effects_inputs
from estimation import results as effects_results
import utils
from conftest import REPO, run_script

KEYS = {"original": "original", "rewrite": "rewrite", "rewritten rewrite": "rewritten rewrite"}
COMPLETIONS = {"original": "a", "rewrite": "b", "rewritten rewrite": "c"}


def make_records(n: int, seed: int, reward_keys=("m1",), p: float = 0.5) -> list[dict]:
    rng = np.random.default_rng(seed)
    records = []
    for index in range(n):
        w = bool(rng.random() < p)
        y = float(rng.normal(1.0 if w else 0.0, 1.0))
        r = y - (1.0 if w else -1.0) + float(rng.normal(0.0, 0.3))
        rr = r + (1.0 if w else -1.0) + float(rng.normal(0.0, 0.3))
        record = {"id": f"ex-{index}", "w_original": w, "reward_question": "q", "completions": dict(COMPLETIONS)}
        for shift, key in enumerate(reward_keys):
            record[key] = {"original": y + shift, "rewrite": r + 2 * shift, "rewritten rewrite": rr + 2 * shift}
        records.append(record)
    return records


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def run_main(*overrides: str):
    """treatment_effects.py as a user runs it; stops the test unless it succeeded."""
    done = run_script("treatment_effects.py", "--config", str(REPO / "config.yaml"), *overrides)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def failing(*overrides: str) -> str:
    """The one line an error gives (exit code 2)."""
    done = run_script("treatment_effects.py", "--config", str(REPO / "config.yaml"), *overrides)
    assert done.returncode == 2, done.stderr[-3000:]
    return done.stderr.strip().splitlines()[-1]


def outputs(project: Path, pattern: str) -> list[Path]:
    return sorted(p for p in (project / "effects").glob(pattern) if not p.name.endswith(".meta.json"))


def strict_json(path: Path):
    def refuse(constant):
        raise ValueError(f"{path} holds {constant}")

    return json.loads(path.read_text(), parse_constant=refuse)


def test_two_files_and_two_reward_keys_give_one_json_each_and_one_run_table(project_dir):
    scored = project_dir / "data" / "scored"
    for name, dataset, model, records in (("toya_x_scored_20240101_000000.jsonl", "toya", "x", make_records(80, 0, ("m1", "m2"))),
                                          ("toyb_mdl_scored_20240102_000000.jsonl", "toyb", "mdl", make_records(60, 1, ("m1",)))):
        path = write_jsonl(scored / name, records)
        artifact = utils.artifacts.Artifact("scored", dataset, (model,), stamp=name[-20:-6])
        utils.meta_path(path).write_text(json.dumps({"script": "score_dataset.py", "artifact": artifact.as_meta(),
                                                     "output": str(path), "inputs": []}))
    done = run_main("--effects.dataset_filename=[toya_x_scored_20240101_000000.jsonl, toyb_mdl_scored_20240102_000000.jsonl]",
                    "--effects.reward_key=[m1, m2]")
    jsons = outputs(project_dir, "*_treatment_effects_*.json")
    names = [p.name.split("_treatment_effects_")[0] for p in jsons]
    # file a holds both keys (so each name carries its key); dataset and model come from each sidecar
    assert names == ["toya_x_m1", "toya_x_m2", "toyb_mdl"]
    for path in jsons:
        assert utils.meta_path(path).is_file()
        effects = strict_json(path)
        assert effects["Y1_count"] + effects["Y0_count"] == (60 if "toyb" in path.name else 80)
    m2 = strict_json(jsons[1])
    assert m2["reward_key"] == "m2" and m2["dataset_name"] == "toya" and m2["score"] == "x"
    # m2 = m1 + 1 on originals and + 2 on both rewrites: naive and RATE unchanged, single rewrite ATT
    # (original - rewrite) down by 1 and ATU (rewrite - original) up by 1, so each key was read on its own
    m1 = strict_json(jsons[0])
    for key in ("naive_effect", "ATE_rewritten_rewrite", "ATT_rewritten_rewrite"):
        assert m2[key] == pytest.approx(m1[key])
    assert m2["ATT_single_rewrite"] == pytest.approx(m1["ATT_single_rewrite"] - 1)
    assert m2["ATU_single_rewrite"] == pytest.approx(m1["ATU_single_rewrite"] + 1)

    (table,) = outputs(project_dir, "*_effects_table_*.csv")
    assert table.name.startswith("synthetic_sentiment_vader_effects_table_")
    rows = list(csv.DictReader(table.open()))
    assert list(rows[0]) == ["dataset", "reward_key", *effects_results.ROW_KEYS]
    # 9 rows per (file, key), and the paired contrast m1 - m2 on toya's examples (ATE, ATT, ATU)
    assert len(rows) == 3 * 9 + 3
    assert {(r["dataset"], r["reward_key"]) for r in rows} == {("toya", "m1"), ("toya", "m2"), ("toyb", "m1"),
                                                               ("toya", "m1 - m2")}
    contrasts = [r for r in rows if r["estimator"] == "RATE contrast"]
    # both rewrites of m2 are m1's + 2: RATE's differences are the same for both keys, example by example
    assert [float(r["estimate"]) for r in contrasts] == pytest.approx([0, 0, 0], abs=1e-12)
    assert all(float(r["se"]) == pytest.approx(0, abs=1e-12) for r in contrasts)
    markdown = table.with_suffix(".md").read_text()
    assert markdown.startswith("| dataset | reward key | estimator | estimand |")
    assert "| toyb | m1 | RATE | ATU |" in markdown
    meta = json.loads(utils.meta_path(table).read_text())
    assert [item["path"] for item in meta["inputs"]] == [str(p) for p in jsons]
    assert "| toya | m2 | RATE | ATE |" in done.stdout and str(table) in done.stdout


def test_original_format_json_with_integer_w_is_read(project_dir):
    records = make_records(50, 2)
    for record in records:
        record["w_original"] = int(record["w_original"])
    source = project_dir / "imdb_sentiment_dataset_20240101_000000.json"
    source.parent.mkdir(parents=True)
    source.write_text(json.dumps({r.pop("id"): r for r in records}))
    run_main(f"--effects.dataset_filename={source}", "--effects.reward_key=m1")
    (path,) = outputs(project_dir, "*_treatment_effects_*.json")
    effects = strict_json(path)
    w = np.array([r["w_original"] for r in records], dtype=bool)
    rewards = {name: np.array([r["m1"][name] for r in records]) for name in KEYS}
    expected = np.mean(np.where(w, rewards["rewritten rewrite"] - rewards["rewrite"],
                                rewards["rewrite"] - rewards["rewritten rewrite"]))
    assert effects["ATE_rewritten_rewrite"] == pytest.approx(expected, rel=1e-12)
    assert effects["input_file"] == str(source)


def test_latest_takes_the_newest_scored_file(project_dir):
    scored = project_dir / "data" / "scored"
    write_jsonl(scored / "synthetic_sentiment_vader_scored_20240101_000000.jsonl", make_records(30, 3, ("vader",)))
    newest = write_jsonl(scored / "synthetic_sentiment_vader_scored_20240105_000000.jsonl",
                         make_records(40, 4, ("vader",)))
    run_main()
    (path,) = outputs(project_dir, "synthetic_sentiment_vader_treatment_effects_*.json")
    assert strict_json(path)["input_file"] == str(newest)


def test_unusable_examples_are_dropped_counted_and_never_nan(project_dir):
    records = make_records(40, 5)
    records[0]["w_original"] = None
    records[1]["failures"] = {"rewrite": "HTTP 500"}
    records[2]["m1"]["rewrite"] = float("nan")
    records[3]["m1"]["rewritten rewrite"] = float("inf")
    del records[4]["m1"]["rewritten rewrite"]
    source = write_jsonl(project_dir / "in" / "toy_scored_20240101_000000.jsonl", records)
    done = run_main(f"--effects.dataset_filename={source}")
    (path,) = outputs(project_dir, "*_treatment_effects_*.json")
    effects = strict_json(path)
    assert effects["dropped"] == {"W unknown": 1, "failed rewrite": 1, "no finite reward for rewrite": 1,
                                  "no finite reward for rewritten rewrite": 1, "no reward for rewritten rewrite": 1}
    assert effects["diagnostics"]["dropped"]["this phase"] == effects["dropped"]
    assert effects["Y1_count"] + effects["Y0_count"] == 35
    assert "dropped 5 of 40 examples" in done.stderr


def test_one_w_only_writes_att_and_logs_why_atu_is_undefined(project_dir):
    source = write_jsonl(project_dir / "in" / "toy_scored_20240101_000000.jsonl", make_records(30, 6, p=1.0))
    result = run_script("treatment_effects.py", "--config", str(REPO / "config.yaml"),
                        f"--effects.dataset_filename={source}", env={"PROJECT_DIR": str(project_dir)})
    assert result.returncode == 0, result.stderr
    assert "ATU (ATC) undefined: no example has W=0" in result.stderr
    (path,) = outputs(project_dir, "*_treatment_effects_*.json")
    effects = strict_json(path)
    assert [(r["estimator"], r["estimand"]) for r in effects["estimates"]] == [("single rewrite", "ATT"), ("RATE", "ATT")]
    assert effects["ATU_rewritten_rewrite"] is None


@pytest.mark.parametrize("overrides, message", [
    (["--effects.reward_key=[m1, zz]"], r"no input file holds rewards under \['zz'\]"),
    (["--effects.reward_key=zz"], r"no rewards under effects.reward_key 'zz' \(found: \['m1'\]\)"),
    (["--effects.reward_key=[1, m1]"], "effects.reward_key must be a string or a non-empty list of strings"),
    (["--effects.w_counterfactual_key=rewrit"], r"no record has a 'rewrit' reward under 'm1' \(effects.w_counterfactual_key\)"),
    (["--effects.bootstrap_resamples=50"], "bootstrap_resamples must be 0 .* or at least 200 at alpha 0.05, got 50"),
    (["--effects.dataset_filename=[toy_scored_20240101_000000.jsonl, toy_scored_20240101_000000.jsonl]"],
     "more than once"),
])
def test_mistakes_stop_with_one_clear_message_before_writing(project_dir, overrides, message):
    write_jsonl(project_dir / "data" / "scored" / "toy_scored_20240101_000000.jsonl", make_records(20, 7))
    args = [a for a in overrides if "dataset_filename" in a] or ["--effects.dataset_filename=toy_scored_20240101_000000.jsonl"]
    assert re.search(message, failing(*args, *[a for a in overrides if "dataset_filename" not in a]))
    assert not (project_dir / "effects").exists() or not list((project_dir / "effects").iterdir())


def test_an_error_is_one_line_and_exit_code_2(project_dir):
    source = write_jsonl(project_dir / "in" / "toy_scored_20240101_000000.jsonl",
                         [{**r, "w_original": None} for r in make_records(10, 8)])
    result = run_script("treatment_effects.py", "--config", str(REPO / "config.yaml"),
                        f"--effects.dataset_filename={source}", env={"PROJECT_DIR": str(project_dir)})
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and "no usable example for reward 'm1' ({'W unknown': 10})" in last


def test_bootstrap_columns_reach_json_and_csv(project_dir):
    source = write_jsonl(project_dir / "in" / "toy_scored_20240101_000000.jsonl", make_records(60, 9))
    run_main(f"--effects.dataset_filename={source}", "--effects.bootstrap_resamples=400", "--effects.bootstrap_seed=3")
    (path,) = outputs(project_dir, "*_treatment_effects_*.json")
    effects = strict_json(path)
    assert effects["bootstrap"]["resamples"] == 400 and effects["bootstrap_seed"] == 3
    (table,) = outputs(project_dir, "*_effects_table_*.csv")
    rows = list(csv.DictReader(table.open()))
    assert list(rows[0])[-2:] == ["boot_ci_low", "boot_ci_high"]
    assert all(math.isfinite(float(r["boot_ci_low"])) for r in rows)


def test_reward_arrays_counts_each_reason_and_accepts_0_1_for_w():
    good = {"w_original": True, "m": {"original": 1.0, "rewrite": 0.5, "rewritten rewrite": 0.9}}
    records = [
        good,
        {**good, "w_original": 0},
        {**good, "w_original": "yes"},
        {**good, "failures": {"rewrite": "HTTP 500"}},
        {**good, "m": {"original": 1.0, "rewrite": float("nan"), "rewritten rewrite": 0.9}},
        {**good, "m": {"original": True, "rewrite": 0.5, "rewritten rewrite": 0.9}},
        {**good, "m": {"original": 1.0, "rewrite": 0.2}},
    ]
    data, dropped, by_group = effects_inputs.reward_arrays(records, "m", KEYS)
    assert data["w"].tolist() == [True, False]
    assert by_group == {"W unknown": {"W unknown": 1}, "failed rewrite": {"W=1": 1},
                        "no finite reward for rewrite": {"W=1": 1}, "no finite reward for original": {"W=1": 1},
                        "no reward for rewritten rewrite": {"W=1": 1}}
    assert data["rewrite"].tolist() == [0.5, 0.5]
    assert dropped == {"W unknown": 1, "failed rewrite": 1, "no finite reward for rewrite": 1,
                       "no finite reward for original": 1, "no reward for rewritten rewrite": 1}


def test_reward_keys_are_found_listed_or_must_be_named():
    records = [{"completions": {}, "failures": {"original": "x"}, "a": {"original": 1}}, {"a": {"original": 2}}]
    assert effects_inputs.find_reward_keys(records, None, "original", "f.jsonl") == ["a"]
    with pytest.raises(utils.RateError, match="no rewards under effects.reward_key 'b'"):
        effects_inputs.find_reward_keys(records, "b", "original", "f.jsonl")
    records[0]["b"] = {"original": 0}
    assert effects_inputs.find_reward_keys(records, ["b", "c", "a"], "original", "f.jsonl") == ["b", "a"]
    with pytest.raises(utils.RateError, match=r"set effects.reward_key.*\['a', 'b'\]"):
        effects_inputs.find_reward_keys(records, None, "original", "f.jsonl")


def test_rows_dropped_by_earlier_phases_are_found_through_the_sidecars(tmp_path):
    rewrites, scored = tmp_path / "r_dataset_20240101_000000.jsonl", tmp_path / "r_m_scored_20240101_000001.jsonl"
    rewrites.write_text("")
    scored.write_text("")
    utils.meta_path(rewrites).write_text(json.dumps(
        {"script": "create_dataset.py", "counts": {"rows_unclassified": 7}, "inputs": []}))
    utils.meta_path(scored).write_text(json.dumps({"script": "score_dataset.py", "inputs": [{"path": str(rewrites)}]}))
    assert effects_inputs.upstream_dropped(scored) == {"W undecided (rows skipped by create_dataset.py)": 7}
    assert effects_inputs.upstream_dropped(rewrites.with_name("none.jsonl")) == {}
