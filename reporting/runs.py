"""What visualize.py draws from: effects files resolved and read (original-format files too), their
rows completed, the scored files behind them, sweep values read from the runs' configs, and the
files of one run (score distributions, sample rewrites) in the report's folder."""

from __future__ import annotations

import dataclasses
import glob
import importlib
import logging
from pathlib import Path

from estimation import gate as effects_gate
from estimation import original as original_effects
from reporting import figures
from reporting import latex
from reporting import report
from reporting import robustness
from reporting import samples
import utils
from utils.record import ORIGINAL, REWRITTEN_REWRITE, reward_keys

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
    effects = utils.read_json(path)
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

    original, back = keys[ORIGINAL], keys[REWRITTEN_REWRITE]
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
    scored = scored_file(path, effects)
    groups, drawn = {}, []
    if scored:
        records = utils.read_records(scored)
        keys = reward_keys(effects)
        groups = reward_groups(records, effects.get("reward_key"), keys)
        drawn = samples.draw_samples(records, effects.get("reward_key"), section["sample_rewrites"], section["seed"],
                                     keys)
    return report.Run(label, path, effects, complete_rows(effects, path, section["raw"]), utils.read_meta(path),
                      utils.artifacts.upstream_meta(path, "create_dataset.py"), scored, groups, drawn)


def write_run_files(run: report.Run, folder: Path, name: str, section: dict, cfg: utils.Config,
                    started: str, stamp: str) -> tuple[report.Run, list[Path]]:
    """One effects file's effects table, sensitivity figure, score distributions and sample rewrites,
    into the report's folder (the report's stamp in their names): the run with their paths, and every
    file written."""
    written = []
    # the effects table for a paper, beside the report's tables
    effects_tex = folder / f"{name}_effects_{stamp}.tex"
    utils.write_meta(effects_tex, script="visualize.py", cfg=cfg, started_at=started, inputs=[run.effects_path],
                     counts={"rows": len(run.rows)})
    caption = f"Effect of {run.effects.get('dataset_name', name)}'s attribute on {run.effects.get('reward_key', 'the reward')}"
    utils.atomic_write(effects_tex, lambda handle: handle.write(
        latex.effects_table(run.rows, run.effects.get("alpha", 0.05), caption, f"tab:{name}-effects")))
    written.append(effects_tex)
    sensitivity = None
    if run.effects.get("sensitivity") and any(r["estimator"] == "RATE" for r in run.rows):
        sensitivity = folder / f"{name}_sensitivity_{stamp}.png"
        utils.write_meta(sensitivity, script="visualize.py", cfg=cfg, started_at=started, inputs=[run.effects_path],
                         counts={"deltas": len(run.effects["sensitivity"]["deltas"])})
        written += robustness.sensitivity_plot(run.effects["sensitivity"], run.effects["estimates"], sensitivity,
                                               dpi=section["dpi"], alpha=run.effects.get("alpha", 0.05),
                                               reward=run.effects.get("reward_key"), title=run.label)
    if not run.scored_path:
        return dataclasses.replace(run, effects_tex=effects_tex, sensitivity=sensitivity), written
    distributions = folder / f"{name}_distributions_{stamp}.png"
    # Sidecars first: a file under its final name always has one.
    utils.write_meta(distributions, script="visualize.py", cfg=cfg, started_at=started,
                     inputs=[run.scored_path, run.effects_path],
                     counts={f"W={int(w)}": len(pair[0]) for w, pair in run.groups.items()})
    written += figures.score_distributions(run.groups, distributions, dpi=section["dpi"], title=run.label,
                                          reward=run.effects.get("reward_key") or "")
    samples_md = folder / f"{name}_samples_{stamp}.md"
    samples_tex = samples_md.with_suffix(".tex")
    limit = section["sample_max_chars"]
    text = report.to_markdown(samples.sample_blocks(run.samples, limit), folder)
    latex_text = samples.samples_latex(run.samples, limit, run.effects.get("reward_key") or "", section["seed"])
    utils.write_meta(samples_md, script="visualize.py", cfg=cfg, started_at=started, inputs=[run.scored_path],
                     counts={"samples": len(run.samples)})
    utils.atomic_write(samples_md, lambda handle: handle.write(text))
    utils.atomic_write(samples_tex, lambda handle: handle.write(latex_text))
    return (dataclasses.replace(run, effects_tex=effects_tex, sensitivity=sensitivity, distributions=distributions,
                                samples_tex=samples_tex), written + [samples_md, samples_tex])


def unique_names(runs: list[report.Run]) -> list[str]:
    """A file-name stem per run from its label; labels that slug alike get their position added."""
    names = [utils.slug(run.label.replace(", ", "_")) for run in runs]
    return [f"{name}_{i + 1}" if names.count(name) > 1 else name for i, name in enumerate(names)]
