"""The effects table of a run as LaTeX, for a paper: booktabs rules, scaled to the width of the text
it is put in (\\linewidth: the page in a one-column document, the column in a two-column one), so it
never runs into the margin. Needs \\usepackage{booktabs,graphicx}."""

from __future__ import annotations

from reporting.render import Column, Table, latex_escape


def effects_table(rows: list[dict], alpha: float, caption: str, label: str) -> str:
    truth = any(r.get("truth") is not None for r in rows)
    columns = [Column("estimator"), Column("estimand"), Column("estimate", "estimate"),
               Column(f"{100 * (1 - alpha):g}% CI", "interval"), Column("p", "p", latex="$p$"),
               Column("effect size", "effect size")] + ([Column("truth", "estimate")] if truth else [])
    table = Table(columns, [[r["estimator"], r["estimand"], r["estimate"], (r["ci_low"], r["ci_high"]), r.get("p"),
                             r.get("norm_estimate")] + ([r.get("truth")] if truth else []) for r in rows])
    return table.to_latex(latex_escape(caption), label=label, fit=True, math=True)
