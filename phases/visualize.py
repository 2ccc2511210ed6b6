"""Phase 4 of RATE: the figures and the report a researcher puts in a paper.

From one or many effects files (datasets x attributes x reward models) it draws
  - a forest plot: each estimator's estimate and confidence interval per estimand, as effect sizes
    (effect / SD of the reward) unless `visualize.raw` is true, the ground truth marked when known;
  - per effects file, the score distributions R(original) vs R(rewritten rewrite) in each W group,
    read from the scored file the effects were computed from;
  - when `visualize.sweep_files` is set, the estimates against a parameter that varies between those
    runs, read at `visualize.sweep_key` from each run's .meta.json config (or given as
    `visualize.sweep_values`);
  - `visualize.sample_rewrites` examples drawn with `visualize.seed`, as markdown and LaTeX;
and a report, as one self-contained HTML file and as markdown, holding all of it with the config,
counts, drops, rewrite efficacy and the effects table. It then prints the effects table, every file
of the run, and last the report's path.

Usage:
    python visualize.py --config config.yaml [--visualize.effects_filename=latest] [--visualize.raw=true]
    python visualize.py --config config.yaml --visualize.effects_filename='[a.json, b.json]'
    python visualize.py --config config.yaml --visualize.sweep_files='[effects/*typo*.json]' \\
        --visualize.sweep_key=rewrites.template_options.p_typos_given_negative

Each effects entry is `latest`, a path, or a glob pattern (relative to . or to PROJECT_DIR/effects).
Writes, with a .meta.json sidecar each:
    PROJECT_DIR/plots/<dataset>_<model>_estimates[_smoke_test]_<stamp>.png   the forest plot (and .pdf)
    PROJECT_DIR/plots/<dataset>_<model>_report[_smoke_test]_<stamp>.html     the report (and .md)
    PROJECT_DIR/plots/<dataset>_<model>_report[_smoke_test]_<stamp>/         its other figures and samples
where <dataset>_<model> is `comparison` when the effects files differ in either.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import utils

logger = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> None:
    cfg, started = utils.start(argv, __doc__)
    paths, runs = read_runs(cfg)
    # The sweep's files are read before anything is written, so that a wrong key leaves no half run.
    points, sweep_inputs = sweep_points(cfg)
    subject = Subject.of([run.effects for run in runs], cfg)
    warnings = [f"{run.label}: {line}" if len(runs) > 1 else line for run in runs for line in headlines(run)]

    # Both names are taken before any drawing, so that the run's files usually share one time stamp.
    forest = utils.artifacts.new_path(utils.artifacts.of(cfg, "estimates", *subject.of_what), "png")
    report = utils.artifacts.new_path(utils.artifacts.of(cfg, "report", *subject.of_what), "md")
    report_html = report.sibling(".html")
    # The report's other files live in a folder of its own name, so that plots/ holds one headline
    # figure and one report per run.
    folder = report.path.with_suffix("")
    # All of this run's figures and the report, or none of them (a full disk, a failed figure, a kill).
    with utils.artifacts.all_or_none(forest.path.parent, forest.path.stem) as keep:
        keep(*forest.files(".pdf"), folder, *report.files(".html"))
        outputs = draw_forest(runs, forest, subject, warnings, paths, cfg, started)
        folder.mkdir()
        runs, written = write_run_files(runs, folder, cfg, started, report.stamp)
        outputs += written
        sweep = folder / f"{subject.of_what[0]}_sweep_{report.stamp}.png" if points else None
        if sweep:
            outputs += draw_sweep(points, sweep, sweep_inputs, subject, cfg, started)
        upstream = list(dict.fromkeys(p for path in paths + sweep_inputs for p in utils.artifacts.lineage(path)))
        files = [report_html, report.path, *outputs, *upstream]
        write_report(runs, report, forest.path, sweep, files,
                     [*paths, *[r.scored_path for r in runs if r.scored_path], *sweep_inputs], cfg, started)
        forest.release()
        report.release()
    utils.log_summary(logger, ", ".join(str(path) for path in paths), f"{report_html} and {len(outputs)} figures "
                      f"and tables beside it", "none" if not warnings else f"nothing; {len(warnings)} warning(s) above the "
                      "report's estimates")
    print_run(runs, warnings, files, report_html)


def read_runs(cfg) -> tuple[list[Path], list]:
    """The effects files of the run and, for each, what the report shows of it (reporting/runs.py)."""
    from reporting import runs as report_runs

    section = cfg["visualize"]
    dataset, score = utils.dataset_key(cfg, "visualize"), section["score"] or utils.scored_model(cfg)
    entries = section["effects_filename"]
    paths = report_runs.resolve_effects([entries] if isinstance(entries, str) else entries, (dataset, score), cfg,
                                        "visualize.effects_filename")
    loaded = [report_runs.load_effects(path) for path in paths]
    names = section["labels"] or report_runs.labels(loaded, paths)
    if len(names) != len(paths):
        raise utils.RateError(f"{cfg.source('visualize.labels')}: visualize.labels has {len(names)} labels for "
                              f"{len(paths)} effects files")
    return paths, [report_runs.make_run(str(label), path, effects, section)
                   for label, path, effects in zip(names, paths, loaded)]


def sweep_points(cfg) -> tuple[list, list[Path]]:
    from reporting import runs as report_runs

    section = cfg["visualize"]
    return report_runs.sweep_points(section, cfg, section["raw"]) if section["sweep_files"] else ([], [])


@dataclasses.dataclass(frozen=True)
class Subject:
    """What the figures are of: one dataset and model, or a comparison; the reward key when all the
    files share one; and the level of their intervals."""
    of_what: tuple[str, list[str]]
    reward: str | None
    alpha: float

    @classmethod
    def of(cls, loaded: list[dict], cfg) -> "Subject":
        dataset = utils.dataset_key(cfg, "visualize")
        score = cfg["visualize"]["score"] or utils.scored_model(cfg)
        kinds = {(e.get("dataset_name", dataset), e.get("score", score)) for e in loaded}
        of_what = (kinds.pop()[0], [loaded[0].get("score", score)]) if len(kinds) == 1 else ("comparison", [])
        reward = loaded[0].get("reward_key") if len({e.get("reward_key") for e in loaded}) == 1 else None
        return cls(of_what, reward, loaded[0].get("alpha", 0.05))


def headlines(run) -> list[str]:
    from reporting import report

    return report.headlines(run)


def draw_forest(runs: list, forest, subject: Subject, warnings: list[str], paths: list[Path], cfg,
                started: str) -> list[Path]:
    """The forest plot of every run, its sidecar first: a file under its final name always has one."""
    from reporting import figures

    section = cfg["visualize"]
    counts = ({"n1": runs[0].effects.get("Y1_count"), "n0": runs[0].effects.get("Y0_count")} if len(runs) == 1
              else {"files": len(runs)})
    utils.write_meta(forest.path, script="visualize.py", cfg=cfg, started_at=started, inputs=paths, counts=counts,
                     artifact=forest.artifact)
    # A smoke file plotted by a full run is still a smoke result: its sidecar's config says so.
    smoke = cfg.smoke or any(((run.effects_meta or {}).get("config") or {}).get("smoke_test") for run in runs)
    return figures.forest_plot([(run.label, run.rows) for run in runs], forest.path, raw=section["raw"],
                               alpha=subject.alpha, dpi=section["dpi"], reward=subject.reward, warnings=warnings,
                               smoke=smoke)


def write_run_files(runs: list, folder: Path, cfg, started: str, stamp: str) -> tuple[list, list[Path]]:
    """Each run's own figures and tables: the runs with their paths, and every file written."""
    from reporting import runs as report_runs

    done, outputs = [], []
    for run, name in zip(runs, report_runs.unique_names(runs)):
        run, written = report_runs.write_run_files(run, folder, name, cfg["visualize"], cfg, started, stamp)
        done.append(run)
        outputs += written
    return done, outputs


def draw_sweep(points: list, sweep: Path, sweep_inputs: list[Path], subject: Subject, cfg, started: str) -> list[Path]:
    from reporting import figures

    section = cfg["visualize"]
    utils.write_meta(sweep, script="visualize.py", cfg=cfg, started_at=started, inputs=sweep_inputs,
                     counts={"points": len(points)})
    smoke = cfg.smoke or any(((utils.read_meta(path) or {}).get("config") or {}).get("smoke_test")
                             for path in sweep_inputs)
    return figures.sweep_plot(points, sweep, dpi=section["dpi"], raw=section["raw"], alpha=subject.alpha,
                              reward=subject.reward,
                              parameter=section["sweep_label"] or section["sweep_key"] or "sweep value", smoke=smoke)


def write_report(runs: list, output, forest: Path, sweep: Path | None, files: list[Path], inputs: list[Path], cfg,
                 started: str) -> None:
    """The report as markdown and as one HTML page, under one sidecar (the HTML's)."""
    from reporting import report

    section = cfg["visualize"]
    title = f"RATE report: {runs[0].label}" if len(runs) == 1 else f"RATE report: {len(runs)} effects files"
    blocks = report.report_blocks(runs, title=title, forest=forest, sweep=sweep, max_chars=section["sample_max_chars"],
                                  seed=section["seed"], files=files, when=utils.now())
    markdown, page = report.to_markdown(blocks, output.path.parent), report.to_html(blocks, title)
    utils.write_output(output.sibling(".html"),
                       lambda path: (utils.atomic_write(output.path, lambda h: h.write(markdown)),
                                     utils.atomic_write(path, lambda h: h.write(page))),
                       script="visualize.py", cfg=cfg, started_at=started, artifact=output.artifact, inputs=inputs)


def print_run(runs: list, warnings: list[str], files: list[Path], report_html: Path) -> None:
    from reporting import tables

    for line in warnings:
        print(f"WARNING: {line}")
    for run in runs:
        if len(runs) > 1:
            print(f"\n{run.label}  ({run.effects_path.name})")
        print(tables.format_table(run.effects["estimates"], run.effects.get("alpha", 0.05)))
    print("\nfiles of this run (each with a .meta.json sidecar, the PDFs and .tex beside theirs):")
    for path in files:
        print(f"  {path}")
    print("\nreport:")
    print(report_html)
