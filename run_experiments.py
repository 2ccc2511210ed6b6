"""`make experiments`: the RATE paper's ground-truth experiments, and the stress test it describes, as
sweeps over the offline corpus, each point over many seeds.

Every file in configs/experiments/ is a RATE config with an `experiment:` section: the config key
to sweep (`sweep_key`), its `values`, the `replicates` (seeds) per value and the `seed_keys` each
replicate sets. Each (value, seed) point runs the four phases' work in this process (experiments/
runner.py); each sweep gives each estimator's bias, RMSE and 95% CI coverage against the oracle
truth at every value, as a figure and a table, and one HTML page collects every sweep of the run.
A new sweep is a new file.

With --rewriter-url (`make experiments REWRITER=local` serves SmolLM2-135M-Instruct and passes it), each
experiment instead runs its one `experiment.real_rewriter_value` point through the four scripts with
that server's model as the rewriter, beside the simulated rewriter on the same sample
(experiments/real_rewriter.py).

Usage:
    python run_experiments.py [--only correlation --only typos] [--smoke] [--replicates 5] [--workers 2]
    python run_experiments.py --rewriter-url http://127.0.0.1:8765/v1 [--only typos] [--rewriter-examples 60]

Writes PROJECT_DIR/experiments/<experiment>_experiment[_smoke_test]_<stamp>.csv (and .md, .tex, and the
figure as .png and .pdf, under one .meta.json sidecar) and
PROJECT_DIR/experiments/experiments_experiment[_smoke_test]_<stamp>.html, the page of the run; with
--rewriter-url, PROJECT_DIR/experiments/<experiment>_real_rewriter_experiment_<stamp>.md and .csv, with
the four phases' files of the point where they always go.
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from tqdm import tqdm

import utils

# loaded on first use, so that --help answers at once (utils.lazy_import)
experiment_output = utils.lazy_import("experiments.output")
real_rewriter = utils.lazy_import("experiments.real_rewriter")
experiment_runner = utils.lazy_import("experiments.runner")
experiment_summary = utils.lazy_import("experiments.summary")

logger = logging.getLogger(__name__)
DEFINITIONS = utils.REPO_DIR / "configs" / "experiments"
WORKERS = multiprocessing.get_context("spawn")


def point(task: tuple) -> tuple:
    path, value, replicate, overrides = task
    experiment_runner.quiet()
    cfg = utils.load_config(path, overrides)
    return value, replicate, experiment_runner.run_point(cfg)


def tasks_of(path: Path, smoke: bool, replicates: int | None) -> tuple[dict, list[tuple]]:
    """The experiment section of one file, and its (file, value, replicate, overrides) points."""
    section = utils.load_config(path)["experiment"]
    if not section["sweep_key"] or not section["values"]:
        raise utils.RateError(f"{path}: experiment.sweep_key and experiment.values must be set")
    values = section["smoke_values"] or section["values"] if smoke else section["values"]
    count = replicates or (section["smoke_replicates"] if smoke else section["replicates"])
    tasks = []
    for value in values:
        for replicate in range(count):
            overrides = [(section["sweep_key"], str(value))] + [(key, str(replicate)) for key in section["seed_keys"]]
            if smoke:
                overrides.append(("rewrites.n_examples", str(section["smoke_n_examples"])))
            tasks.append((str(path), value, replicate, overrides))
    utils.load_config(path, tasks[0][3])  # a wrong key fails here, before any point runs
    return section, tasks


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--only", action="append", help="an experiment's file name without .yaml (repeatable)")
    parser.add_argument("--smoke", action="store_true", help="the smoke version: few values, seeds and examples")
    parser.add_argument("--replicates", type=int, help="seeds per value (default: each file's)")
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1), help="processes (default 2)")
    parser.add_argument("--rewriter-url", help="an OpenAI-compatible server: run each experiment's real-rewriter "
                                               "point with its model instead of the sweeps")
    parser.add_argument("--rewriter-model", default="SmolLM2-135M-Instruct", help="the served model's name")
    parser.add_argument("--rewriter-examples", type=int, help="examples of the real-rewriter point "
                                                              "(default: each file's real_rewriter_n_examples)")
    args = parser.parse_args(argv)
    utils.setup_logging()
    utils.load_env()
    utils.files.check_project_dir()
    if args.replicates is not None and args.replicates < 2:
        raise utils.RateError(f"command line: --replicates must be at least 2 (a Monte Carlo SE needs 2), "
                              f"got {args.replicates}")
    found = {p.stem: p for p in sorted(DEFINITIONS.glob("*.yaml"))}
    unknown = sorted(set(args.only or []) - set(found))
    if unknown:
        raise utils.RateError(f"command line: --only {unknown[0]}: no such experiment in {DEFINITIONS} "
                              f"(there: {', '.join(found)})")
    chosen = {name: found[name] for name in (args.only or found)}
    if args.rewriter_url:
        return real_rewriter_points(chosen, args)
    # Workers start fresh (spawn) and read this before importing tqdm: the phases' own progress bars
    # would print hundreds of lines; the sweep shows one bar per experiment instead.
    os.environ["TQDM_DISABLE"] = "1"
    planned = {name: tasks_of(path, args.smoke, args.replicates) for name, path in chosen.items()}
    started = utils.now()

    sections = []
    for name, (section, tasks) in planned.items():
        logger.info("%s: %d values x %d replicates from %s", name, len({t[1] for t in tasks}),
                    len({t[2] for t in tasks}), chosen[name])
        results: dict = {}
        with ProcessPoolExecutor(max_workers=args.workers, mp_context=WORKERS) as pool:
            for value, replicate, result in tqdm(pool.map(point, tasks), total=len(tasks), desc=f"{name} points",
                                                 unit="point"):
                results.setdefault(value, []).append(result)
        rows = [row for value, found_points in results.items()
                for row in experiment_summary.summarise(value, found_points, section["bias_per_unit"])]
        sections.append({"name": name, "title": section["title"] or name, "rows": rows, "path": chosen[name],
                         "label": section["label"] or section["sweep_key"],
                         "description": (chosen[name].read_text(encoding="utf-8").split("experiment:")[0]
                                         .replace("#", "").strip()),
                         "points": [(value, [r for r in rows if r["value"] == value]) for value in results]})

    cfg = utils.load_config(None, [("smoke_test", str(args.smoke).lower())])
    outputs = []
    directory = utils.folder("experiments")
    with utils.artifacts.all_or_none(directory, f"experiments_{os.getpid()}") as keep:
        for section in sections:
            csv_path, artifact = utils.artifacts.new_path(utils.artifacts.of(cfg, "experiment", section["name"]), "csv")
            png = csv_path.with_suffix(".png")
            reserved = csv_path.with_name(f".{csv_path.stem}.reserved")
            keep(csv_path, csv_path.with_suffix(".md"), csv_path.with_suffix(".tex"), png, png.with_suffix(".pdf"),
                 utils.meta_path(csv_path), reserved)
            # One sidecar for the table and the figure of a sweep (they share the stem), written first.
            utils.write_meta(csv_path, script="run_experiments.py", cfg=cfg, started_at=started,
                             inputs=[section["path"]], counts={"rows": len(section["rows"])}, artifact=artifact)
            outputs += experiment_output.sweep_plot(section["points"], png, label=section["label"],
                                                    title=section["title"], smoke=args.smoke)
            section["figure"] = png
            experiment_output.write_csv(csv_path, section["rows"])
            utils.atomic_write(csv_path.with_suffix(".md"),
                               lambda h, rows=section["rows"]: h.write(experiment_output.markdown_table(rows)))
            utils.atomic_write(csv_path.with_suffix(".tex"), lambda h, s=section: h.write(
                experiment_output.latex_table(s["rows"], s["title"])))
            reserved.unlink(missing_ok=True)
            outputs += [csv_path, csv_path.with_suffix(".md"), csv_path.with_suffix(".tex")]
            print(f"\n{section['title']}\n{experiment_output.markdown_table(section['rows'])}")
        html_path, artifact = utils.artifacts.new_path(utils.artifacts.of(cfg, "experiment", "experiments"), "html")
        keep(html_path, utils.meta_path(html_path), html_path.with_name(f".{html_path.stem}.reserved"))
        _, page = experiment_output.page(sections, "RATE experiments", utils.now())
        utils.write_output(html_path, lambda path: utils.atomic_write(path, lambda h: h.write(page)),
                           script="run_experiments.py", cfg=cfg, started_at=started, artifact=artifact,
                           inputs=[s["path"] for s in sections], counts={"experiments": len(sections)})
    for path in (*outputs, html_path):
        print(path)


def real_rewriter_points(chosen: dict[str, Path], args) -> None:
    runnable = {name: path for name, path in chosen.items()
                if utils.load_config(path)["experiment"]["real_rewriter_value"] is not None}
    for name in sorted(set(chosen) - set(runnable)):
        logger.info("%s: no experiment.real_rewriter_value (a real rewriter ignores its sweep key); skipped", name)
    if not runnable:
        raise utils.RateError(f"command line: none of {', '.join(chosen)} sets experiment.real_rewriter_value")
    cfg = utils.load_config(None, [("smoke_test", "false")])
    for name, path in runnable.items():
        started = utils.now()
        point = real_rewriter.run(name, path, args.rewriter_url, args.rewriter_model, args.rewriter_examples)
        table = real_rewriter.markdown(point)
        csv_path, artifact = utils.artifacts.new_path(utils.artifacts.of(cfg, "experiment", f"{name}_real_rewriter"),
                                                      "csv")
        with utils.artifacts.all_or_none(csv_path.parent, f"experiments_{os.getpid()}") as keep:
            keep(csv_path, csv_path.with_suffix(".md"), utils.meta_path(csv_path),
                 csv_path.with_name(f".{csv_path.stem}.reserved"))
            utils.write_meta(csv_path, script="run_experiments.py", cfg=cfg, started_at=started,
                             inputs=[path, point["effects"]], counts={"rows": len(point["rows"]), "examples": point["n"]},
                             artifact=artifact)
            real_rewriter.write_csv(csv_path, point)
            utils.atomic_write(csv_path.with_suffix(".md"), lambda h: h.write(table))
            csv_path.with_name(f".{csv_path.stem}.reserved").unlink(missing_ok=True)
        print(f"\n{table}\n{csv_path.with_suffix('.md')}\n{csv_path}")


if __name__ == "__main__":
    sys.exit(utils.run_cli(main))
