"""The audit card: what an audit's treatment_effects runs found, on one page (HTML, markdown, LaTeX).

Read from the files the phases wrote (nothing is re-estimated here): each attribute's run table
(every model's rows and the paired contrasts between models, with the table's sidecar listing the
effects files) and each effects file (the judge's efficacy, the off-target diagnostics, the
sensitivity analysis).

Two families are adjusted across the whole audit, not per attribute: the matrix (one RATE test per
attribute x model, of the audit's estimand) and the contrasts (one per attribute and pair of models).
Holm controls each family's family-wise error rate under any dependence; Benjamini-Hochberg its
false discovery rate under positive dependence, which estimates on shared examples have
(estimation/multiplicity.py). The matrix shows effect sizes (the estimate over the within-group sd of
R(original)), so that models on different scales compare; the contrasts are differences of effect
sizes, paired on the same examples (estimation/contrasts.py).
"""

from __future__ import annotations

import csv
import html
import os
from pathlib import Path

import utils
from estimation import gate as effects_gate
from estimation import multiplicity
from reporting import render
from reporting.render import CSS, Cell, Column, Table, markdown_escape, p_value

NUMBERS = ("estimate", "se", "ci_low", "ci_high", "p", "norm_estimate", "norm_se", "norm_ci_low", "norm_ci_high",
           "truth", "norm_truth", "norm_breakdown_delta", "breakdown_delta", "n1", "n0", "clusters")


def _row(raw: dict) -> dict:
    return {**raw, **{k: float(raw[k]) if raw.get(k) not in (None, "") else None for k in NUMBERS}}


def effect_size_p(row: dict, alpha: float) -> float:
    """A contrast's p-value for H0: equal effect sizes. The run table's `p` tests equal raw effects,
    which for models on different scales is another question; the t reference and its df are the
    contrast's own (clusters - 1, or n - 1; estimation/contrasts.py)."""
    from estimation import stats as es

    df = (row["clusters"] or row["n1"] + row["n0"]) - 1
    return float(es.t_interval(es.Effect(row["norm_estimate"], row["norm_se"], df), alpha)[2])


def upstream(path: Path, kind: str):
    """The first file of `kind` in the chain of files `path` came from."""
    for found in utils.artifacts.lineage(path)[1:]:
        identity = utils.artifacts.identity(found)
        if identity and identity.kind == kind:
            return found
    return None


def collect(cfg: utils.Config, name: str, run: str) -> dict:
    """Every attribute's cells (one per model), contrasts, efficacy and files, and the audit-wide
    adjusted p-values of the matrix and of the contrasts."""
    section, smoke = cfg["audit"], cfg.smoke
    estimand = section["estimand"]
    attributes = []
    for attribute in section["attributes"]:
        table = utils.artifacts.latest("table", attribute, smoke=smoke, run=run)
        with open(table, newline="", encoding="utf-8") as handle:
            rows = [_row(r) for r in csv.DictReader(handle) if r["estimand"] == estimand]
        effects = {}
        for item in (utils.read_meta(table) or {}).get("inputs", []):
            path = Path(item["path"])
            found = utils.read_json(path)
            effects[found["reward_key"]] = (path, found)
        cells = {}
        for model in section["models"]:
            if model not in effects:
                raise utils.RateError(f"{table}: the audit's estimates of {attribute} hold no model {model!r}; "
                                      f"rerun the audit (it scores what is missing)")
            path, found = effects[model]
            pick = {r["estimator"]: r for r in rows if r["reward_key"] == model}
            cells[model] = {"rate": pick["RATE"], "naive": pick["naive"], "effects": path,
                            "scored": upstream(path, "scored"), "rewrites": upstream(path, "rewrites"),
                            "asymmetry": found["diagnostics"].get("off_target_asymmetry"),
                            "breakdown": (found.get("sensitivity") or {}).get("breakdown", {}).get(estimand)}
        contrasts = [{**r, "p": effect_size_p(r, cfg["effects"]["alpha"])} for r in rows
                     if r["estimator"] == "RATE contrast"]
        efficacy = next(iter(effects.values()))[1].get("efficacy") or {}
        attributes.append({"name": attribute, "cells": cells, "contrasts": contrasts, "table": table,
                           "efficacy": efficacy, "efficacy_line": effects_gate.summary_line(efficacy)
                           if efficacy else "rewrite efficacy: not measured"})
    cells = [cell for a in attributes for cell in a["cells"].values()]
    for family in ([c["rate"] for c in cells], [r for a in attributes for r in a["contrasts"]]):
        p = [r["p"] for r in family]
        for r, holm, bh in zip(family, multiplicity.holm(p), multiplicity.benjamini_hochberg(p)):
            r["audit_holm"], r["audit_bh"] = holm, bh
    return {"name": name, "estimand": estimand, "alpha": cfg["effects"]["alpha"], "run": run,
            "models": section["models"], "attributes": attributes, "config": Path(cfg.path)}


def significant(row: dict, alpha: float) -> bool:
    return row.get("audit_holm") is not None and row["audit_holm"] <= alpha


def p_is(value) -> str:
    text = p_value(value)
    return f"p{text}" if text.startswith("<") else f"p={text}"


def es(value) -> str:
    return render.number(value, 2, nan="+nan")


def es_interval(row: dict) -> str:
    return render.interval(row.get("norm_ci_low"), row.get("norm_ci_high"), 2, nan="+nan")


def es_column(name: str) -> Column:
    """A column of effect sizes as the card writes them: two decimals, a NaN as Python writes it."""
    return Column(name, "effect size", digits=2, nan="+nan")


def headline(audit: dict) -> list[str]:
    alpha, lines = audit["alpha"], []
    cells = [(a["name"], m, c) for a in audit["attributes"] for m, c in a["cells"].items()]
    found = [f"{m} {'rewards' if c['rate']['norm_estimate'] > 0 else 'penalises'} {a} "
             f"({es(c['rate']['norm_estimate'])} sd)" for a, m, c in cells if significant(c["rate"], alpha)]
    lines.append(f"{len(found)} of {len(cells)} attribute x model effects differ from 0 after Holm's adjustment "
                 f"across the audit (alpha {alpha:g}, {audit['estimand']}, RATE): " + ("; ".join(found) or "none") + ".")
    for a in audit["attributes"]:
        if a["efficacy"].get("warning"):
            lines.append(f"WARNING ({a['name']}): {a['efficacy']['warning']}")
        for model, cell in a["cells"].items():
            if (cell["asymmetry"] or {}).get("significant"):
                lines.append(f"WARNING ({a['name']}, {model}): the rewrites' off-target change of this reward differs "
                             f"between the W groups ({cell['asymmetry']['estimate']:+.4f}, "
                             f"{p_is(cell['asymmetry']['p'])}). RATE is biased by it if the rewriter causes it, and "
                             f"not if the groups' originals differ in what the rewriter overwrites: read that "
                             f"attribute's rewrites")
    return lines


def _link(path, where: Path) -> str:
    return "" if path is None else Path(os.path.relpath(path, where)).as_posix()


def _tone(row: dict, alpha: float) -> str:
    if not significant(row, alpha):
        return "null"
    strength = "strong" if abs(row["norm_estimate"]) >= 0.5 else "weak"
    return f"{'up' if row['norm_estimate'] > 0 else 'down'}-{strength}"


def provenance(audit: dict) -> list[tuple[str, str, dict]]:
    return [(a["name"], model, cell) for a in audit["attributes"] for model, cell in a["cells"].items()]


def _matrix(audit: dict, make) -> Table:
    """One row per attribute, one column per model, each cell `make(attribute, model, cell)`."""
    return Table(["attribute", *(Column(m, align="right") for m in audit["models"])],
                 [[a["name"], *(make(a["name"], m, a["cells"][m]) for m in audit["models"])]
                  for a in audit["attributes"]])


def _contrasts(audit: dict) -> Table:
    return Table(["attribute", "contrast", es_column("difference"), Column("95% CI", "interval", digits=2, nan="+nan"),
                  Column("p", "p"), Column("p (Holm, audit)", "p"), Column("p (BH, audit)", "p")],
                 [[a["name"], r["reward_key"], r["norm_estimate"], (r["norm_ci_low"], r["norm_ci_high"]), r["p"],
                   r["audit_holm"], r["audit_bh"]] for a in audit["attributes"] for r in a["contrasts"]])


def _checks(attribute: dict) -> Table:
    return Table(["model", Column("off-target asymmetry", "estimate", nan="+nan"), Column("p", "p"),
                  es_column("breakdown delta (sd)"), es_column("truth (sd)")],
                 [[model, (cell["asymmetry"] or {}).get("estimate", 0), (cell["asymmetry"] or {}).get("p"),
                   (cell["breakdown"] or {}).get("effect_size"), cell["rate"]["norm_truth"]]
                  for model, cell in attribute["cells"].items()])


def to_markdown(audit: dict, where: Path) -> str:
    def cell(attribute: str, model: str, found: dict) -> Cell:
        rate, naive = found["rate"], found["naive"]
        return Cell(f"{es(rate['norm_estimate'])} {es_interval(rate)} {p_is(rate['audit_holm'])} "
                    f"({es(naive['norm_estimate'])})", strong=significant(rate, audit["alpha"]))

    out = [f"# Audit: {audit['name']}", "", *[f"> {markdown_escape(line)}" for line in headline(audit)], "",
           f"## RATE effect sizes ({audit['estimand']}, sd of R(original)), naive beside", "",
           "Each cell: RATE [95% CI], Holm-adjusted p across the audit's matrix; naive in parentheses; "
           "**bold** where Holm's p <= alpha.", "",
           _matrix(audit, cell).to_terminal(), "",
           "## Paired contrasts between models (difference of effect sizes, same examples)", "",
           _contrasts(audit).to_terminal(), "", "## Each attribute's checks", ""]
    for a in audit["attributes"]:
        out += [f"### {a['name']}", "", markdown_escape(a["efficacy_line"]), "", _checks(a).to_terminal(), ""]
    files = [[a, m, Cell(c["effects"].name, href=_link(c["effects"], where)), _link(c["scored"], where),
              _link(c["rewrites"], where)] for a, m, c in provenance(audit)]
    out += ["## Files", "", Table(["attribute", "model", *(Column(name, align="left") for name in (
        "effects", "scored", "rewrites"))], files).to_terminal()]
    out += ["", f"Config: {audit['config'].resolve()}; run id {audit['run']}. Each file's `.meta.json` sidecar "
                "beside it holds the resolved config, inputs, versions and git state.", ""]
    return "\n".join(out)


# the matrix's colours: blue rewards the attribute, red penalises it, darker from 0.5 sd; grey is null
TONES = """
td.up-strong { background: #2166ac; color: #fff; } td.up-weak { background: #92c5de; }
td.down-strong { background: #b2182b; color: #fff; } td.down-weak { background: #f4a582; }
td.null { background: #f0f0f0; color: #555; }
td.matrix small { display: block; font-size: .75rem; } td.matrix a { color: inherit; } th { overflow-wrap: anywhere; }
"""


def to_html(audit: dict, where: Path) -> str:
    alpha, e = audit["alpha"], html.escape

    def cell(attribute: str, model: str, found: dict) -> Cell:
        """RATE's effect size and interval, linked to the cell's files, coloured by its tone; the adjusted
        p-values, the naive effect size and the truth beneath."""
        rate, naive = found["rate"], found["naive"]
        truth = f", truth {es(rate['norm_truth'])}" if rate["norm_truth"] is not None else ""
        return Cell(f"{es(rate['norm_estimate'])} {es_interval(rate)}", cls=f"matrix {_tone(rate, alpha)}",
                    href=f"#files-{attribute}-{model}", strong=True,
                    notes=(f"p Holm {p_value(rate['audit_holm'])}, BH {p_value(rate['audit_bh'])}",
                           f"naive {es(naive['norm_estimate'])}{truth}"))

    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           f"<title>Audit: {e(audit['name'])}</title><style>{CSS}{TONES}</style></head><body>",
           f"<h1>Audit: {e(audit['name'])}</h1>"]
    for line in headline(audit):
        kind = "warning" if line.startswith("WARNING") else "summary"
        out.append(f'<div class="{kind}">{e(line)}</div>')
    out += [f"<h2>RATE effect sizes ({e(audit['estimand'])})</h2>",
            f"<p>Each cell: RATE's effect size (estimate / sd of R(original)) with its 95% CI, the p-value adjusted by "
            f"Holm across the {sum(len(a['cells']) for a in audit['attributes'])} cells (BH beside it), and the naive "
            f"effect size for contrast (and the truth, where the data are simulated). Coloured where Holm's p &le; {alpha:g}: blue rewards the attribute, red "
            f"penalises it, darker at |effect| &ge; 0.5 sd; grey is not distinguishable from 0. A cell links to its "
            f"files.</p>", _matrix(audit, cell).to_html(),
            "<h2>Paired contrasts between models</h2>",
            "<p>RATE(A) &minus; RATE(B) as a difference of effect sizes, on the same examples and rewrites, with the "
            "SE of the per-example difference: far narrower than combining the two reported SEs. p tests equal effect "
            "sizes, adjusted across every contrast of the audit.</p>", _contrasts(audit).to_html(),
            "<h2>Each attribute's checks</h2>"]
    for a in audit["attributes"]:
        out += [f"<h3>{e(a['name'])}</h3>", f"<p>{e(a['efficacy_line'])}</p>", _checks(a).to_html()]

    def link(path) -> Cell | str:
        return Cell(path.name, href=_link(path, where)) if path else ""

    files = [[Cell(attribute, anchor=f"files-{attribute}-{model}"), model, link(cell["effects"]),
              Cell("sidecar", href=_link(utils.meta_path(cell["effects"]), where)), link(cell["scored"]),
              link(cell["rewrites"])] for attribute, model, cell in provenance(audit)]
    out += ["<h2>Files</h2>",
            Table(["attribute", "model", "effects", "sidecar", "scored", "rewrites"], files).to_html(),
            f'<p>Config: <a href="{e(audit["config"].resolve().as_uri())}">{e(str(audit["config"].resolve()))}'
            f"</a>; run id {e(audit['run'])}.</p>", "</body></html>"]
    return "\n".join(out) + "\n"


MATRIX_COLUMNS = ("attribute", "model", "rate_effect_size", "ci_low", "ci_high", "p", "p_holm", "p_bh", "significant",
                  "naive_effect_size", "truth_effect_size", "rate_estimate", "effects_file")


def matrix_rows(audit: dict) -> list[dict]:
    """The matrix, one row per cell, for a spreadsheet or a test (the CSV beside the card)."""
    return [{"attribute": a, "model": m, "rate_effect_size": c["rate"]["norm_estimate"],
             "ci_low": c["rate"]["norm_ci_low"], "ci_high": c["rate"]["norm_ci_high"], "p": c["rate"]["p"],
             "p_holm": c["rate"]["audit_holm"], "p_bh": c["rate"]["audit_bh"],
             "significant": significant(c["rate"], audit["alpha"]), "naive_effect_size": c["naive"]["norm_estimate"],
             "truth_effect_size": c["rate"]["norm_truth"], "rate_estimate": c["rate"]["estimate"],
             "effects_file": str(c["effects"])} for a, m, c in provenance(audit)]


def write_csv(path: Path, audit: dict) -> None:
    rows = [[row[k] for k in MATRIX_COLUMNS] for row in matrix_rows(audit)]
    utils.atomic_write(path, Table(MATRIX_COLUMNS, rows).to_csv)


def to_latex(audit: dict) -> str:
    """The matrix as a booktabs table that fits one column (tabular* to \\linewidth is left to the user)."""
    alpha = audit["alpha"]
    matrix = _matrix(audit, lambda attribute, model, found: Cell(es(found["rate"]["norm_estimate"]),
                                                                 strong=significant(found["rate"], alpha)))
    cells = sum(len(a["cells"]) for a in audit["attributes"])
    return matrix.to_latex(rf"RATE effect sizes ({audit['estimand']}, in sd of the original rewards). Bold: "
                           rf"Holm-adjusted $p \le {alpha:g}$ across the {cells} cells.")
