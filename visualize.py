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

import glob
import importlib
import json
import logging
import sys
from pathlib import Path

from estimation import gate as effects_gate
from estimation import original as original_effects
from reporting import figures
from reporting import report
from reporting import samples
import utils
from treatment_effects import format_table

logger = logging.getLogger(__name__)

# The script whose run a config section belongs to: a swept `rewrites.*` value is read from the
# rewrites file's sidecar, since later phases may have run with other overrides.
SECTION_SCRIPT = {"rewrites": "create_dataset.py", "scoring": "score_dataset.py", "effects": "treatment_effects.py"}
# Where the defaults of a `*_options` dict live, for runs that left a swept option at its default.
OPTION_DEFAULTS = {"template_options": ("dataset_templates", "rewrites.dataset_name"),
                   "backend_options": ("rewriters", "rewrites.backend"),
                   "model_options": ("scoring_templates", "scoring.model")}
MISSING = object()


def resolve_effects(entries: list[str], base: tuple, cfg: utils.Config, key: str) -> list[Path]:
    """Each entry as `latest` (the effects of `base`, (dataset, model)), a path, or a glob pattern;
    in order, without repeats."""
    paths: list[Path] = []
    for entry in entries:
        if not isinstance(entry, str):
            raise utils.RateError(f"{cfg.source(key)}: {key}: entries must be strings, got {entry!r}")
        if any(char in entry for char in "*?["):
            found = sorted(glob.glob(entry)) or sorted(glob.glob(str(utils.folder("effects") / entry)))
            found = [p for p in found if not p.endswith(".meta.json")]
            if not found:
                raise utils.RateError(f"{cfg.source(key)}: {key}: no file matches '{entry}' (looked in . and "
                                      f"{utils.folder('effects')})")
            paths += [Path(p).resolve() for p in found]
        else:
            paths.append(utils.artifacts.resolve("effects", entry, key, cfg, *base,
                                                 also=utils.original_names(cfg, "visualize")))
    return list(dict.fromkeys(paths))


def load_effects(path: Path) -> dict:
    try:
        effects = json.loads(Path(path).read_text())
    except json.JSONDecodeError as exc:
        raise utils.RateError(f"{path}: not valid JSON ({exc.msg})") from None
    if isinstance(effects, dict) and original_effects.is_original(effects):
        # The original code's file: its table is rebuilt from its keys (estimation/original.py).
        alpha = effects.get("alpha", 0.05)
        return {**effects, "alpha": alpha, "ci_method": original_effects.CI_METHOD,
                "estimates": original_effects.rows(effects, alpha)}
    if not isinstance(effects, dict) or "estimates" not in effects:
        raise utils.RateError(f"{path}: no 'estimates' table; rerun treatment_effects.py to produce one")
    return effects


def complete_rows(effects: dict, path: Path, raw: bool) -> list[dict]:
    """The estimates table with every agreed key present. Files that predate the effect-size columns
    get them as value / reward_std, the paper's normalisation; a missing p stays None."""
    std = effects.get("reward_std")
    usable = isinstance(std, (int, float)) and std > 0
    rows = []
    for given in effects["estimates"]:
        row = dict(given)
        row.setdefault("p", None)
        row.setdefault("truth", None)
        for key in ("estimate", "se", "ci_low", "ci_high", "truth"):
            if row.get(f"norm_{key}") is None:
                value = row.get(key)
                row[f"norm_{key}"] = value / std if usable and isinstance(value, (int, float)) else None
        rows.append(row)
    # Rows of undefined estimands carry no estimate at all; those are not a reason to stop.
    if not raw and any(row["norm_estimate"] is None and row.get("estimate") is not None for row in rows):
        raise utils.RateError(f"{path}: no positive reward_std to turn effects into effect sizes; "
                              "set visualize.raw=true to plot in reward units")
    return rows


def scored_file(effects_path: Path, effects: dict) -> Path | None:
    """The file the effects were computed from: named in the effects file, else in its sidecar."""
    meta = utils.read_meta(effects_path) or {}
    for candidate in [effects.get("input_file")] + [item["path"] for item in meta.get("inputs", [])]:
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    logger.warning("%s: its scored file is not found; no score distributions or sample rewrites", effects_path)
    return None


def reward_groups(records: list[dict], reward_key: str, keys: dict) -> dict:
    """W -> (R(original), R(rewritten rewrite)) over the examples with both rewards finite."""
    import numpy as np

    original, back = keys["original"], keys["rewritten rewrite"]
    pairs: dict[bool, list] = {True: [], False: []}
    for record in records:
        rewards = record.get(reward_key) or {}
        a, b = rewards.get(original), rewards.get(back)
        if utils.record_w(record) is not None and not record.get("failures") \
                and all(isinstance(v, (int, float)) and np.isfinite(v) for v in (a, b)):
            pairs[utils.record_w(record)].append((a, b))
    return {w: (np.array([a for a, _ in found]), np.array([b for _, b in found])) for w, found in pairs.items() if found}


def _lookup(config: dict, dotted: str):
    node = config
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return MISSING
        node = node[part]
    return node


def config_value(effects_path: Path, dotted: str):
    """The value a run used for a config key: from the sidecar of the phase that reads that section,
    else the first sidecar upstream that has it, else the template's or the schema's default."""
    metas = [m for m in (utils.read_meta(p) for p in utils.artifacts.lineage(effects_path)) if m]
    if not metas:
        raise utils.RateError(f"{effects_path}: no .meta.json sidecar to read '{dotted}' from; "
                              "give the values as visualize.sweep_values")
    script = SECTION_SCRIPT.get(dotted.split(".")[0])
    for meta in sorted(metas, key=lambda m: m.get("script") != script):
        value = _lookup(meta.get("config") or {}, dotted)
        if value is not MISSING:
            return value
    parts = dotted.split(".")
    if len(parts) == 3 and parts[1] in OPTION_DEFAULTS:
        package, name_key = OPTION_DEFAULTS[parts[1]]
        name = next((n for n in (_lookup(m.get("config") or {}, name_key) for m in metas) if isinstance(n, str)), None)
        try:
            options = importlib.import_module(f"{package}.{name}").OPTIONS
        except (ImportError, AttributeError, TypeError):
            options = {}
        if parts[2] in options:
            return options[parts[2]]
    default = _lookup(utils.SCHEMA, dotted)
    if isinstance(default, tuple):
        return default[0]
    raise utils.RateError(f"{effects_path}: its run's config has no key '{dotted}'")


def sweep_points(section: dict, cfg: utils.Config, raw: bool) -> tuple[list[tuple[float, list[dict]]], list[Path]]:
    base = (utils.dataset_key(cfg, "visualize"), section["score"] or utils.scored_model(cfg))
    paths = resolve_effects(section["sweep_files"], base, cfg, "visualize.sweep_files")
    given = section["sweep_values"]
    if given and len(given) != len(paths):
        raise utils.RateError(f"{cfg.source('visualize.sweep_values')}: visualize.sweep_values has {len(given)} "
                              f"values for {len(paths)} sweep files")
    if not given and not section["sweep_key"]:
        raise utils.RateError(f"{cfg.source('visualize.sweep_files')}: a sweep needs visualize.sweep_key (a dotted "
                              "config key, e.g. rewrites.template_options.p_typos_given_negative) or sweep_values")
    points = []
    for index, path in enumerate(paths):
        value = given[index] if given else config_value(path, section["sweep_key"])
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise utils.RateError(f"{path}: sweep value {value!r} of '{section['sweep_key']}' is not a number")
        points.append((float(value), complete_rows(load_effects(path), path, raw)))
    return points, paths


def labels(effects_list: list[dict], paths: list[Path]) -> list[str]:
    """'dataset, reward' per file (marked when the estimate is conditional on the judge's selection);
    files that would share a label also show their time stamp."""
    names = [f"{e.get('dataset_name') or p.stem}{effects_gate.LABEL if e.get('selection') else ''}, "
             f"{e.get('reward_key') or e.get('score') or '?'}" for e, p in zip(effects_list, paths)]
    stamps = [(utils.artifacts.identity(p).stamp if utils.artifacts.identity(p) else None) or p.stem for p in paths]
    return [f"{name} ({stamp})" if names.count(name) > 1 else name for name, stamp in zip(names, stamps)]


def make_run(label: str, path: Path, effects: dict, section: dict) -> report.Run:
    run = report.Run(label, path, effects, complete_rows(effects, path, section["raw"]), utils.read_meta(path),
                     utils.artifacts.upstream_meta(path, "create_dataset.py"), scored_file(path, effects))
    if run.scored_path:
        records = utils.read_records(run.scored_path)
        keys = {"original": effects.get("w_original_key", "original"),
                "rewrite": effects.get("w_counterfactual_key", "rewrite"),
                "rewritten rewrite": effects.get("w_rewritten_rewrite_key", "rewritten rewrite")}
        run.groups = reward_groups(records, effects.get("reward_key"), keys)
        run.samples = samples.draw_samples(records, effects.get("reward_key"), section["sample_rewrites"],
                                          section["seed"], keys)
    return run


def check_section(section: dict, cfg: utils.Config) -> None:
    for key, low in (("dpi", 20), ("sample_rewrites", 0), ("sample_max_chars", 10)):
        if section[key] < low:
            raise utils.RateError(f"{cfg.source('visualize.' + key)}: visualize.{key} must be at least {low}")


def write_run_files(run: report.Run, folder: Path, name: str, section: dict, cfg: utils.Config,
                    started: str, stamp: str) -> list[Path]:
    """One effects file's score distributions and sample rewrites, into the report's folder (the
    report's stamp in their names)."""
    if not run.scored_path:
        return []
    run.distributions = folder / f"{name}_distributions_{stamp}.png"
    written = figures.score_distributions(run.groups, run.distributions, dpi=section["dpi"], title=run.label,
                                          reward=run.effects.get("reward_key") or "")
    utils.write_meta(run.distributions, script="visualize.py", cfg=cfg, started_at=started,
                     inputs=[run.scored_path, run.effects_path],
                     counts={f"W={int(w)}": len(pair[0]) for w, pair in run.groups.items()})
    samples_md = folder / f"{name}_samples_{stamp}.md"
    run.samples_tex = samples_md.with_suffix(".tex")
    limit = section["sample_max_chars"]
    text = report.to_markdown(samples.sample_blocks(run.samples, limit), folder)
    latex = samples.samples_latex(run.samples, limit, run.effects.get("reward_key") or "", section["seed"])
    utils.atomic_write(samples_md, lambda handle: handle.write(text))
    utils.atomic_write(run.samples_tex, lambda handle: handle.write(latex))
    utils.write_meta(samples_md, script="visualize.py", cfg=cfg, started_at=started, inputs=[run.scored_path],
                     counts={"samples": len(run.samples)})
    return written + [samples_md, run.samples_tex]


def unique_names(runs: list[report.Run]) -> list[str]:
    """A file-name stem per run from its label; labels that slug alike get their position added."""
    names = [utils.slug(run.label.replace(", ", "_")) for run in runs]
    return [f"{name}_{i + 1}" if names.count(name) > 1 else name for i, name in enumerate(names)]


def main(argv: list[str] | None = None) -> None:
    cfg, started = utils.start(argv, __doc__)
    section = cfg["visualize"]
    check_section(section, cfg)
    raw, dpi = section["raw"], section["dpi"]

    dataset = utils.dataset_key(cfg, "visualize")
    score = section["score"] or utils.scored_model(cfg)
    entries = section["effects_filename"]
    paths = resolve_effects([entries] if isinstance(entries, str) else entries, (dataset, score), cfg,
                            "visualize.effects_filename")
    if not paths:
        raise utils.RateError(f"{cfg.source('visualize.effects_filename')}: visualize.effects_filename is empty")
    loaded = [load_effects(path) for path in paths]
    names = section["labels"] or labels(loaded, paths)
    if len(names) != len(paths):
        raise utils.RateError(f"{cfg.source('visualize.labels')}: visualize.labels has {len(names)} labels for "
                              f"{len(paths)} effects files")
    runs = [make_run(str(label), path, effects, section) for label, path, effects in zip(names, paths, loaded)]
    # The sweep's files are read before anything is written, so that a wrong key leaves no half run.
    points, sweep_inputs = sweep_points(section, cfg, raw) if section["sweep_files"] else ([], [])
    kinds = {(e.get("dataset_name", dataset), e.get("score", score)) for e in loaded}
    # One dataset and model: the figures are of them; several: a comparison.
    of_what = ((kinds.pop()[0], [loaded[0].get("score", score)]) if len(kinds) == 1 else ("comparison", []))
    reward = loaded[0].get("reward_key") if len({e.get("reward_key") for e in loaded}) == 1 else None
    alpha = loaded[0].get("alpha", 0.05)

    # Both names are taken before any drawing, so that the run's files usually share one time stamp.
    forest, forest_artifact = utils.artifacts.new_path(utils.artifacts.of(cfg, "estimates", *of_what), "png")
    report_md, report_artifact = utils.artifacts.new_path(utils.artifacts.of(cfg, "report", *of_what), "md")
    warnings = [f"{run.label}: {line}" if len(runs) > 1 else line for run in runs for line in report.headlines(run)]
    outputs = figures.forest_plot([(run.label, run.rows) for run in runs], forest, raw=raw, alpha=alpha, dpi=dpi,
                                  reward=reward, warnings=warnings)
    counts = {"n1": loaded[0].get("Y1_count"), "n0": loaded[0].get("Y0_count")} if len(runs) == 1 else {"files": len(runs)}
    utils.write_meta(forest, script="visualize.py", cfg=cfg, started_at=started, inputs=paths, counts=counts,
                     artifact=forest_artifact)

    # The report's other files live in a folder of its own name, so that plots/ holds one headline
    # figure and one report per run.
    folder = report_md.with_suffix("")
    folder.mkdir()
    for run, name in zip(runs, unique_names(runs)):
        outputs += write_run_files(run, folder, name, section, cfg, started, report_artifact.stamp)
    sweep = None
    if points:
        sweep = folder / f"{of_what[0]}_sweep_{report_artifact.stamp}.png"
        outputs += figures.sweep_plot(points, sweep, dpi=dpi, raw=raw, alpha=alpha, reward=reward,
                                      parameter=section["sweep_label"] or section["sweep_key"] or "sweep value")
        utils.write_meta(sweep, script="visualize.py", cfg=cfg, started_at=started, inputs=sweep_inputs,
                         counts={"points": len(points)})

    report_html = report_md.with_suffix(".html")
    upstream = list(dict.fromkeys(p for path in paths + sweep_inputs for p in utils.artifacts.lineage(path)))
    files = [report_html, report_md, *outputs, *upstream]
    title = f"RATE report: {runs[0].label}" if len(runs) == 1 else f"RATE report: {len(runs)} effects files"
    blocks = report.report_blocks(runs, title=title, forest=forest, sweep=sweep, max_chars=section["sample_max_chars"],
                                  seed=section["seed"], files=files, when=utils.now())
    markdown, page = report.to_markdown(blocks, report_md.parent), report.to_html(blocks, title)
    utils.atomic_write(report_html, lambda handle: handle.write(page))
    utils.atomic_write(report_md, lambda handle: handle.write(markdown))
    utils.write_meta(report_html, script="visualize.py", cfg=cfg, started_at=started, artifact=report_artifact,
                     inputs=[*paths, *[r.scored_path for r in runs if r.scored_path], *sweep_inputs])
    logger.info("wrote %s and %s", forest, report_html)

    for line in warnings:
        print(f"WARNING: {line}")
    for run in runs:
        if len(runs) > 1:
            print(f"\n{run.label}  ({run.effects_path.name})")
        print(format_table(run.effects["estimates"], run.effects.get("alpha", 0.05)))
    print("\nfiles of this run (each with a .meta.json sidecar, the PDFs and .tex beside theirs):")
    for path in files:
        print(f"  {path}")
    print("\nreport:")
    print(report_html)


if __name__ == "__main__":
    sys.exit(utils.run_cli(main))
