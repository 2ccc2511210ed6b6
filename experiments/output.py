"""What `make experiments` writes for each sweep: a figure (PNG and PDF), a table (CSV, markdown,
LaTeX), and one HTML page that collects every sweep of the run."""

from __future__ import annotations

import csv
from pathlib import Path

from experiments.summary import COLUMNS, as_figure_rows
from reporting import figures
from reporting import report

SHOWN = ("value", "estimator", "estimand", "mean_estimate", "mean_truth", "bias", "rmse", "coverage",
         "predicted_bias", "mean_breakdown_delta", "asymmetry_fires")
HEADINGS = {"value": "value", "estimator": "estimator", "estimand": "estimand", "mean_estimate": "mean estimate",
            "mean_truth": "truth", "bias": "bias", "rmse": "RMSE", "coverage": "95% CI coverage",
            "predicted_bias": "predicted bias", "mean_breakdown_delta": "breakdown Δ",
            "asymmetry_fires": "asymmetry fires"}


SHARES = ("coverage", "asymmetry_fires", "efficacy")


def cell(value, column: str = "") -> str:
    if value is None:
        return ""
    if column == "value" or not isinstance(value, float):
        return f"{value:g}" if isinstance(value, (int, float)) else str(value)
    if column in SHARES:
        return f"{value:.2f}"
    return f"{value:+.4f}" if abs(value) < 1e4 else f"{value:.3g}"


def shown_columns(rows: list[dict]) -> list[str]:
    return [c for c in SHOWN if any(row.get(c) is not None for row in rows)]


def markdown_table(rows: list[dict]) -> str:
    columns = shown_columns(rows)
    lines = ["| " + " | ".join(HEADINGS[c] for c in columns) + " |",
             "|" + "|".join("---" if c in ("estimator", "estimand") else "---:" for c in columns) + "|"]
    lines += ["| " + " | ".join(cell(row.get(c), c) for c in columns) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def latex_table(rows: list[dict], caption: str) -> str:
    columns = shown_columns(rows)

    def tex(text: str) -> str:
        return text.replace("%", r"\%").replace("_", r"\_").replace("Δ", r"$\Delta$")

    lines = [r"\begin{table}[t]", r"\centering", r"\small", r"\begin{tabular}{" + "".join(
        "l" if c in ("estimator", "estimand") else "r" for c in columns) + "}", r"\toprule",
             " & ".join(tex(HEADINGS[c]) for c in columns) + r" \\", r"\midrule"]
    lines += [" & ".join(tex(cell(row.get(c), c)) for c in columns) + r" \\" for row in rows]
    lines += [r"\bottomrule", r"\end{tabular}", rf"\caption{{{tex(caption)}}}", r"\end{table}", ""]
    return "\n".join(lines)


def write_csv(path: Path, rows: list[dict]) -> None:
    import utils

    def write(handle):
        writer = csv.DictWriter(handle, fieldnames=COLUMNS, lineterminator="\n", extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)

    utils.atomic_write(path, write)


def sweep_plot(points: list[tuple[float, list[dict]]], png: Path, *, label: str, title: str, dpi: int = 150,
               smoke: bool = False) -> list[Path]:
    """The mean estimate and the mean interval of one replicate at each value, truth dashed; a smoke
    sweep's title says it is one."""
    shaped = [(value, as_figure_rows(rows)) for value, rows in points]
    return figures.sweep_plot(shaped, png, dpi=dpi, raw=True, alpha=0.05, parameter=label, title=title, smoke=smoke)


def page(sections: list[dict], title: str, when: str) -> tuple[list[tuple], str]:
    """The blocks of the run's page (reporting/report.py renders them) and its HTML."""
    blocks: list[tuple] = [("h1", title), ("p", f"Written by run_experiments.py on {when}. Each point is the mean "
                                                "over its replicates; the error bars are the mean 95% interval of "
                                                "one replicate; the dashed line is the mean true effect.")]
    for section in sections:
        rows = section["rows"]
        columns = shown_columns(rows)
        blocks += [("h2", section["title"]), ("p", section["description"]),
                   ("image", section["figure"], section["title"]),
                   ("table", [HEADINGS[c] for c in columns], [[cell(r.get(c), c) for c in columns] for r in rows])]
    return blocks, report.to_html(blocks, title)
