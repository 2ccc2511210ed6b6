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
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import utils

logger = logging.getLogger(__name__)
DEFINITIONS = utils.REPO_DIR / "configs" / "experiments"
WORKERS = multiprocessing.get_context("spawn")


def point(task: tuple) -> tuple:
    """One (value, seed) point of a sweep, in a worker process."""
    from experiments import runner

    path, value, replicate, overrides = task
    runner.quiet()
    cfg = utils.load_config(path, overrides)
    return value, replicate, runner.run_point(cfg)


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


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="run_experiments.py", description=__doc__.split("\n\n")[0],
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
    if args.replicates is not None and args.replicates < 2:
        raise utils.RateError(f"command line: --replicates must be at least 2 (a Monte Carlo SE needs 2), "
                              f"got {args.replicates}")
    return args


def chosen_experiments(only: list[str] | None) -> dict[str, Path]:
    found = {p.stem: p for p in sorted(DEFINITIONS.glob("*.yaml"))}
    unknown = sorted(set(only or []) - set(found))
    if unknown:
        raise utils.RateError(f"command line: --only {unknown[0]}: no such experiment in {DEFINITIONS} "
                              f"(there: {', '.join(found)})")
    return {name: found[name] for name in (only or found)}


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    utils.setup_logging()
    utils.load_env()
    utils.files.check_project_dir()
    chosen = chosen_experiments(args.only)
    if args.rewriter_url:
        return real_rewriter_points(chosen, args)
    # Workers start fresh (spawn) and read this before importing tqdm: the phases' own progress bars
    # would print hundreds of lines; the sweep shows one bar per experiment instead.
    os.environ["TQDM_DISABLE"] = "1"
    planned = {name: tasks_of(path, args.smoke, args.replicates) for name, path in chosen.items()}
    started = utils.now()
    sweeps = [run_sweep(name, chosen[name], section, tasks, args.workers) for name, (section, tasks) in planned.items()]
    cfg = utils.load_config(None, [("smoke_test", str(args.smoke).lower())])
    for path in write_sweeps(sweeps, cfg, started, args.smoke):
        print(path)


def run_sweep(name: str, path: Path, section: dict, tasks: list[tuple], workers: int) -> dict:
    """Every point of one sweep, in `workers` processes, summarised per value over its seeds."""
    from tqdm import tqdm

    from experiments import summary

    logger.info("%s: %d values x %d replicates from %s", name, len({t[1] for t in tasks}), len({t[2] for t in tasks}),
                path)
    results: dict = {}
    with ProcessPoolExecutor(max_workers=workers, mp_context=WORKERS) as pool:
        for value, replicate, result in tqdm(pool.map(point, tasks), total=len(tasks), desc=f"{name} points",
                                             unit="point"):
            results.setdefault(value, []).append(result)
    rows = [row for value, found_points in results.items()
            for row in summary.summarise(value, found_points, section["bias_per_unit"])]
    return {"name": name, "title": section["title"] or name, "rows": rows, "path": path,
            "label": section["label"] or section["sweep_key"],
            "description": path.read_text(encoding="utf-8").split("experiment:")[0].replace("#", "").strip(),
            "points": [(value, [r for r in rows if r["value"] == value]) for value in results]}


def write_sweeps(sweeps: list[dict], cfg, started: str, smoke: bool) -> list[Path]:
    """Each sweep's figure and tables, and the page of them all: all of them or none."""
    from experiments import output

    outputs, pages = [], []
    directory = utils.folder("experiments")
    with utils.artifacts.all_or_none(directory, f"experiments_{os.getpid()}") as keep:
        for sweep in sweeps:
            reserved = utils.artifacts.new_path(utils.artifacts.of(cfg, "experiment", sweep["name"]), "csv")
            csv_path, png = reserved.path, reserved.sibling(".png")
            keep(*reserved.files(".md", ".tex", ".png", ".pdf"))
            # One sidecar for the table and the figure of a sweep (they share the stem), written first.
            utils.write_meta(csv_path, script="run_experiments.py", cfg=cfg, started_at=started,
                             inputs=[sweep["path"]], counts={"rows": len(sweep["rows"])}, artifact=reserved.artifact)
            outputs += output.sweep_plot(sweep["points"], png, label=sweep["label"], title=sweep["title"], smoke=smoke)
            pages.append({**sweep, "figure": png})
            output.write_csv(csv_path, sweep["rows"])
            utils.atomic_write(csv_path.with_suffix(".md"),
                               lambda h, rows=sweep["rows"]: h.write(output.markdown_table(rows)))
            utils.atomic_write(csv_path.with_suffix(".tex"), lambda h, s=sweep: h.write(
                output.latex_table(s["rows"], s["title"])))
            reserved.release()
            outputs += [csv_path, csv_path.with_suffix(".md"), csv_path.with_suffix(".tex")]
            print(f"\n{sweep['title']}\n{output.markdown_table(sweep['rows'])}")
        html = utils.artifacts.new_path(utils.artifacts.of(cfg, "experiment", "experiments"), "html")
        keep(*html.files())
        _, page = output.page(pages, "RATE experiments", utils.now())
        utils.write_output(html.path, lambda path: utils.atomic_write(path, lambda h: h.write(page)),
                           script="run_experiments.py", cfg=cfg, started_at=started, artifact=html.artifact,
                           inputs=[s["path"] for s in sweeps], counts={"experiments": len(sweeps)})
    return [*outputs, html.path]


def real_rewriter_points(chosen: dict[str, Path], args) -> None:
    from experiments import real_rewriter

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
        reserved = utils.artifacts.new_path(utils.artifacts.of(cfg, "experiment", f"{name}_real_rewriter"), "csv")
        csv_path = reserved.path
        with utils.artifacts.all_or_none(csv_path.parent, f"experiments_{os.getpid()}") as keep:
            keep(*reserved.files(".md"))
            utils.write_meta(csv_path, script="run_experiments.py", cfg=cfg, started_at=started,
                             inputs=[path, point["effects"]], counts={"rows": len(point["rows"]), "examples": point["n"]},
                             artifact=reserved.artifact)
            real_rewriter.write_csv(csv_path, point)
            utils.atomic_write(csv_path.with_suffix(".md"), lambda h: h.write(table))
            reserved.release()
        print(f"\n{table}\n{csv_path.with_suffix('.md')}\n{csv_path}")
