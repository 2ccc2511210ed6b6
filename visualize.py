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

import logging
import sys

import utils

# loaded on first use, so that --help answers at once (utils.lazy_import)
figures = utils.lazy_import("reporting.figures")
report = utils.lazy_import("reporting.report")
report_runs = utils.lazy_import("reporting.runs")
tables = utils.lazy_import("reporting.tables")

logger = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> None:
    cfg, started = utils.start(argv, __doc__)
    section = cfg["visualize"]
    raw, dpi = section["raw"], section["dpi"]

    dataset = utils.dataset_key(cfg, "visualize")
    score = section["score"] or utils.scored_model(cfg)
    entries = section["effects_filename"]
    paths = report_runs.resolve_effects([entries] if isinstance(entries, str) else entries, (dataset, score), cfg,
                                        "visualize.effects_filename")
    if not paths:
        raise utils.RateError(f"{cfg.source('visualize.effects_filename')}: visualize.effects_filename is empty")
    loaded = [report_runs.load_effects(path) for path in paths]
    names = section["labels"] or report_runs.labels(loaded, paths)
    if len(names) != len(paths):
        raise utils.RateError(f"{cfg.source('visualize.labels')}: visualize.labels has {len(names)} labels for "
                              f"{len(paths)} effects files")
    runs = [report_runs.make_run(str(label), path, effects, section)
            for label, path, effects in zip(names, paths, loaded)]
    # The sweep's files are read before anything is written, so that a wrong key leaves no half run.
    points, sweep_inputs = report_runs.sweep_points(section, cfg, raw) if section["sweep_files"] else ([], [])
    kinds = {(e.get("dataset_name", dataset), e.get("score", score)) for e in loaded}
    # One dataset and model: the figures are of them; several: a comparison.
    of_what = ((kinds.pop()[0], [loaded[0].get("score", score)]) if len(kinds) == 1 else ("comparison", []))
    reward = loaded[0].get("reward_key") if len({e.get("reward_key") for e in loaded}) == 1 else None
    alpha = loaded[0].get("alpha", 0.05)

    # Both names are taken before any drawing, so that the run's files usually share one time stamp.
    forest, forest_artifact = utils.artifacts.new_path(utils.artifacts.of(cfg, "estimates", *of_what), "png")
    report_md, report_artifact = utils.artifacts.new_path(utils.artifacts.of(cfg, "report", *of_what), "md")
    report_html = report_md.with_suffix(".html")
    # The report's other files live in a folder of its own name, so that plots/ holds one headline
    # figure and one report per run.
    folder = report_md.with_suffix("")
    warnings = [f"{run.label}: {line}" if len(runs) > 1 else line for run in runs for line in report.headlines(run)]
    reserved = [p.with_name(f".{p.stem}.reserved") for p in (forest, report_md)]
    # All of this run's figures and the report, or none of them (a full disk, a failed figure, a kill).
    with utils.artifacts.all_or_none(forest.parent, forest.stem) as keep:
        keep(forest, forest.with_suffix(".pdf"), utils.meta_path(forest), folder, report_html, report_md,
             utils.meta_path(report_html), *reserved)
        counts = {"n1": loaded[0].get("Y1_count"), "n0": loaded[0].get("Y0_count")} if len(runs) == 1 else {"files": len(runs)}
        # Each sidecar before its figure: a file under its final name always has one.
        utils.write_meta(forest, script="visualize.py", cfg=cfg, started_at=started, inputs=paths, counts=counts,
                         artifact=forest_artifact)
        # A smoke file plotted by a full run is still a smoke result: its sidecar's config says so.
        smoke = cfg.smoke or any(((run.effects_meta or {}).get("config") or {}).get("smoke_test") for run in runs)
        outputs = figures.forest_plot([(run.label, run.rows) for run in runs], forest, raw=raw, alpha=alpha, dpi=dpi,
                                      reward=reward, warnings=warnings, smoke=smoke)
        folder.mkdir()
        for run, name in zip(runs, report_runs.unique_names(runs)):
            outputs += report_runs.write_run_files(run, folder, name, section, cfg, started, report_artifact.stamp)
        sweep = None
        if points:
            sweep = folder / f"{of_what[0]}_sweep_{report_artifact.stamp}.png"
            utils.write_meta(sweep, script="visualize.py", cfg=cfg, started_at=started, inputs=sweep_inputs,
                             counts={"points": len(points)})
            smoke_sweep = cfg.smoke or any(((utils.read_meta(path) or {}).get("config") or {}).get("smoke_test")
                                           for path in sweep_inputs)
            outputs += figures.sweep_plot(points, sweep, dpi=dpi, raw=raw, alpha=alpha, reward=reward,
                                          parameter=section["sweep_label"] or section["sweep_key"] or "sweep value",
                                          smoke=smoke_sweep)

        upstream = list(dict.fromkeys(p for path in paths + sweep_inputs for p in utils.artifacts.lineage(path)))
        files = [report_html, report_md, *outputs, *upstream]
        title = f"RATE report: {runs[0].label}" if len(runs) == 1 else f"RATE report: {len(runs)} effects files"
        blocks = report.report_blocks(runs, title=title, forest=forest, sweep=sweep,
                                      max_chars=section["sample_max_chars"], seed=section["seed"], files=files,
                                      when=utils.now())
        markdown, page = report.to_markdown(blocks, report_md.parent), report.to_html(blocks, title)
        utils.write_output(report_html, lambda path: (utils.atomic_write(report_md, lambda h: h.write(markdown)),
                                                      utils.atomic_write(path, lambda h: h.write(page))),
                           script="visualize.py", cfg=cfg, started_at=started, artifact=report_artifact,
                           inputs=[*paths, *[r.scored_path for r in runs if r.scored_path], *sweep_inputs])
        for path in reserved:
            path.unlink(missing_ok=True)
    utils.log_summary(logger, ", ".join(str(path) for path in paths), f"{report_html} and {len(outputs)} figures "
                      f"and tables beside it", "none" if not warnings else f"nothing; {len(warnings)} warning(s) above the "
                      "report's estimates")

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


if __name__ == "__main__":
    sys.exit(utils.run_cli(main))
