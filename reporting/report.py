"""The report of a RATE run, as markdown and as one self-contained HTML page.

A report is a list of blocks (headings, paragraphs, tables, images, code), rendered twice: markdown
that links the figures beside it, and one HTML file with every image embedded, to mail or archive.
The sample rewrites come from reporting/samples.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from reporting import samples
from reporting.render import Column, Table, interval, number, p_value
# the rendering, re-exported: visualize.py renders the report's blocks through here
from reporting.render import to_html, to_markdown

__all__ = ["Run", "SECTIONS", "headlines", "notes", "report_blocks", "summary", "to_html", "to_markdown"]

# ---------------------------------------------------------------------------------------------
# The report's sections
# ---------------------------------------------------------------------------------------------

SECTIONS = ("Configuration", "Counts and drops", "Rewrite efficacy", "Effects", "Diagnostics", "Figures",
            "Sample rewrites", "Files")
# Counts of create_dataset's sidecar that the efficacy section shows in its own tables.
EFFICACY_COUNTS = ("efficacy ", "both rewrites passed", "judge agreement", "failed ")


@dataclass(frozen=True)
class Run:
    """One effects file and what the report shows of it: read by reporting/runs.make_run, and given the
    paths of its own figures and tables by reporting/runs.write_run_files."""
    label: str
    effects_path: Path
    effects: dict
    rows: list[dict]
    effects_meta: dict | None = None
    rewrites_meta: dict | None = None
    scored_path: Path | None = None
    groups: dict = field(default_factory=dict)  # W -> (R(original), R(rewritten rewrite)) arrays
    samples: list[dict] = field(default_factory=list)
    distributions: Path | None = None
    samples_tex: Path | None = None
    sensitivity: Path | None = None
    effects_tex: Path | None = None


def _cfg(meta: dict | None, dotted: str):
    node = (meta or {}).get("config") or {}
    for part in dotted.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def _shown(value, otherwise: str) -> str:
    return otherwise if value is None else str(value)


def _scalar(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _diagnostics(diagnostics: dict) -> list[tuple]:
    """Whatever the effects file holds under `diagnostics`: every estimated quantity (a dict with an
    `estimate`) as a row with its CI and p, every other value under its dotted name."""
    estimated, values, notes = [], [], []

    def walk(node, name: str) -> None:
        if isinstance(node, dict) and "estimate" in node:
            extra = {k: v for k, v in node.items() if k not in (
                "estimate", "se", "ci_low", "ci_high", "p", "norm_estimate", "norm_se", "meaning")}
            estimated.append((name, node.get("estimate"), node.get("se"), (node.get("ci_low"), node.get("ci_high")),
                              node.get("p"), node.get("norm_estimate"),
                              ", ".join(f"{k}={_scalar(v)}" for k, v in extra.items())))
            if node.get("meaning"):
                notes.append(f"{name}: {node['meaning']}")
        elif isinstance(node, dict) and node:
            for key, item in node.items():
                walk(item, f"{name}.{key}" if name else str(key))
        else:
            values.append((name, "none" if node in ({}, [], None) else samples.cut(_scalar(node), 300)[0]))

    walk(diagnostics, "")
    blocks: list[tuple] = []
    if estimated:
        blocks.append(("table", Table(["quantity", Column("estimate", "estimate"), Column("SE", "se"),
                                       Column("CI", "interval"), Column("p", "p"), Column("effect size", "effect size"),
                                       "also"], estimated)))
    blocks += [("p", note) for note in notes]
    if values:
        blocks.append(("table", Table(["diagnostic", "value"], values)))
    return blocks


def _configuration(run: Run) -> list[tuple]:
    effects, rewrites = run.effects, run.rewrites_meta
    templates = (rewrites or {}).get("templates") or {}
    git = (run.effects_meta or {}).get("git") or {}
    rows = [("dataset", effects.get("dataset_name", "")),
            ("reward model", effects.get("score", "")), ("reward key", effects.get("reward_key", "")),
            ("rewriter", ", ".join(f"{k} {v}" for k, v in templates.items() if k not in ("dataset", "judge")) or "unknown"),
            ("attribute judge", ", ".join(f"{k} {v}" for k, v in (templates.get("judge") or {}).items()) or "not recorded"),
            ("template options", ", ".join(f"{k}={v}" for k, v in (_cfg(rewrites, "rewrites.template_options") or {}).items())
             or "defaults"),
            ("examples asked", _shown(_cfg(rewrites, "rewrites.smoke_test_examples" if _cfg(rewrites, "smoke_test")
                                          else "rewrites.n_examples"), "the template's default")),
            ("sampling seed", _shown(_cfg(rewrites, "rewrites.seed"), "unknown")),
            ("smoke test", _shown(_cfg(run.effects_meta, "smoke_test"), "unknown")),
            ("alpha", str(effects.get("alpha", ""))),
            ("confidence intervals", effects.get("ci_method") or "not recorded"),
            ("effects file", run.effects_path.name),
            ("code", f"{git.get('commit') or 'unknown'}{' (uncommitted changes)' if git.get('dirty') else ''}")]
    blocks: list[tuple] = [("table", Table(["setting", "value"], [(k, str(v)) for k, v in rows]))]
    if run.effects_meta:
        import yaml

        text = yaml.safe_dump(run.effects_meta.get("config", {}), sort_keys=False)
        blocks.append(("code", text, "Full config of the effects run (from its .meta.json)"))
    return blocks


def _counts(run: Run) -> list[tuple]:
    made = dict((run.rewrites_meta or {}).get("counts") or {})
    rows = [(f"rewriting: {key}", str(value)) for key, value in made.items() if not key.startswith(EFFICACY_COUNTS)]
    effects = run.effects
    rows += [("estimation: examples read", str(effects.get("examples_read", ""))),
             ("estimation: used with W = 1 (n1)", str(effects.get("Y1_count", ""))),
             ("estimation: used with W = 0 (n0)", str(effects.get("Y0_count", "")))]
    dropped = effects.get("dropped") or {}
    rows += [(f"dropped: {reason}", str(count)) for reason, count in dropped.items()] or [("dropped", "none")]
    return [("table", Table(["count", "value"], rows))]


def headlines(run: Run) -> list[str]:
    """What must be read before any number of this run: low or unmeasured rewrite efficacy, a
    conditional selection."""
    out = []
    warning = (run.effects.get("efficacy") or {}).get("warning")
    if warning:
        out.append(warning)
    selection = run.effects.get("selection")
    if selection:
        kept = "; ".join(f"{group}: {c['kept']} kept, {c['dropped']} dropped" for group, c in selection["counts"].items())
        out.append(f"Every estimate is {selection['rule']} ({kept}).")
    placebo = run.effects.get("placebo")
    if placebo and not placebo.get("consistent_with_zero"):
        out.append(placebo["line"])
    return out


def summary(run: Run) -> list[str]:
    """The report's first lines: RATE's estimate of each estimand with its CI, beside the naive one and
    the truth where the data are simulated."""
    level = f"{100 * (1 - run.effects.get('alpha', 0.05)):g}% CI"
    by = {(r["estimator"], r["estimand"]): r for r in run.rows}
    lines = []
    for estimand in ("ATE", "ATT", "ATU"):
        rate, naive = by.get(("RATE", estimand)), by.get(("naive", estimand))
        if not rate:
            continue
        line = (f"RATE {estimand}: {number(rate['estimate'])} ({level} {interval(rate['ci_low'], rate['ci_high'])}, "
                f"effect size {number(rate.get('norm_estimate'), 3)}, n = {rate.get('n1', 0) + rate.get('n0', 0)})")
        if naive and estimand == "ATE":
            line += f"; naive {number(naive['estimate'])} {interval(naive['ci_low'], naive['ci_high'])}"
        if rate.get("truth") is not None:
            line += f"; truth {number(rate['truth'])} (simulated data)"
        lines.append(line)
    return lines or ["No RATE estimate in this effects file."]


def notes(run: Run) -> list[str]:
    """What to read beside the estimates without doubting them outright: examples dropped, and an
    off-target asymmetry (RATE's bias if the rewriter causes it; harmless if the groups' originals
    differ in what the rewriter overwrites)."""
    out = []
    dropped = run.effects.get("dropped") or {}
    if dropped:
        out.append("Dropped before estimating: " + ", ".join(f"{count} {reason}" for reason, count in dropped.items())
                   + " (Counts and drops).")
    asymmetry = (run.effects.get("diagnostics") or {}).get("off_target_asymmetry") or {}
    if asymmetry.get("significant"):
        out.append(f"Off-target asymmetry {number(asymmetry['estimate'])} (p {p_value(asymmetry.get('p'))}): the "
                   f"rewrites moved the reward differently in the two W groups. It biases RATE if the rewriter "
                   f"causes it, and not if the groups' originals differ in what the rewriter overwrites "
                   f"(Diagnostics, Robustness).")
    return out


def _efficacy(run: Run) -> list[tuple]:
    block = run.effects.get("efficacy")
    if block is None:
        return [("p", "Not recorded: this effects file predates the attribute judge; rerun treatment_effects.py.")]
    if not block.get("measured"):
        return [("p", block["warning"])]
    judge = ((run.rewrites_meta or {}).get("templates") or {}).get("judge") or {}
    blocks: list[tuple] = [("p", f"Judge: {block.get('judge', 'the judge')}"
                                 + (f" ({', '.join(f'{k} {v}' for k, v in judge.items() if k != 'method')})" if judge else "")
                                 + f". Threshold (effects.min_efficacy): {100 * block['threshold']:.0f}%. The second "
                                   "rewrite is counted over the examples whose first rewrite was judged flipped.")]
    rows = [(row["round"], row["direction"], row["examples"], f"{row['passed']} of {row['judged']}", row["undecided"],
             row["share"], "below" if row["share"] is not None and row["share"] < block["threshold"] else "")
            for row in block["rows"] if row["judged"]]
    if rows:
        blocks.append(("table", Table(["round", "direction", "examples", "passed", Column("undecided", "count"),
                                       Column("share", "share", percent=True), "threshold"], rows)))
    agreement = block.get("agreement")
    if agreement:
        blocks.append(("p", f"Agreement of the judge with the dataset's own W on the originals: {agreement['agree']} "
                            f"of {agreement['judged']} ({100 * agreement['share']:.1f}%"
                            + (f"; {agreement['undecided']} undecided" if agreement["undecided"] else "")
                            + "). It says how far the judge's verdicts on the rewrites can be trusted."))
    both = block.get("both_passed") or {}
    if both:
        blocks.append(("p", "Both rewrites passed: " + "; ".join(f"{group}: {v['passed']} of {v['examples']}"
                                                                 for group, v in both.items()) + "."))
    counts = (run.rewrites_meta or {}).get("counts") or {}
    failed = [(f"{key[7:]} failed", value) for key, value in counts.items() if key.startswith("failed ")]
    if failed:
        blocks.append(("table", Table(["rewrite", Column("count", "count")], failed)))
    changes = (run.rewrites_meta or {}).get("changes") or {}
    if changes:
        blocks += [("p", "Changes besides W (judges/changes.py): length ratios in characters; similarity is "
                         "word-level, 2 x the longest common subsequence of words / the words of both texts."),
                   ("table", Table(["measure", Column("median", "number"), Column("mean", "number"),
                                    Column("n", "count")], [(name, v["median"], v["mean"], v["n"])
                                                            for name, v in changes.items()]))]
    shifts = [(f"W = {int(w)}", len(original), float(back.mean() - original.mean()))
              for w, (original, back) in sorted(run.groups.items(), reverse=True) if len(original)]
    if shifts:
        blocks += [("p", "Mean reward change from rewriting twice, R(rewritten rewrite) − R(original): the "
                         "rewriter's own effect on the reward, which RATE cancels and a single rewrite does not."),
                   ("table", Table(["group", Column("n", "count"), Column("mean change", "estimate")], shifts))]
    return blocks


def effects_table(rows: list[dict], alpha: float) -> tuple:
    level = f"{100 * (1 - alpha):g}% CI"
    boot = any(row.get("boot_ci_low") is not None for row in rows)
    columns = ["estimator", "estimand", Column("estimate", "estimate"), Column("SE", "se"), Column(level, "interval"),
               Column("effect size", "effect size"), Column(f"effect size {level}", "interval", digits=3),
               Column("p", "p"), Column("p (Holm)", "p"), Column("truth", "estimate"),
               Column("truth (effect size)", "effect size")] + ([Column("bootstrap CI", "interval")] if boot else [])
    table = [[r["estimator"], r["estimand"], r["estimate"], r["se"], (r["ci_low"], r["ci_high"]),
              r.get("norm_estimate"), (r.get("norm_ci_low"), r.get("norm_ci_high")), r.get("p"), r.get("p_holm"),
              r.get("truth"), r.get("norm_truth")] + ([(r.get("boot_ci_low"), r.get("boot_ci_high"))] if boot else [])
             for r in rows]
    return ("table", Table(columns, table))


NO_SWEEP = "No sweep: set visualize.sweep_files and visualize.sweep_key to plot estimates against a parameter."


def report_blocks(runs: list[Run], *, title: str, forest: Path, sweep: Path | None, max_chars: int, seed: int,
                  files: list[Path], when: str) -> list[tuple]:
    from reporting import robustness  # it imports this module

    multi = len(runs) > 1

    def each(make) -> list[tuple]:
        return [block for run in runs for block in ([("h3", run.label)] if multi else []) + make(run)]

    blocks: list[tuple] = [
        ("h1", title),
        ("summary", [f"{run.label}: {line}" if multi else line for run in runs for line in summary(run)]),
        *[("warning", f"{run.label}: {line}" if multi else line) for run in runs for line in headlines(run)],
        *[("note", [f"{run.label}: {line}" if multi else line]) for run in runs for line in notes(run)],
        ("p", f"Written by visualize.py on {when}. Effect size = effect / reward_std, the pooled within-group "
              "standard deviation of R(original), as in the RATE paper; its interval includes the uncertainty of "
              "reward_std (delta method). p (Holm) is adjusted across the run's family of estimates."),
        ("h2", "Configuration"), *each(_configuration),
        ("h2", "Counts and drops"), *each(_counts),
        ("h2", "Rewrite efficacy"), *each(_efficacy),
        ("h2", "Effects"), *each(lambda run: [effects_table(run.rows, run.effects.get("alpha", 0.05))]),
        ("h2", "Robustness"), *each(lambda run: robustness.blocks(run, run.sensitivity)),
        ("h2", "Diagnostics"),
        *each(lambda run: _diagnostics(run.effects["diagnostics"]) if run.effects.get("diagnostics")
              else [("p", "None recorded in the effects file.")]),
        ("h2", "Figures"),
        ("image", forest, "Estimates with confidence intervals; dashed: ground truth where known."),
    ]
    for run in runs:
        if run.distributions:
            blocks.append(("image", run.distributions, f"{run.label}: reward of the original vs. the rewritten "
                                                       "rewrite, per W group; lines mark the means."))
        else:
            blocks.append(("p", f"{run.label}: no score distributions (scored file not found)."))
    blocks.append(("image", sweep, "Estimates across the sweep; dashed: ground truth.") if sweep else ("p", NO_SWEEP))
    blocks += [("h2", "Sample rewrites"),
               ("p", f"Drawn with seed {seed}, alternating W = 1 and W = 0; texts longer than {max_chars} "
                     "characters are cut (…). Rewards are in the reward model's units.")]
    for run in runs:
        if multi:
            blocks.append(("h3", run.label))
        why = "no example has all three texts" if run.scored_path else "scored file not found"
        blocks += samples.sample_blocks(run.samples, max_chars) if run.samples else [("p", f"No sample: {why}.")]
        if run.samples_tex:
            blocks.append(("p", f"The same as LaTeX: {run.samples_tex.name}"))
    tables = [run.effects_tex.name for run in runs if run.effects_tex]
    if tables:
        blocks.append(("p", f"The effects table as LaTeX (booktabs and graphicx; it fits one column of a two-column "
                            f"paper): {', '.join(tables)}"))
    blocks += [("h2", "Files"), ("list", [str(path) for path in files])]
    return blocks
