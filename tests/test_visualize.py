"""visualize.py, figures.py and report.py on small fixture files built here, and once on the demo."""

from __future__ import annotations

import json
import random
import re
import struct
from pathlib import Path

import pytest

from estimation import gate as effects_gate
from reporting import figures
from reporting import report
from reporting import samples
import utils
from reporting import runs as visualize_runs
from conftest import REPO, run_script

ESTIMATES = {("naive", "ATE"): 0.90, ("single rewrite", "ATE"): 0.70, ("single rewrite", "ATT"): 0.65,
             ("single rewrite", "ATU"): 0.75, ("RATE", "ATE"): 0.52, ("RATE", "ATT"): 0.48, ("RATE", "ATU"): 0.55}
TRUTH = {"ATE": 0.5, "ATT": 0.47, "ATU": 0.53}
STAMP = "20250101_1200{:02d}"
LONG = "word " * 200


def png_size(path: Path) -> tuple[int, int]:
    data = Path(path).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", data[16:24])


def inked(path: Path) -> float:
    """The share of pixels that are not background white."""
    from matplotlib.image import imread

    pixels = imread(str(path))[..., :3]
    return float((pixels.min(axis=-1) < 0.95).mean())


def marks(axis) -> list[tuple[float, float]]:
    """(x, y) of every estimate an axis shows with an error bar."""
    return sorted((float(c.lines[0].get_xdata()[0]), float(c.lines[0].get_ydata()[0])) for c in axis.containers)


def truth_lines(axis) -> list:
    return [line for line in axis.lines if line.get_gid() == "truth"]


def agreed_rows(std: float, truth: bool, shift: float = 0.0) -> list[dict]:
    """Rows in the full agreed schema: p, effect sizes and truth included."""
    rows = []
    for (estimator, estimand), value in ESTIMATES.items():
        value += shift
        se = 0.02
        known = TRUTH[estimand] + shift if truth else None
        rows.append({"estimator": estimator, "estimand": estimand, "estimate": value, "se": se,
                     "ci_low": value - 1.96 * se, "ci_high": value + 1.96 * se, "p": 1e-6 if value > 0.6 else 0.0123,
                     "n1": 6, "n0": 6, "norm_estimate": value / std, "norm_se": se / std,
                     "norm_ci_low": (value - 1.96 * se) / std, "norm_ci_high": (value + 1.96 * se) / std,
                     "truth": known, "norm_truth": None if known is None else known / std})
    return rows


def write_meta(path: Path, script: str, config: dict, inputs: list[Path] = (), counts: dict | None = None) -> None:
    utils.meta_path(path).write_text(json.dumps({
        "output": str(path), "script": script, "config": config, "counts": counts or {}, "templates": {},
        "inputs": [{"path": str(p), "sha256": ""} for p in inputs], "git": {"commit": "abc123", "dirty": False}}))


def write_run(project: Path, index: int, *, dataset: str = "toy", reward: str = "rm", truth: bool = True,
              rewrite_options: dict | None = None, effects_options: dict | None = None, only_w1: bool = False,
              shift: float = 0.0, diagnostics: dict | None = None, missed: int = 1) -> Path:
    """A rewrites file, a scored file and an effects file, each with the sidecar the phase writes. The
    judge finds the first `missed` rewrites unflipped."""
    for sub in ("data/rewrites", "data/scored", "effects"):
        (project / sub).mkdir(parents=True, exist_ok=True)
    stamp = STAMP.format(index)
    rng = random.Random(index)
    records = []
    for i in range(16):
        w = True if only_w1 else i % 2 == 0
        text = LONG if i == 3 else f"Review {i}: 50% of it & more_{{x}} ~ $5 #{i} ^ \\ <b>|"
        base = (1.0 if w else 0.0) + rng.gauss(0, 0.3)
        records.append({"id": f"ex-{i}", "w_original": w, "reward_question": "Write a review:",
                        "completions": {"original": text, "rewrite": f"rewrite of {i}", "rewritten rewrite": f"back {i}"},
                        reward: {"original": base, "rewrite": base + (-0.8 if w else 0.8), "rewritten rewrite": base + 0.1},
                        "judge": {key: {"w": value, "confidence": 1.0, "by": "rule"} for key, value in
                                  (("original", w), ("rewrite", w if i < missed else not w), ("rewritten rewrite", w))}})
    rewrites = project / f"data/rewrites/{dataset}_dataset_{stamp}.jsonl"
    scored = project / f"data/scored/{dataset}_{reward}_scored_{stamp}.jsonl"
    for path in (rewrites, scored):
        path.write_text("".join(json.dumps(r) + "\n" for r in records))
    write_meta(rewrites, "create_dataset.py",
               {"rewrites": {"dataset_name": "synthetic_sentiment", "template_options": rewrite_options or {}}},
               counts={"examples": 16, "w=1": 8, "w=0": 8, "rewrite judged": 16, "rewrite flipped W": 15,
                       "rewritten rewrite judged": 16, "rewritten rewrite restored W": 16, "failed rewrite": 1})
    write_meta(scored, "score_dataset.py", {"scoring": {"model": reward}}, [rewrites])
    std = 0.5
    effects = {"naive_effect": 0.9, "naive_effect_stderr": 0.02, "reward_std": std, "Y1_count": 8, "Y0_count": 8,
               "alpha": 0.05, "dropped": {"failed rewrite": 1}, "examples_read": 17, "dataset_name": dataset,
               "score": reward, "reward_key": reward, "input_file": str(scored),
               "estimates": agreed_rows(std, truth, shift),
               "efficacy": effects_gate.assess(records, {"min_efficacy": 0.8}, "the toy rule")}
    if truth:
        effects["ground_truth"] = dict(TRUTH)
    if diagnostics:
        effects["diagnostics"] = diagnostics
    path = project / f"effects/{dataset}_{reward}_treatment_effects_{stamp}.json"
    path.write_text(json.dumps(effects))
    write_meta(path, "treatment_effects.py", {"smoke_test": False, "rewrites": {"template_options": effects_options or {}}},
               [scored])
    return path


def run_visualize(capsys, *overrides: str) -> list[str]:
    """visualize.py as a user runs it; its printed lines."""
    done = run_script("visualize.py", "--config", str(REPO / "config.yaml"), *overrides)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip().splitlines()


# ---------------------------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_forest_plot_is_a_png_and_pdf_of_the_figure_size(project_dir, tmp_path):
    rows = visualize_runs.complete_rows(json.loads(write_run(project_dir, 1).read_text()), Path("x"), raw=False)
    written = figures.forest_plot([("toy, rm", rows)], tmp_path / "forest.png", raw=False, alpha=0.05, dpi=80)
    assert [p.suffix for p in written] == [".png", ".pdf"]
    assert written[1].read_bytes().startswith(b"%PDF") and written[1].stat().st_size > 1000
    width, height = png_size(written[0])
    assert width == round(figures.WIDTH * 80)
    assert height == round((1.0 + 0.3 * 3) * 80)  # three estimator rows, no group headers
    assert 0.02 < inked(written[0]) < 0.5


def test_forest_plot_shows_effect_sizes_unless_raw_and_marks_the_truth(project_dir):
    rows = visualize_runs.complete_rows(json.loads(write_run(project_dir, 1).read_text()), Path("x"), raw=False)
    figure = figures.forest_figure([("toy, rm", rows)], raw=False, alpha=0.05)
    panels = {axis.get_title(): axis for axis in figure.axes}
    assert set(panels) == {"ATE", "ATT", "ATU"}
    std = 0.5
    # each estimator on its own row (naive y=0, single rewrite 1, RATE 2) at its effect size
    ate = sorted(marks(panels["ATE"]), key=lambda mark: mark[1])
    assert ate == [(pytest.approx(0.90 / std), 0), (pytest.approx(0.70 / std), 1), (pytest.approx(0.52 / std), 2)]
    bar = panels["ATE"].containers[2].lines[2][0].get_segments()[0]
    assert [x for x, _ in bar] == [pytest.approx((0.52 - 1.96 * 0.02) / std), pytest.approx((0.52 + 1.96 * 0.02) / std)]
    assert [float(line.get_xdata()[0]) for line in truth_lines(panels["ATT"])] == [pytest.approx(0.47 / std)]
    assert "effect size" in panels["ATT"].get_xlabel()

    raw = {axis.get_title(): axis for axis in figures.forest_figure([("toy, rm", rows)], raw=True, alpha=0.05,
                                                                    reward="rm").axes}
    assert sorted(x for x, _ in marks(raw["ATE"])) == [pytest.approx(0.52), pytest.approx(0.70), pytest.approx(0.90)]
    assert [float(line.get_xdata()[0]) for line in truth_lines(raw["ATT"])] == [pytest.approx(0.47)]
    assert "reward (rm)" in raw["ATT"].get_xlabel()
    # no truth known, no truth line
    unknown = visualize_runs.complete_rows(json.loads(write_run(project_dir, 2, truth=False).read_text()), Path("x"),
                                      raw=False)
    assert not any(truth_lines(axis) for axis in figures.forest_figure([("t", unknown)], raw=False, alpha=0.05).axes)


@pytest.mark.slow
def test_forest_plot_over_many_files_stacks_a_block_per_file(project_dir, capsys):
    first = write_run(project_dir, 1, dataset="toy", reward="rm")
    second = write_run(project_dir, 2, dataset="other", reward="rm2", truth=False, shift=0.3)
    out = run_visualize(capsys, f"--visualize.effects_filename=[{first}, {second}]", "--visualize.dpi=60")
    forest = next(project_dir.glob("plots/comparison_estimates_*.png"))
    # two header slots and three estimator rows per file
    assert png_size(forest) == (round(figures.WIDTH * 60), round((1.0 + 0.3 * 8) * 60))
    rows = [visualize_runs.complete_rows(json.loads(path.read_text()), path, raw=False) for path in (first, second)]
    figure = figures.forest_figure([("toy, rm", rows[0]), ("other, rm2", rows[1])], raw=False, alpha=0.05)
    ate = figure.axes[0]
    # the second file's block is below the first's header, three rows and its own header
    assert [y for _, y in sorted(marks(ate), key=lambda mark: mark[1])] == [1, 2, 3, 5, 6, 7]
    assert [t.get_text() for t in ate.get_yticklabels()] == ["toy, rm", *figures.ESTIMATORS, "other, rm2",
                                                             *figures.ESTIMATORS]
    # the first file knows its truth, the second does not: one truth mark, over the first block only
    (truth,) = truth_lines(ate)
    assert truth.get_ydata()[0] > 0.5 and truth.get_ydata()[1] < 3.5
    meta = utils.read_meta(forest)
    assert [item["path"] for item in meta["inputs"]] == [str(first), str(second)]
    page = Path(out[-1]).read_text()
    assert "<h3" in page and "toy, rm" in page and "other, rm2" in page
    # each file's table is printed, under its label
    assert sum(line.startswith("| estimator | estimand |") for line in out) == 2
    assert "other, rm2  (other_rm2_treatment_effects_20250101_120002.json)" in out


@pytest.mark.slow
def test_score_distributions_and_a_group_missing(tmp_path):
    import numpy as np

    groups = {True: (np.array([0.1, 0.5, 0.9]), np.array([0.2, 0.6, 1.0])),
              False: (np.array([-0.5, -0.1]), np.array([-0.4, 0.0]))}
    both = figures.score_distributions(groups, tmp_path / "both.png", dpi=50, reward="rm")
    assert png_size(both[0]) == (round(figures.WIDTH * 50), round(2.7 * 50)) and inked(both[0]) > 0.02
    figure = figures.distributions_figure(groups, reward="rm")
    assert [axis.get_title().split("  ")[0] for axis in figure.axes] == ["W = 1", "W = 0"]
    means = {line.get_gid(): float(line.get_xdata()[0]) for line in figure.axes[1].lines}
    assert means == {"mean original": pytest.approx(-0.3), "mean rewritten rewrite": pytest.approx(-0.2)}
    assert "mean change +0.1" in figure.axes[1].get_title()
    # hh_rlhf_harmlessness has W = 1 only: one panel, same size
    one = figures.score_distributions({True: groups[True]}, tmp_path / "one.png", dpi=50, reward="rm")
    assert png_size(one[0]) == png_size(both[0])
    assert len(figures.distributions_figure({True: groups[True]}, reward="rm").axes) == 1


@pytest.mark.slow
def test_sweep_reads_the_swept_value_from_the_run_that_used_it(project_dir, tmp_path):
    key = "rewrites.template_options.p_typos_given_negative"
    files = [write_run(project_dir, 1, rewrite_options={"p_typos_given_negative": 0.9}, shift=0.2),
             # the effects phase ran with another value; the rewrites phase's sidecar is what counts
             write_run(project_dir, 2, rewrite_options={"p_typos_given_negative": 0.1},
                       effects_options={"p_typos_given_negative": 0.5}),
             # left at the template's default (0.7 in dataset_templates/synthetic_sentiment.py)
             write_run(project_dir, 3, shift=0.1)]
    assert [visualize_runs.config_value(path, key) for path in files] == [0.9, 0.1, 0.7]
    cfg = utils.load_config(None, [("visualize.sweep_files", "[toy_rm_treatment_effects_*.json]"),
                                   ("visualize.sweep_key", key)])
    points, paths = visualize_runs.sweep_points(cfg["visualize"], cfg, raw=False)
    assert paths == [p.resolve() for p in files] and [x for x, _ in points] == [0.9, 0.1, 0.7]
    written = figures.sweep_plot(points, tmp_path / "sweep.png", parameter="p", raw=False, alpha=0.05, dpi=50)
    assert png_size(written[0]) == (round(figures.WIDTH * 50), round(2.9 * 50)) and inked(written[0]) > 0.02
    figure = figures.sweep_figure(points, parameter="p", raw=False, alpha=0.05)
    ate = figure.axes[0]
    rate = ate.containers[2].lines[0]  # naive, single rewrite, RATE
    # RATE's points, left to right, with the fixture's shifts (0.1 at 0.7, 0.2 at 0.9), as effect sizes
    assert list(rate.get_ydata()) == pytest.approx([0.52 / 0.5, 0.62 / 0.5, 0.72 / 0.5])
    # at each swept value, dodged by at most a tenth of the smallest gap (0.2), and ticked there
    assert list(rate.get_xdata()) == pytest.approx([0.1, 0.7, 0.9], abs=0.1 * 0.2)
    assert list(ate.get_xticks()) == [0.1, 0.7, 0.9]
    (truth,) = truth_lines(ate)
    assert list(truth.get_xdata()) == [0.1, 0.7, 0.9] and list(truth.get_ydata()) == pytest.approx([1.0, 1.2, 1.4])
    assert ate.get_xlabel() == "" and figure.axes[1].get_xlabel() == "p"

    given = utils.load_config(None, [("visualize.sweep_files", "[toy_rm_treatment_effects_*.json]"),
                                     ("visualize.sweep_values", "[3, 1, 2]")])
    assert [x for x, _ in visualize_runs.sweep_points(given["visualize"], given, raw=True)[0]] == [3.0, 1.0, 2.0]
    short = utils.load_config(None, [("visualize.sweep_files", "[toy_rm_treatment_effects_*.json]"),
                                     ("visualize.sweep_values", "[3, 1]")])
    with pytest.raises(utils.RateError, match="2 values for 3 sweep files"):
        visualize_runs.sweep_points(short["visualize"], short, raw=True)
    with pytest.raises(utils.RateError, match="no key 'rewrites.template_options.nonexistent'"):
        visualize_runs.config_value(files[0], "rewrites.template_options.nonexistent")


# ---------------------------------------------------------------------------------------------
# Rows, samples, escaping
# ---------------------------------------------------------------------------------------------


def test_effect_sizes_are_computed_for_files_without_them():
    today = {"reward_std": 2.0, "estimates": [{"estimator": "RATE", "estimand": "ATE", "estimate": 1.0, "se": 0.1,
                                               "ci_low": 0.8, "ci_high": 1.2, "truth": None}]}
    row = visualize_runs.complete_rows(today, Path("e.json"), raw=False)[0]
    assert (row["norm_estimate"], row["norm_se"], row["norm_ci_low"], row["norm_ci_high"]) == (0.5, 0.05, 0.4, 0.6)
    assert row["p"] is None and row["norm_truth"] is None
    given = visualize_runs.complete_rows({"reward_std": 2.0, "estimates": [{**today["estimates"][0], "norm_estimate": 9.0}]},
                                    Path("e.json"), raw=False)[0]
    assert given["norm_estimate"] == 9.0, "a file's own effect size is kept"
    with pytest.raises(utils.RateError, match="visualize.raw=true"):
        visualize_runs.complete_rows({"estimates": today["estimates"]}, Path("e.json"), raw=False)
    assert visualize_runs.complete_rows({"estimates": today["estimates"]}, Path("e.json"), raw=True)[0]["norm_estimate"] is None
    # an estimand the data cannot define has no estimate: it is left out of the plot, not an error
    undefined = {**today["estimates"][0], "estimand": "ATU", "estimate": None, "se": None, "ci_low": None,
                 "ci_high": None}
    rows = visualize_runs.complete_rows({"reward_std": 2.0, "estimates": [today["estimates"][0], undefined]},
                                   Path("e.json"), raw=False)
    assert rows[1]["norm_estimate"] is None


def test_samples_are_seeded_alternate_w_and_cut_long_texts(project_dir):
    records = utils.read_records(Path(json.loads(write_run(project_dir, 1).read_text())["input_file"]))
    first = samples.draw_samples(records, "rm", 4, seed=7)
    assert [s["id"] for s in first] == [s["id"] for s in samples.draw_samples(records, "rm", 4, seed=7)]
    assert [s["id"] for s in first] != [s["id"] for s in samples.draw_samples(records, "rm", 4, seed=8)]
    assert [s["w"] for s in first] == [True, False, True, False]
    assert len(samples.draw_samples(records, "rm", 100, seed=7)) == 16

    long_one = [s for s in samples.draw_samples(records, "rm", 16, seed=0) if s["id"] == "ex-3"]
    latex = samples.samples_latex(long_one, max_chars=50, reward="rm_x", seed=0)
    assert r"\ldots{}" in latex and "word " * 20 not in latex and r"rm\_x" in latex
    markdown = report.to_markdown(samples.sample_blocks(long_one, 50), project_dir)
    assert "…" in markdown and "word " * 20 not in markdown
    special = [s for s in samples.draw_samples(records, "rm", 16, seed=0) if s["id"] == "ex-0"]
    latex = samples.samples_latex(special, max_chars=400, reward="rm", seed=0)
    assert r"50\% of it \& more\_\{x\} \textasciitilde{} \$5 \#0 \textasciicircum{} \textbackslash{}" in latex
    assert samples.cut("short", 10) == ("short", False)
    assert samples.cut("aaaa bbbb cccc", 11) == ("aaaa bbbb", True)  # back to the word boundary
    assert samples.cut("aaaa bbbbbbbbbb", 12) == ("aaaa bbbbbbb", True)  # no boundary near: a hard cut


# ---------------------------------------------------------------------------------------------
# The report
# ---------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_report_has_every_section_in_html_and_markdown(project_dir, capsys):
    effects = write_run(project_dir, 1, diagnostics={
        "overlap": {"min_propensity": 0.12}, "undefined": {},
        "asymmetry": {"estimate": -0.25, "se": 0.01, "ci_low": -0.27, "ci_high": -0.23, "p": 0.0031, "df": 14.0,
                      "meaning": "how much the two rewrite directions differ off target"}})
    out = run_visualize(capsys, f"--visualize.effects_filename={effects}", "--visualize.dpi=50",
                        "--visualize.sample_rewrites=2", "--visualize.seed=3")
    html_path = Path(out[-1])
    assert html_path.suffix == ".html" and html_path.is_file() and html_path.parent == project_dir / "plots"
    page, markdown = html_path.read_text(), html_path.with_suffix(".md").read_text()
    for section in report.SECTIONS:
        assert f">{section}</h2>" in page, section
        assert f"\n## {section}\n" in markdown, section
    # self-contained: every image inlined, none linked
    assert page.count('src="data:image/png;base64,') == 2 and 'src="/' not in page
    for link in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", markdown):
        assert (html_path.parent / link).is_file(), link
    # p-values in the one format of reporting/render.py: 1e-6, 0.0123 and 0.0031 as below
    for text in ("7 of 8", "87.5%", "the toy rule", "failed rewrite", "overlap.min_propensity", "0.12", "1.0e-06", "0.012",
                 "abc123", "ex-", "-0.2500", "[-0.2700, -0.2300]", "0.003", "df=14", "asymmetry: how much the two"):
        assert text in page, text
    assert re.search(r"\| dropped: failed rewrite +\| +1 \|", markdown)
    assert 'class="warning"' not in page and "**Warning:**" not in markdown  # 87.5% is above the threshold
    # every file of the run is listed, and has its sidecar
    support = html_path.with_suffix("")
    made = sorted(p.name for p in support.iterdir())
    assert [n for n in made if n.endswith((".png", ".tex"))] == [f"toy_rm_{kind}_{support.name[-15:]}.{ext}" for kind, ext in
                                                                (("distributions", "png"), ("effects", "tex"), ("samples", "tex"))]
    assert utils.read_meta(support / made[2])["inputs"][0]["path"] == json.loads(effects.read_text())["input_file"]
    assert utils.read_meta(html_path)["script"] == "visualize.py"
    printed = "\n".join(out)
    for name in made:
        if not name.endswith(".meta.json"):
            assert str(support / name) in printed
    # a run writes new files and never touches the last run's
    before = {p: p.stat().st_mtime_ns for p in (project_dir / "plots").rglob("*")}
    run_visualize(capsys, f"--visualize.effects_filename={effects}", "--visualize.dpi=50")
    assert all(p.stat().st_mtime_ns == t for p, t in before.items())


@pytest.mark.slow
def test_a_moved_scored_file_still_gives_a_report(project_dir, capsys):
    effects = write_run(project_dir, 1)
    scored = Path(json.loads(effects.read_text())["input_file"])
    scored.rename(scored.with_name("moved.jsonl"))
    out = run_visualize(capsys, f"--visualize.effects_filename={effects}", "--visualize.dpi=50")
    page = Path(out[-1]).read_text()
    assert "scored file not found" in page and page.count("data:image/png;base64,") == 1


@pytest.mark.slow
def test_demo_pipeline_ends_with_the_report(project_dir):
    for script in ("create_dataset.py", "score_dataset.py", "treatment_effects.py", "visualize.py"):
        done = run_script(script, "--config", str(REPO / "config.yaml"), "--rewrites.n_examples=200")
        assert done.returncode == 0, f"{script}:\n{done.stderr[-3000:]}"
    lines = done.stdout.strip().splitlines()
    page = Path(lines[-1])
    assert page.suffix == ".html" and page.is_file()
    assert "| RATE | ATE |" in done.stdout
    text = page.read_text()
    assert all(f">{section}</h2>" in text for section in report.SECTIONS)
    assert "first rewrite" in text and "W=1→0" in text and "synthetic_sentiment" in text
    assert "Agreement of the judge with the dataset&#x27;s own W on the originals: 200 of 200 (100.0%" in text
    assert [p.name for p in (project_dir / "plots").glob("*.png")] == [
        p.name for p in (project_dir / "plots").glob("synthetic_sentiment_vader_estimates_*.png")]
    support = page.with_suffix("")
    assert len(list(support.glob("*_distributions_*.png"))) == 1 and len(list(support.glob("*_samples_*.tex"))) == 1
    assert png_size(next(support.glob("*.png")))[0] == round(figures.WIDTH * 150)


@pytest.mark.slow
def test_low_efficacy_is_the_headline_of_the_report_the_figure_and_the_printout(project_dir, capsys):
    effects = write_run(project_dir, 1, missed=6)  # 3 of 8 rewrites per group unflipped: 62.5 %
    out = run_visualize(capsys, f"--visualize.effects_filename={effects}", "--visualize.dpi=50")
    page = Path(out[-1]).read_text()
    markdown = Path(out[-1]).with_suffix(".md").read_text()
    # Right under the title, before any section: it is read before any number.
    assert page.index('class="warning"') < page.index(">Configuration</h2>")
    assert "Rewrite efficacy is below 80%: first rewrite W=1→0 (W=1 examples): 5 of 8 (62.5%)" in page
    assert markdown.index("> **Warning:** Rewrite efficacy is below 80%") < markdown.index("## Configuration")
    assert out[0].startswith("WARNING: Rewrite efficacy is below 80%")
    # The forest plot carries it too: the figure is taller by the headline's box.
    forest = next((project_dir / "plots").glob("*_estimates_*.png"))
    plain = write_run(project_dir, 2)
    run_visualize(capsys, f"--visualize.effects_filename={plain}", "--visualize.dpi=50")
    unwarned = max((project_dir / "plots").glob("*_estimates_*.png"), key=lambda p: p.stat().st_mtime_ns)
    assert png_size(forest)[1] > png_size(unwarned)[1]
