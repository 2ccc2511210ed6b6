"""What every figure of RATE shares: the paper style (sizes, colours, markers, fonts), the figure
built without pyplot, the PNG-and-PDF writer, and the red headline of warnings.

Figures are built without pyplot, so no global backend is chosen and nothing needs a display or a
LaTeX install. Text is DejaVu Sans, which ships inside matplotlib."""

from __future__ import annotations

import logging
from pathlib import Path

import utils

ESTIMANDS = ("ATE", "ATT", "ATU")
ESTIMATORS = ("naive", "single rewrite", "RATE")
# Okabe-Ito colours stay distinct for colour-blind readers and in greyscale print.
COLORS = {"naive": "#7f7f7f", "single rewrite": "#d55e00", "RATE": "#0072b2"}
MARKERS = {"naive": "s", "single rewrite": "D", "RATE": "o"}
TRUTH_STYLE = {"color": "black", "linestyle": (0, (4, 2)), "linewidth": 1.2}
WARNING_COLOR = "#b00020"
SMOKE_MARK = "SMOKE TEST, not a result"
# Drawing order: grid and reference lines, then the truth, then what is compared with it on top.
TRUTH_Z, ESTIMATE_Z = 1.8, 3.0

# Sizes in points for a figure printed at its own size: 7 inches is a two-column paper's full width.
WIDTH = 7.0
STYLE = {
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.titlesize": 9,
    "axes.labelsize": 9,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8.5,
    "legend.fontsize": 8,
    "figure.titlesize": 10,
    "text.usetex": False,
    # TrueType in the PDF keeps the text selectable and editable in a paper's figure.
    "pdf.fonttype": 42,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "figure.facecolor": "white",
    "savefig.facecolor": "white",
}


def value_keys(raw: bool) -> tuple[str, str, str, str]:
    """The row keys holding estimate, CI ends and truth: reward units, or effect sizes."""
    if raw:
        return "estimate", "ci_low", "ci_high", "truth"
    return "norm_estimate", "norm_ci_low", "norm_ci_high", "norm_truth"


def axis_label(raw: bool, reward: str | None = None) -> str:
    if raw:
        return f"effect on reward ({plain(reward)})" if reward else "effect on reward"
    return "effect size (effect / SD of reward)"


def plain(text) -> str:
    """A label that mathtext must not read: a '$' in a dataset or model name is just a dollar."""
    return str(text).replace("$", r"\$")


def interval(row: dict, keys: tuple[str, str, str, str]) -> tuple[float, float, float]:
    """(estimate, low, high) of a row; an interval that could not be computed (one example, zero
    spread) is the estimate itself, drawn as none."""
    estimate_key, low_key, high_key, _ = keys
    value = row[estimate_key]
    low = value if row.get(low_key) is None else row[low_key]
    high = value if row.get(high_key) is None else row[high_key]
    return value, low, high


def smoke_title(heading: str | None, smoke: bool) -> str | None:
    """The figure's title, saying first when it comes from a smoke run: a few examples that check the
    pipeline runs, whose numbers must not reach a paper."""
    if not smoke:
        return plain(heading) if heading else None
    return f"{SMOKE_MARK}: {plain(heading)}" if heading else SMOKE_MARK


def new_figure(height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(WIDTH, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def style():
    import matplotlib

    return matplotlib.rc_context(STYLE)


def save(figure, png: Path, dpi: int) -> list[Path]:
    """PNG at `dpi` and a vector PDF beside it. No tight bounding box: the PNG is exactly figsize x dpi
    pixels, so a figure keeps its size from run to run."""
    # fontTools logs every table it prunes when it subsets the PDF's font; nobody needs that at INFO.
    logging.getLogger("fontTools").setLevel(logging.WARNING)
    import io

    pdf = Path(png).with_suffix(".pdf")
    for path, options in ((Path(png), {"format": "png", "dpi": dpi}), (pdf, {"format": "pdf"})):
        # Drawn in memory, then written: a full disk then fails in our write with its own error, not
        # inside matplotlib's PDF writer, whose cleanup masks the ENOSPC with an AttributeError.
        drawn = io.BytesIO()
        figure.savefig(drawn, **options)
        utils.atomic_write(path, lambda handle: handle.write(drawn.getvalue()), mode="wb")
    return [Path(png), pdf]


def headline(figure, warnings: list[str], heading: str | None, smoke: bool = False) -> None:
    """Warnings (low rewrite efficacy, a conditional selection) above the panels, in red, boxed under
    the figure's title: a figure copied into a paper keeps them. A legend, because constrained layout
    makes room for a legend placed outside the axes, and not for free text."""
    import textwrap

    from matplotlib.lines import Line2D

    text = "\n".join(textwrap.fill(f"WARNING: {warning}", 118) for warning in warnings)
    legend = figure.legend(handles=[Line2D([], [], color="none", label=text)], loc="outside upper center",
                           handlelength=0, handletextpad=0, labelcolor=WARNING_COLOR, edgecolor=WARNING_COLOR,
                           fancybox=False, fontsize=7.5, title=smoke_title(heading, smoke),
                           title_fontproperties={"size": 10})
    legend.get_frame().set_linewidth(1.2)
    if smoke:
        legend.get_title().set_color(WARNING_COLOR)
