"""`make experiments` (issue #14): the smoke version of every sweep through run_experiments.py, the
qualitative facts each must show, its files, and one point computed in-process equal to the four
scripts run on the same config."""

from __future__ import annotations

import csv
import json

import pytest

import utils
from conftest import REPO, run_script
from dataset_templates import synthetic_length
from experiments import runner


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    """One smoke run of every experiment, shared by the tests below."""
    project = tmp_path_factory.mktemp("experiments")
    done = run_script("run_experiments.py", "--smoke", env={"PROJECT_DIR": str(project)})
    assert done.returncode == 0, done.stderr[-3000:]
    tables = {path.name.split("_experiment")[0]: list(csv.DictReader(path.open()))
              for path in (project / "experiments").glob("*_experiment_smoke_test_*.csv")}
    return project, done, tables


def row(rows, value: str, estimator: str, estimand: str = "ATE") -> dict:
    return next(r for r in rows if (r["value"], r["estimator"], r["estimand"]) == (value, estimator, estimand))


@pytest.mark.slow
def test_every_sweep_writes_a_figure_a_table_and_the_run_has_one_page(smoke):
    project, done, tables = smoke
    assert set(tables) == {"correlation", "typos", "asymmetry"}
    folder = project / "experiments"
    for name in tables:
        (csv_path,) = folder.glob(f"{name}_experiment_smoke_test_*.csv")
        for suffix in (".md", ".tex", ".png", ".pdf"):
            assert csv_path.with_suffix(suffix).is_file(), suffix
        meta = json.loads(utils.meta_path(csv_path).read_text())
        assert meta["script"] == "run_experiments.py" and meta["inputs"][0]["path"].endswith(f"{name}.yaml")
    (page,) = folder.glob("experiments_experiment_smoke_test_*.html")
    text = page.read_text()
    assert text.count("<img") == 3 and "Correlation sweep" in text and "data:image/png;base64" in text
    assert str(page) in done.stdout
    assert not list(folder.glob(".*")), "a reservation or a list of files was left"


@pytest.mark.slow
def test_the_naive_estimate_rises_with_the_correlation_and_rate_stays_at_the_truth(smoke):
    rows = smoke[2]["correlation"]
    low, high = (float(row(rows, v, "naive")["mean_estimate"]) for v in ("0", "10"))
    assert high > low + 0.5
    for value in ("0", "10"):
        rate = row(rows, value, "RATE")
        assert abs(float(rate["bias"])) < 0.02 and abs(float(rate["mean_truth"])) < 0.02


@pytest.mark.slow
def test_typos_bias_the_single_rewrite_and_not_rate(smoke):
    rows = smoke[2]["typos"]
    assert float(row(rows, "0.3", "single rewrite", "ATT")["bias"]) < -0.1
    assert abs(float(row(rows, "0.3", "RATE", "ATT")["bias"])) < 0.03


@pytest.mark.slow
def test_rate_covers_the_truth_without_asymmetry_and_is_biased_by_delta_with_it(smoke):
    rows = smoke[2]["asymmetry"]
    assert float(row(rows, "0", "RATE")["coverage"]) >= 2 / 3
    shift = float(row(rows, "4", "RATE")["bias"]) - float(row(rows, "0", "RATE")["bias"])
    assert float(row(rows, "4", "RATE")["predicted_bias"]) == pytest.approx(0.4)
    assert shift == pytest.approx(0.4, abs=0.05)
    assert float(row(rows, "4", "RATE")["asymmetry_fires"]) == 1.0
    assert float(row(rows, "4", "RATE")["mean_breakdown_delta"]) > float(row(rows, "0", "RATE")["mean_breakdown_delta"])


@pytest.mark.slow
def test_one_point_in_process_equals_the_four_scripts(project_dir):
    """A point's records are phase 1's on the same config (the judge's verdicts aside: a point has no
    judge), and its estimates the scripts' from them."""
    config = str(REPO / "configs" / "experiments" / "asymmetry.yaml")
    overrides = ["--rewrites.template_options.rewriter_marker_words_towards_positive=2", "--rewrites.seed=1",
                 "--rewrites.n_examples=150", "--rewrites.backend_options.failure_rate=0.05"]
    for script in ("create_dataset.py", "score_dataset.py", "treatment_effects.py"):
        done = run_script(script, "--config", config, *overrides)
        assert done.returncode == 0, done.stderr[-2000:]
    cfg = utils.load_config(config, [tuple(o[2:].split("=", 1)) for o in overrides])
    (rewrites,) = [p for p in (project_dir / "data" / "rewrites").glob("*.jsonl")]
    written = [{key: value for key, value in record.items() if key != "judge"} for record in utils.read_records(rewrites)]
    made, _ = runner.records(cfg)
    assert made == written
    assert any(record.get("failures") for record in made)  # failed rewrites, not rewritten back, are dropped alike
    (effects,) = [p for p in (project_dir / "effects").glob("*_treatment_effects_*.json") if ".meta" not in p.name]
    scripts = json.loads(effects.read_text())["estimates"]
    in_process = runner.run_point(cfg)["rows"]
    for mine, theirs in zip(in_process, scripts):
        assert (mine["estimator"], mine["estimand"]) == (theirs["estimator"], theirs["estimand"])
        for key in ("estimate", "se", "ci_low", "ci_high", "truth"):
            assert mine[key] == pytest.approx(theirs[key], rel=1e-12, abs=1e-15), (mine["estimator"], key)


@pytest.mark.slow
def test_the_length_corpus_has_the_papers_correlation():
    for level in (0, 4, 10):
        rows = synthetic_length._generate({**synthetic_length.OPTIONS, "correlation_level": level})
        positive = [r for r in rows if r["positive"]]
        negative = [r for r in rows if not r["positive"]]
        share = 0.5 + 0.05 * level
        assert sum(r["long"] for r in positive) / len(positive) == pytest.approx(share, abs=0.02)
        assert sum(r["long"] for r in negative) / len(negative) == pytest.approx(1 - share, abs=0.02)


def test_a_wrong_experiment_name_is_one_line(project_dir):
    done = run_script("run_experiments.py", "--only", "nope")
    assert done.returncode == 2 and done.stderr.strip().splitlines()[-1].startswith("error: command line: --only nope")


@pytest.mark.slow
def test_vaders_wording_noise_is_fixed_per_text_and_has_the_sd_asked_for():
    import statistics

    from scoring_templates import vader

    plain = vader.build(dict(vader.OPTIONS))
    noisy = vader.build({**vader.OPTIONS, "text_noise": 0.5})
    texts = [f"The film number {i} was shown." for i in range(2000)]
    differences = [b - a for a, b in zip(plain.score_batch([""] * len(texts), texts),
                                          noisy.score_batch([""] * len(texts), texts))]
    assert noisy.score_batch([""], texts[:1]) == noisy.score_batch([""], texts[:1])
    assert abs(statistics.mean(differences)) < 0.05 and statistics.stdev(differences) == pytest.approx(0.5, rel=0.06)


@pytest.mark.parametrize("path", sorted((REPO / "configs" / "experiments").rglob("*.yaml")), ids=lambda p: p.name)
def test_every_experiment_file_is_a_config_whose_sweep_key_exists(path):
    import importlib

    cfg = utils.load_config(path)
    section = cfg["experiment"]
    assert section["sweep_key"] and section["values"] and section["title"]
    prefix = "rewrites.template_options."
    assert section["sweep_key"].startswith(prefix)
    module = importlib.import_module(f"dataset_templates.{cfg['rewrites']['dataset_name']}")
    assert section["sweep_key"][len(prefix):] in module.OPTIONS
    utils.load_config(path, [(section["sweep_key"], str(section["values"][-1]))])  # every value type-checks


def test_imdb_length_downsamples_to_the_papers_correlation(tmp_path):
    from dataset_fixtures import build_with_fixtures

    models_dir = tmp_path  # imdb_length loads no model
    every = build_with_fixtures("imdb_length", models_dir)
    full = build_with_fixtures("imdb_length", models_dir, correlation_level=10)
    rows = list(every.load_rows())
    kept = list(full.load_rows())
    long = {row["id"]: every.w_classifier(row) for row in rows}
    # level 10: P(long | positive) = 1 and P(long | negative) = 0, so only the agreeing rows stay
    assert kept and all(long[row["id"]] in (None, bool(row["label"])) for row in kept)
    assert len(kept) < len(rows)
    assert list(build_with_fixtures("imdb_length", models_dir, correlation_level=0).load_rows()) == rows


@pytest.mark.slow
def test_a_perfect_rewriter_behind_a_server_gives_the_truth_beside_the_simulated_point(server, project_dir):
    """`make experiments REWRITER=local` without the model: the fake server answers every rewrite with
    the oracle counterfactual, so RATE under the "real" rewriter must equal the truth, and the judge
    must find every rewrite flipped."""
    import re

    from dataset_templates import synthetic_sentiment

    path = REPO / "configs" / "experiments" / "typos.yaml"
    template = utils.build_from_module("dataset_templates", "synthetic_sentiment", "rewrites.dataset_name",
                                       "rewrites.template_options", utils.load_config(path))
    pattern = re.compile(re.escape(template.rewrite_prompt)
                         .replace(re.escape("{original_completion}"), "(?P<text>.*)")
                         .replace(re.escape("{w_counterfactual_string}"), "(?P<w>.*?)"), re.S)

    def oracle(prompt: str) -> str:
        found = pattern.search(prompt)
        return synthetic_sentiment.oracle_counterfactual(found["text"], found["w"] == template.w_strings["w=1"])

    server.responder = oracle
    done = run_script("run_experiments.py", f"--rewriter-url={server.url}", "--rewriter-model=oracle",
                      "--rewriter-examples=40", "--only", "typos", "--only", "asymmetry")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "asymmetry: no experiment.real_rewriter_value" in done.stderr
    (csv_path,) = (project_dir / "experiments").glob("typos_real_rewriter_experiment_*.csv")
    rows = {(r["estimator"], r["estimand"]): r for r in csv.DictReader(csv_path.open())}
    assert len(rows) == 9 and {r["value"] for r in rows.values()} == {"0.3"}
    for estimand in ("ATE", "ATT", "ATU"):
        rate = rows[("RATE", estimand)]
        assert float(rate["real"]) == pytest.approx(float(rate["real_truth"]), abs=1e-12)
        assert rate["real_truth"] == rate["simulated_truth"] and rate["real_n"] == rate["simulated_n"] == "40"
    cfg = utils.load_config(path, [("rewrites.template_options.p_typos_given_positive", "0.3"), ("rewrites.seed", "0"),
                                   ("rewrites.template_options.corpus_seed", "0"), ("rewrites.n_examples", "40")])
    for mine in runner.run_point(cfg)["rows"]:
        theirs = rows[(mine["estimator"], mine["estimand"])]
        assert float(theirs["simulated"]) == pytest.approx(mine["estimate"], rel=1e-12)
        assert float(theirs["simulated_truth"]) == pytest.approx(mine["truth"], rel=1e-12)
    # the typo fixes the simulated rewriter makes, and the oracle does not, bias its single rewrite only
    single = rows[("single rewrite", "ATT")]
    assert float(single["simulated"]) < float(single["simulated_truth"]) - 0.05
    report = csv_path.with_suffix(".md").read_text()
    assert r"judged by the synthetic\_sentiment rule" in report  # markup escaped, so it reads as written
    cells = [[cell.strip() for cell in line.strip("|").split("|")] for line in report.splitlines() if line.startswith("|")]
    efficacy = [row for row in cells if len(row) == 5 and row[0] != "round" and not set(row[0]) <= set("-:")]
    assert len(efficacy) == 4 and all(row[-1] == "1.00" and row[2] == row[3] for row in efficacy)
    meta = json.loads(utils.meta_path(csv_path).read_text())
    assert meta["inputs"][1]["path"].endswith(".json") and "treatment_effects" in meta["inputs"][1]["path"]


def test_a_real_rewriter_point_needs_an_experiment_that_has_one(project_dir):
    done = run_script("run_experiments.py", "--rewriter-url=http://127.0.0.1:9/v1", "--only", "asymmetry")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == ("error: command line: none of asymmetry sets "
                                                    "experiment.real_rewriter_value")
