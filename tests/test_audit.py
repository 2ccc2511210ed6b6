"""`make audit` (issue #15): the offline audit's card recovers the sensitivities its reward models were
built with, its adjusted p-values equal an independent computation, and a model added to an audit
is the only one scored."""

from __future__ import annotations

import csv
import json
import re

import pytest

import utils
from conftest import REPO, run_script

CONFIG = str(REPO / "configs" / "audits" / "offline.yaml")
SMALL = "--rewrites.n_examples=400"
# The sign each offline model was built to have for each attribute (scoring_templates/*.py): vader
# reads sentiment and pays 0.01 per word; length counts words; assertive pays -0.5 per hedge word.
DESIGNED = {("synthetic_sentiment", "vader"): 1, ("synthetic_sentiment", "length"): 0,
            ("synthetic_sentiment", "assertive"): 0, ("synthetic_length", "vader"): 1,
            ("synthetic_length", "length"): 1, ("synthetic_length", "assertive"): 0,
            ("synthetic_hedging", "vader"): 1, ("synthetic_hedging", "length"): 1,
            ("synthetic_hedging", "assertive"): -1}


def matrix(project) -> tuple[list[dict], object]:
    (path,) = (project / "audits").glob("offline_audit_*.csv")
    with path.open() as handle:
        return list(csv.DictReader(handle)), path


@pytest.fixture(scope="module")
def audit(tmp_path_factory):
    project = tmp_path_factory.mktemp("audit")
    done = run_script("run_audit.py", "--config", CONFIG, SMALL, env={"PROJECT_DIR": str(project)})
    assert done.returncode == 0, done.stderr[-3000:]
    return project, done


@pytest.mark.slow
def test_the_offline_audit_recovers_every_designed_sensitivity(audit):
    project, done = audit
    rows, _ = matrix(project)
    assert {(r["attribute"], r["model"]) for r in rows} == set(DESIGNED)
    for row in rows:
        sign = DESIGNED[(row["attribute"], row["model"])]
        effect, truth = float(row["rate_effect_size"]), float(row["truth_effect_size"])
        if sign:
            assert row["significant"] == "True" and effect * sign > 0 and truth * sign > 0, row
        else:
            assert row["significant"] == "False" and abs(truth) < 0.1, row
        assert float(row["ci_low"]) <= truth <= float(row["ci_high"]) or abs(effect - truth) < 0.05 * abs(truth), row
    # the naive estimate is confounded where the design confounds: hedging with negative sentiment
    hedging = next(r for r in rows if (r["attribute"], r["model"]) == ("synthetic_hedging", "vader"))
    assert float(hedging["naive_effect_size"]) < 0 < float(hedging["rate_effect_size"])
    assert "6 of 9 attribute x model effects differ from 0" in done.stdout


def holm_by_definition(p: list[float]) -> list[float]:
    order = sorted(range(len(p)), key=lambda i: p[i])
    adjusted, running = [0.0] * len(p), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(p) - rank) * p[i]))
        adjusted[i] = running
    return adjusted


def bh_by_definition(p: list[float]) -> list[float]:
    m = len(p)
    return [min(min(1.0, m * p[j] / sum(p[k] <= p[j] for k in range(m))) for j in range(m) if p[j] >= p[i])
            for i in range(m)]


@pytest.mark.slow
def test_the_cards_adjusted_p_values_equal_an_independent_computation(audit):
    project, _ = audit
    rows, path = matrix(project)
    raw = [float(r["p"]) for r in rows]
    for row, holm, bh in zip(rows, holm_by_definition(raw), bh_by_definition(raw)):
        assert float(row["p_holm"]) == pytest.approx(holm, rel=1e-12, abs=1e-300)
        assert float(row["p_bh"]) == pytest.approx(bh, rel=1e-12, abs=1e-300)
    # the family is the whole audit's 9 cells, not one attribute's 3: the largest null p is multiplied
    # by 9 - rank + 1 among all nine
    largest = max(rows, key=lambda r: float(r["p"]))
    assert float(largest["p_holm"]) == pytest.approx(max(float(r["p_holm"]) for r in rows))
    assert len(raw) == 9


@pytest.mark.slow
def test_the_card_has_the_matrix_contrasts_checks_and_files(audit):
    project, _ = audit
    _, path = matrix(project)
    page = path.with_suffix(".html").read_text()
    for heading in ("RATE effect sizes (ATE)", "Paired contrasts between models", "Each attribute&#x27;s checks",
                    "Files"):
        assert heading.replace("&#x27;", "'") in page.replace("&#x27;", "'"), heading
    assert page.count('class="matrix ') == 9 and page.count("up-strong") >= 3 and "down-strong" in page
    # every cell links to its files' row, and every file there exists
    for anchor in re.findall(r'href="#(files-[^"]+)"', page):
        assert f'id="{anchor}"' in page
    for link in re.findall(r'href="(\.\./[^"]+)"', page):
        assert (path.parent / link).resolve().is_file(), link
    markdown = path.with_suffix(".md").read_text()
    assert markdown.count("| synthetic_") == 3 + 9 + 9  # the matrix's rows, the contrasts, the files
    assert "vader - assertive" in markdown and "rewrite efficacy (the synthetic\\_hedging rule)" in markdown
    latex = path.with_suffix(".tex").read_text()
    assert latex.count(r"\textbf{") == 6 and r"\begin{tabular}{lrrr}" in latex
    meta = json.loads(utils.meta_path(path.with_suffix(".html")).read_text())
    assert meta["script"] == "run_audit.py" and len(meta["inputs"]) == 3 + 9


@pytest.mark.slow
def test_a_model_added_to_an_audit_is_the_only_one_scored(project_dir):
    two = ("--audit.models=[vader, length]", SMALL)
    first = run_script("run_audit.py", "--config", CONFIG, *two)
    assert first.returncode == 0, first.stderr[-3000:]
    rewrites = sorted((project_dir / "data" / "rewrites").glob("*.jsonl"))
    assert len(rewrites) == 3
    plan = run_script("run_audit.py", "--config", CONFIG, SMALL, "--plan")
    assert plan.returncode == 0, plan.stderr[-2000:]
    steps = plan.stdout.strip().splitlines()
    assert [line.split(":")[1].strip() for line in steps] == ["scoring by assertive", "estimates"] * 3
    added = run_script("run_audit.py", "--config", CONFIG, SMALL)
    assert added.returncode == 0, added.stderr[-3000:]
    assert sorted((project_dir / "data" / "rewrites").glob("*.jsonl")) == rewrites
    for attribute in ("synthetic_sentiment", "synthetic_length", "synthetic_hedging"):
        before = utils.artifacts.latest("scored", attribute, smoke=False, model="length", run="audit-offline")
        (after,) = (project_dir / "data" / "scored").glob(f"{attribute}_assertive_scored_*.jsonl")
        assert utils.artifacts.identity(after).models == ("assertive", "vader", "length") or \
            set(utils.artifacts.identity(after).models) == {"vader", "length", "assertive"}
        old = {r["id"]: (r["vader"], r["length"]) for r in utils.read_records(before)}
        new = {r["id"]: (r["vader"], r["length"]) for r in utils.read_records(after)}
        assert new == old
    again = run_script("run_audit.py", "--config", CONFIG, SMALL, "--plan")
    assert [line.split(":")[1].strip() for line in again.stdout.strip().splitlines()] == ["estimates"] * 3


@pytest.mark.slow
def test_changed_rewrite_settings_rewrite_and_rescore(project_dir):
    first = run_script("run_audit.py", "--config", CONFIG, "--audit.attributes=[synthetic_hedging]", SMALL, "--plan")
    assert first.returncode == 0 and len(first.stdout.strip().splitlines()) == 5  # rewrites, 3 models, estimates
    done = run_script("run_audit.py", "--config", CONFIG, "--audit.attributes=[synthetic_hedging]", SMALL)
    assert done.returncode == 0, done.stderr[-2000:]
    other = run_script("run_audit.py", "--config", CONFIG, "--audit.attributes=[synthetic_hedging]",
                       "--rewrites.n_examples=300", "--plan")
    assert [line.split(":")[1].strip() for line in other.stdout.strip().splitlines()] == [
        "rewrites", "scoring by vader", "scoring by length", "scoring by assertive", "estimates"]


@pytest.mark.parametrize("override, message", [
    ("--audit.attributes=[synthetic_nope]", "audit.attributes: no template 'synthetic_nope' in dataset_templates/"),
    ("--audit.models=[]", "audit.models is empty"),
    ("--audit.models=[vader, vader]", "audit.models lists a value twice"),
    ("--audit.model_options={nope: {}}", "audit.model_options.nope: every key must be one of audit.models"),
])
def test_a_bad_audit_section_is_one_line_naming_the_key(project_dir, override, message):
    done = run_script("run_audit.py", "--config", CONFIG, override, "--plan")
    assert done.returncode == 2 and message in done.stderr.strip().splitlines()[-1], done.stderr[-500:]
    assert "Traceback" not in done.stderr


def test_two_modes_at_once_are_refused(project_dir):
    done = run_script("run_audit.py", "--config", CONFIG, "--plan", "--card")
    assert done.returncode == 2 and "exclude each other" in done.stderr


def test_hedges_are_neutral_to_vader_spelled_right_and_found_by_the_rule():
    from spellchecker import SpellChecker
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    from dataset_templates import synthetic_hedging as hedging
    from dataset_templates.synthetic_sentiment import FILLERS

    analyzer, dictionary = SentimentIntensityAnalyzer(), SpellChecker()
    for hedge in hedging.HEDGES:
        assert analyzer.polarity_scores(hedge)["compound"] == 0.0, hedge
        assert not dictionary.unknown(re.findall(r"[A-Za-z']+", hedge)), hedge
        assert hedging.classify_text(hedge) is True
    assert not any(hedging.classify_text(text) for pair in FILLERS for text in pair)
    rows = hedging._generate({**hedging.OPTIONS, "corpus_size": 4000})
    for positive, share in ((1, 0.3), (0, 0.7)):
        group = [r for r in rows if r["positive"] == positive]
        assert sum(r["hedged"] for r in group) / len(group) == pytest.approx(share, abs=0.03)
    review = next(r["text"] for r in rows if r["hedged"])
    plain = hedging.oracle_counterfactual(review, False)
    assert hedging.classify_text(plain) is False and hedging.oracle_counterfactual(plain, True) != plain


@pytest.mark.slow
def test_an_audit_mixes_in_process_served_and_llm_judge_reward_models(tmp_path, monkeypatch):
    """`http` (a stand-in reward server) and `llm_judge` (a stand-in chat server) score beside an
    in-process model in one audit, each configured only under audit.model_options."""
    import yaml

    from fake_judge import judge_stand_in
    from fake_reward_server import stand_in

    reward_server, http_options = stand_in()
    chat_server, judge_options = judge_stand_in()
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-audit")
    try:
        config = tmp_path / "mixed.yaml"
        config.write_text(yaml.safe_dump({
            "audit": {"attributes": ["synthetic_length"], "models": ["vader", "http", "llm_judge"],
                      "model_options": {"http": http_options, "llm_judge": judge_options}},
            "rewrites": {"backend": "simulated", "n_examples": 40}}))
        project = tmp_path / "project"
        done = run_script("run_audit.py", "--config", str(config), env={"PROJECT_DIR": str(project)})
        assert done.returncode == 0, done.stderr[-3000:]
        (path,) = (project / "audits").glob("mixed_audit_*.csv")
        with path.open() as handle:
            rows = {row["model"]: row for row in csv.DictReader(handle)}
        assert set(rows) == {"vader", "http", "llm_judge"}
        for row in rows.values():
            assert row["attribute"] == "synthetic_length" and float(row["ci_low"]) <= float(row["ci_high"]), row
        # the reward server scored every text; the judge was asked once per distinct text (one question here)
        assert len(reward_server.scored) == 4 * 40
        assert len(chat_server.chat_received) == len(set(reward_server.scored))
    finally:
        reward_server.stop()
        chat_server.stop()


def test_an_audit_refuses_a_reward_key_other_than_the_models_name(tmp_path):
    config = tmp_path / "keyed.yaml"
    config.write_text('audit: {attributes: [synthetic_length], models: [vader, http], '
                      'model_options: {http: {reward_key: mine}}}\nrewrites: {backend: simulated}\n')
    done = run_script("run_audit.py", "--config", str(config), env={"PROJECT_DIR": str(tmp_path / "project")})
    assert done.returncode == 2
    last = done.stderr.strip().splitlines()[-1]
    assert "audit.model_options.http.reward_key" in last and "keyed.yaml" in last, last
    assert not (tmp_path / "project" / "data").exists()
