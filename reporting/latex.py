"""The effects table of a run as LaTeX, for a paper: booktabs rules, scaled to the width of the text
it is put in (\\linewidth: the page in a one-column document, the column in a two-column one), so it
never runs into the margin. Needs \\usepackage{booktabs,graphicx}."""

from __future__ import annotations

from reporting.render import number, p_value
from reporting.samples import latex_escape

COLUMNS = ("estimator", "estimand", "estimate", "95% CI", "p", "effect size", "truth")


def effects_table(rows: list[dict], alpha: float, caption: str, label: str) -> str:
    level = f"{100 * (1 - alpha):g}\\% CI"
    truth = any(r.get("truth") is not None for r in rows)
    head = ["estimator", "estimand", "estimate", level, "$p$", "effect size"] + (["truth"] if truth else [])
    lines = [r"\begin{table}[t]", r"\centering",
             r"\resizebox{\linewidth}{!}{%", r"\begin{tabular}{ll" + "r" * (len(head) - 2) + "}", r"\toprule",
             " & ".join(head) + r" \\", r"\midrule"]
    for r in rows:
        cells = [latex_escape(r["estimator"]), r["estimand"], f"${number(r['estimate'])}$",
                 f"$[{number(r['ci_low'])}, {number(r['ci_high'])}]$", f"${p_value(r.get('p'))}$",
                 f"${number(r.get('norm_estimate'), 3)}$"] + ([f"${number(r.get('truth'))}$"] if truth else [])
        lines.append(" & ".join(cells).replace("$$", "") + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}}", rf"\caption{{{latex_escape(caption)}}}", rf"\label{{{label}}}",
              r"\end{table}", ""]
    return "\n".join(lines)
