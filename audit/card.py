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
from reporting.report import CSS, markdown_escape, p_value

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
    return "" if value is None else f"{value:+.2f}"


def interval(row: dict) -> str:
    return "" if row.get("norm_ci_low") is None else f"[{es(row['norm_ci_low'])}, {es(row['norm_ci_high'])}]"


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


def to_markdown(audit: dict, where: Path) -> str:
    alpha, models = audit["alpha"], audit["models"]
    out = [f"# Audit: {audit['name']}", "", *[f"> {markdown_escape(line)}" for line in headline(audit)], "",
           f"## RATE effect sizes ({audit['estimand']}, sd of R(original)), naive beside", "",
           "Each cell: RATE [95% CI], Holm-adjusted p across the audit's matrix; naive in parentheses; "
           "**bold** where Holm's p <= alpha.", "",
           "| attribute | " + " | ".join(models) + " |", "|---|" + "---:|" * len(models)]
    for a in audit["attributes"]:
        cells = []
        for model in models:
            rate, naive = a["cells"][model]["rate"], a["cells"][model]["naive"]
            text = f"{es(rate['norm_estimate'])} {interval(rate)} {p_is(rate['audit_holm'])} ({es(naive['norm_estimate'])})"
            cells.append(f"**{text}**" if significant(rate, alpha) else text)
        out.append(f"| {a['name']} | " + " | ".join(cells) + " |")
    out += ["", "## Paired contrasts between models (difference of effect sizes, same examples)", "",
            "| attribute | contrast | difference | 95% CI | p | p (Holm, audit) | p (BH, audit) |",
            "|---|---|---:|---:|---:|---:|---:|"]
    out += [f"| {a['name']} | {r['reward_key']} | {es(r['norm_estimate'])} | {interval(r)} | {p_value(r['p'])} | "
            f"{p_value(r['audit_holm'])} | {p_value(r['audit_bh'])} |" for a in audit["attributes"] for r in a["contrasts"]]
    out += ["", "## Each attribute's checks", ""]
    for a in audit["attributes"]:
        out += [f"### {a['name']}", "", markdown_escape(a["efficacy_line"]), "",
                "| model | off-target asymmetry | p | breakdown delta (sd) | truth (sd) |", "|---|---:|---:|---:|---:|"]
        for model, cell in a["cells"].items():
            asym = cell["asymmetry"] or {}
            out.append(f"| {model} | {asym.get('estimate', 0):+.4f} | {p_value(asym.get('p'))} | "
                       f"{es((cell['breakdown'] or {}).get('effect_size'))} | {es(cell['rate']['norm_truth'])} |")
        out.append("")
    out += ["## Files", "", "| attribute | model | effects | scored | rewrites |", "|---|---|---|---|---|"]
    out += [f"| {a} | {m} | [{c['effects'].name}]({_link(c['effects'], where)}) | {_link(c['scored'], where)} | "
            f"{_link(c['rewrites'], where)} |" for a, m, c in provenance(audit)]
    out += ["", f"Config: {audit['config'].resolve()}; run id {audit['run']}. Each file's `.meta.json` sidecar "
                "beside it holds the resolved config, inputs, versions and git state.", ""]
    return "\n".join(out)


AUDIT_CSS = CSS + """
td.up-strong { background: #2166ac; color: #fff; } td.up-weak { background: #92c5de; }
td.down-strong { background: #b2182b; color: #fff; } td.down-weak { background: #f4a582; }
td.null { background: #f0f0f0; color: #555; } td.matrix { text-align: right; white-space: nowrap; }
td.matrix small { display: block; font-size: .75rem; } td.matrix a { color: inherit; }
.headline { border: 2px solid #2166ac; background: #eef4fa; padding: .6rem .9rem; margin: 1rem 0; }
td, th { overflow-wrap: anywhere; }
"""


def to_html(audit: dict, where: Path) -> str:
    alpha, models, e = audit["alpha"], audit["models"], html.escape
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           f"<title>Audit: {e(audit['name'])}</title><style>{AUDIT_CSS}</style></head><body>",
           f"<h1>Audit: {e(audit['name'])}</h1>"]
    for line in headline(audit):
        kind = "warning" if line.startswith("WARNING") else "headline"
        out.append(f'<div class="{kind}">{e(line)}</div>')
    out += [f"<h2>RATE effect sizes ({e(audit['estimand'])})</h2>",
            f"<p>Each cell: RATE's effect size (estimate / sd of R(original)) with its 95% CI, the p-value adjusted by "
            f"Holm across the {sum(len(a['cells']) for a in audit['attributes'])} cells (BH beside it), and the naive "
            f"effect size for contrast (and the truth, where the data are simulated). Coloured where Holm's p &le; {alpha:g}: blue rewards the attribute, red "
            f"penalises it, darker at |effect| &ge; 0.5 sd; grey is not distinguishable from 0. A cell links to its "
            f"files.</p>", "<table><thead><tr><th>attribute</th>" + "".join(f"<th>{e(m)}</th>" for m in models)
            + "</tr></thead><tbody>"]
    for a in audit["attributes"]:
        out.append(f"<tr><th>{e(a['name'])}</th>")
        for model in models:
            rate, naive = a["cells"][model]["rate"], a["cells"][model]["naive"]
            out.append(f'<td class="matrix {_tone(rate, alpha)}"><a href="#files-{e(a["name"])}-{e(model)}">'
                       f"<b>{es(rate['norm_estimate'])}</b> {interval(rate)}</a>"
                       f"<small>p Holm {p_value(rate['audit_holm'])}, BH {p_value(rate['audit_bh'])}</small>"
                       f"<small>naive {es(naive['norm_estimate'])}"
                       + (f", truth {es(rate['norm_truth'])}" if rate["norm_truth"] is not None else "")
                       + "</small></td>")
        out.append("</tr>")
    out += ["</tbody></table>", "<h2>Paired contrasts between models</h2>",
            "<p>RATE(A) &minus; RATE(B) as a difference of effect sizes, on the same examples and rewrites, with the "
            "SE of the per-example difference: far narrower than combining the two reported SEs. p tests equal effect "
            "sizes, adjusted across every contrast of the audit.</p>",
            "<table><thead><tr><th>attribute</th><th>contrast</th><th>difference</th><th>95% CI</th><th>p</th>"
            "<th>p (Holm)</th><th>p (BH)</th></tr></thead><tbody>"]
    out += [f"<tr><td>{e(a['name'])}</td><td>{e(r['reward_key'])}</td><td class='num'>{es(r['norm_estimate'])}</td>"
            f"<td class='num'>{interval(r)}</td><td class='num'>{p_value(r['p'])}</td>"
            f"<td class='num'>{p_value(r['audit_holm'])}</td><td class='num'>{p_value(r['audit_bh'])}</td></tr>"
            for a in audit["attributes"] for r in a["contrasts"]]
    out += ["</tbody></table>", "<h2>Each attribute's checks</h2>"]
    for a in audit["attributes"]:
        out += [f"<h3>{e(a['name'])}</h3>", f"<p>{e(a['efficacy_line'])}</p>",
                "<table><thead><tr><th>model</th><th>off-target asymmetry</th><th>p</th><th>breakdown &Delta; (sd)</th>"
                "<th>truth (sd)</th></tr></thead><tbody>"]
        for model, cell in a["cells"].items():
            asym = cell["asymmetry"] or {}
            out.append(f"<tr><td>{e(model)}</td><td class='num'>{asym.get('estimate', 0):+.4f}</td>"
                       f"<td class='num'>{p_value(asym.get('p'))}</td>"
                       f"<td class='num'>{es((cell['breakdown'] or {}).get('effect_size'))}</td>"
                       f"<td class='num'>{es(cell['rate']['norm_truth'])}</td></tr>")
        out.append("</tbody></table>")
    out += ["<h2>Files</h2>", "<table><thead><tr><th>attribute</th><th>model</th><th>effects (and sidecar)</th>"
            "<th>scored</th><th>rewrites</th></tr></thead><tbody>"]
    for attribute, model, cell in provenance(audit):
        links = [f'<a href="{e(_link(p, where))}">{e(p.name)}</a>' if p else "" for p in
                 (cell["effects"], cell["scored"], cell["rewrites"])]
        sidecar = f' (<a href="{e(_link(utils.meta_path(cell["effects"]), where))}">sidecar</a>)'
        out.append(f'<tr id="files-{e(attribute)}-{e(model)}"><td>{e(attribute)}</td><td>{e(model)}</td>'
                   f"<td>{links[0]}{sidecar}</td><td>{links[1]}</td><td>{links[2]}</td></tr>")
    out += ["</tbody></table>", f'<p>Config: <a href="{e(audit["config"].resolve().as_uri())}">{e(str(audit["config"].resolve()))}'
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
    def write(handle) -> None:
        writer = csv.DictWriter(handle, fieldnames=MATRIX_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for row in matrix_rows(audit):
            writer.writerow({k: "" if v is None else v for k, v in row.items()})

    utils.atomic_write(path, write)


def to_latex(audit: dict) -> str:
    """The matrix as a booktabs table that fits one column (tabular* to \\linewidth is left to the user)."""
    def tex(text: str) -> str:
        return str(text).replace("_", r"\_").replace("%", r"\%")

    alpha, models = audit["alpha"], audit["models"]
    lines = [r"\begin{table}[t]", r"\centering", r"\small", r"\begin{tabular}{l" + "r" * len(models) + "}",
             r"\toprule", "attribute & " + " & ".join(tex(m) for m in models) + r" \\", r"\midrule"]
    for a in audit["attributes"]:
        cells = []
        for model in models:
            rate = a["cells"][model]["rate"]
            value = es(rate["norm_estimate"])
            cells.append(rf"\textbf{{{value}}}" if significant(rate, alpha) else value)
        lines.append(tex(a["name"]) + " & " + " & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}",
              rf"\caption{{RATE effect sizes ({audit['estimand']}, in sd of the original rewards). Bold: Holm-adjusted "
              rf"$p \le {alpha:g}$ across the {sum(len(a['cells']) for a in audit['attributes'])} cells.}}",
              r"\end{table}", ""]
    return "\n".join(lines)
