"""What `make experiments` writes for each sweep: a figure (PNG and PDF), a table (CSV, markdown,
LaTeX), and one HTML page that collects every sweep of the run."""

from __future__ import annotations

from pathlib import Path

from experiments.summary import COLUMNS, as_figure_rows
from reporting import figures
from reporting.render import Column, Table, latex_escape, to_html

SHOWN = ("value", "estimator", "estimand", "mean_estimate", "mean_truth", "bias", "rmse", "coverage",
         "predicted_bias", "mean_breakdown_delta", "asymmetry_fires")
HEADINGS = {"value": "value", "estimator": "estimator", "estimand": "estimand", "mean_estimate": "mean estimate",
            "mean_truth": "truth", "bias": "bias", "rmse": "RMSE", "coverage": "95% CI coverage",
            "predicted_bias": "predicted bias", "mean_breakdown_delta": "breakdown Δ",
            "asymmetry_fires": "asymmetry fires"}


SHARES = ("coverage", "asymmetry_fires", "efficacy")


def shown_columns(rows: list[dict]) -> list[str]:
    return [c for c in SHOWN if any(row.get(c) is not None for row in rows)]


def column(name: str) -> Column:
    """A summary column by its key: the swept value as written, shares of replicates to 2 decimals,
    and the estimates, in 3 significant digits from 1e4 on (so that a diverging one keeps the table narrow)."""
    if name == "value":
        return Column(HEADINGS[name], "count")
    if name in ("estimator", "estimand"):
        return Column(HEADINGS[name])
    if name in SHARES:
        return Column(HEADINGS[name], "share")
    return Column(HEADINGS[name], "estimate", short_from=1e4)


def table(rows: list[dict]) -> Table:
    columns = shown_columns(rows)
    return Table([column(c) for c in columns], [[row.get(c) for c in columns] for row in rows])


def markdown_table(rows: list[dict]) -> str:
    return table(rows).to_terminal() + "\n"


def latex_table(rows: list[dict], caption: str) -> str:
    return table(rows).to_latex(latex_escape(caption))


def write_csv(path: Path, rows: list[dict]) -> None:
    import utils

    utils.atomic_write(path, Table(COLUMNS, [[row.get(c) for c in COLUMNS] for row in rows]).to_csv)


def sweep_plot(points: list[tuple[float, list[dict]]], png: Path, *, label: str, title: str, dpi: int = 150,
               smoke: bool = False) -> list[Path]:
    """The mean estimate and the mean interval of one replicate at each value, truth dashed; a smoke
    sweep's title says it is one."""
    shaped = [(value, as_figure_rows(rows)) for value, rows in points]
    return figures.sweep_plot(shaped, png, dpi=dpi, raw=True, alpha=0.05, parameter=label, title=title, smoke=smoke)


def page(sections: list[dict], title: str, when: str) -> tuple[list[tuple], str]:
    """The blocks of the run's page (reporting/render.py renders them) and its HTML."""
    blocks: list[tuple] = [("h1", title), ("p", f"Written by run_experiments.py on {when}. Each point is the mean "
                                                "over its replicates; the error bars are the mean 95% interval of "
                                                "one replicate; the dashed line is the mean true effect.")]
    for section in sections:
        blocks += [("h2", section["title"]), ("p", section["description"]),
                   ("image", section["figure"], section["title"]), ("table", table(section["rows"]))]
    return blocks, to_html(blocks, title)
