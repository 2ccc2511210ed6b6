"""The figures of a RATE run, drawn with matplotlib's Agg renderer and written as PNG and PDF.

  forest_plot         each estimator's estimate and confidence interval, per estimand, for one or
                      many effects files, with the ground truth marked where it is known;
  score_distributions R(original) against R(rewritten rewrite) in each W group, means marked;
  sweep_plot          the estimates against a parameter that varies between runs, truth as a line.

Each `*_figure` function draws from plain data (rows of the effects table, arrays of rewards) and
returns the matplotlib Figure; its `*_plot` twin writes it to a PNG path and a PDF beside it.
Figures are built without pyplot, so no global backend is chosen and nothing needs a display or a
LaTeX install. Text is DejaVu Sans, which ships inside matplotlib.
"""

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


def _figure(height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(WIDTH, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _style():
    import matplotlib

    return matplotlib.rc_context(STYLE)


def _save(figure, png: Path, dpi: int) -> list[Path]:
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


def _ci_legend(figure, alpha: float, with_truth: bool, estimators=()) -> None:
    from matplotlib.lines import Line2D

    level = f"{100 * (1 - alpha):g}%"
    handles = [Line2D([], [], color=COLORS[name], marker=MARKERS[name], linestyle="-", markersize=5,
                      label=name) for name in estimators]
    if not estimators:
        handles.append(Line2D([], [], color="black", marker="o", markersize=4, label=f"estimate, {level} CI"))
    else:
        handles.append(Line2D([], [], color="none", label=f"bars: {level} CI"))
    if with_truth:
        handles.append(Line2D([], [], label="ground truth", **TRUTH_STYLE))
    figure.legend(handles=handles, loc="outside lower center", ncols=len(handles), frameon=False)


def _headline(figure, warnings: list[str], heading: str | None) -> None:
    """Warnings (low rewrite efficacy, a conditional selection) above the panels, in red, boxed under
    the figure's title: a figure copied into a paper keeps them. A legend, because constrained layout
    makes room for a legend placed outside the axes, and not for free text."""
    import textwrap

    from matplotlib.lines import Line2D

    text = "\n".join(textwrap.fill(f"WARNING: {warning}", 118) for warning in warnings)
    legend = figure.legend(handles=[Line2D([], [], color="none", label=text)], loc="outside upper center",
                           handlelength=0, handletextpad=0, labelcolor=WARNING_COLOR, edgecolor=WARNING_COLOR,
                           fancybox=False, fontsize=7.5, title=plain(heading) if heading else None,
                           title_fontproperties={"size": 10})
    legend.get_frame().set_linewidth(1.2)


def forest_figure(groups: list[tuple[str, list[dict]]], *, raw: bool, alpha: float, title: str | None = None,
                  reward: str | None = None, warnings: list[str] = ()):
    """One panel per estimand; down each panel, a block of estimators per effects file.

    `groups` pairs a label (e.g. 'imdb_length, ArmoRM') with that file's rows, which carry the keys
    `value_keys(raw)` names. With one group its label goes in the title instead of the axis.
    `warnings` are printed as a headline above the panels."""
    estimate_key, low_key, high_key, truth_key = value_keys(raw)
    # A file whose every estimand is undefined still gets an (empty) panel rather than no figure.
    estimands = [e for e in ESTIMANDS if any(r["estimand"] == e for _, rows in groups for r in rows)] or ["ATE"]
    multi = len(groups) > 1
    # y slots from the top: a header slot per group when there are several, then one per estimator.
    slots: list[tuple[str, bool]] = []
    placed: list[tuple[int, int, str]] = []  # (group index, slot, estimator)
    for index, (label, rows) in enumerate(groups):
        if multi:
            slots.append((plain(label), True))
        for estimator in ESTIMATORS:
            if any(r["estimator"] == estimator for r in rows):
                placed.append((index, len(slots), estimator))
                slots.append((estimator, False))

    with _style():
        wrapped = sum(len(warning) // 110 + 1 for warning in warnings)
        figure = _figure(1.0 + 0.3 * len(slots) + (0.25 + 0.14 * wrapped if warnings else 0))
        heading = title or (groups[0][0] if not multi else None)
        if warnings:
            _headline(figure, list(warnings), heading)
        axes = figure.subplots(1, len(estimands), sharex=True, sharey=True, squeeze=False)[0]
        has_truth = False
        span = []
        for axis, estimand in zip(axes, estimands):
            for index, slot, estimator in placed:
                row = next((r for r in groups[index][1] if r["estimator"] == estimator and r["estimand"] == estimand), None)
                if row is None or row.get(estimate_key) is None:
                    continue
                value = row[estimate_key]
                low = value if row.get(low_key) is None else row[low_key]
                high = value if row.get(high_key) is None else row[high_key]
                axis.errorbar(value, slot, xerr=[[value - low], [high - value]], fmt=MARKERS[estimator],
                              color=COLORS[estimator], markersize=5, capsize=3, elinewidth=1.4)
                span += [low, high]
            for index, (_, rows) in enumerate(groups):
                truth = next((r.get(truth_key) for r in rows if r["estimand"] == estimand
                              and r.get(truth_key) is not None), None)
                ys = [slot for i, slot, _ in placed if i == index]
                if truth is None or not ys:
                    continue
                # The truth belongs to one file, so its mark spans only that file's block.
                axis.plot([truth, truth], [min(ys) - 0.45, max(ys) + 0.45], gid="truth", **TRUTH_STYLE)
                span.append(truth)
                has_truth = True
            axis.set_title(estimand, fontweight="bold")
            axis.grid(axis="x", alpha=0.3)
            axis.tick_params(axis="y", length=0)
            for boundary in [slot for slot, (_, header) in enumerate(slots) if header][1:]:
                axis.axhline(boundary - 0.5, color="#cccccc", linewidth=0.8)
        if span and min(span) < 0 < max(span):
            for axis in axes:
                axis.axvline(0, color="#999999", linewidth=0.8, zorder=0)
        axes[0].set_yticks(range(len(slots)), [text for text, _ in slots])
        for tick, (text, header) in zip(axes[0].get_yticklabels(), slots):
            tick.set_fontweight("bold" if header else "normal")
            tick.set_color("black" if header else COLORS.get(text, "black"))
        axes[0].set_ylim(len(slots) - 0.5, -0.5)
        # One x label, under the middle panel: a figure-level label would collide with the legend below.
        axes[len(axes) // 2].set_xlabel(axis_label(raw, reward))
        if heading and not warnings:
            figure.suptitle(plain(heading))
        _ci_legend(figure, alpha, has_truth)
    return figure


def _bins(values, low: int = 30, high: int = 60):
    """numpy's automatic bins, held between `low` and `high`: too few hide a shift, too many are noise."""
    import numpy as np

    edges = np.histogram_bin_edges(values, bins="auto")
    count = min(max(len(edges) - 1, low), high)
    return edges if count == len(edges) - 1 else np.linspace(edges[0], edges[-1], count + 1)


def distributions_figure(groups: dict[bool, tuple], *, reward: str, title: str | None = None):
    """Histograms (as densities) of R(original) and R(rewritten rewrite) for W=1 and W=0, each mean a
    vertical line. Both texts went through the same rewriter only in the second case, so a gap
    between the means is the rewriting's own effect on the reward, which RATE is built to cancel.

    `groups` maps W to (rewards of the originals, rewards of the rewritten rewrites)."""
    import numpy as np

    shown = [(w, groups[w]) for w in (True, False) if w in groups and len(groups[w][0])]
    every = np.concatenate([np.concatenate(pair) for _, pair in shown]) if shown else np.zeros(1)
    bins = _bins(every)
    with _style():
        figure = _figure(2.7)
        axes = figure.subplots(1, max(len(shown), 1), sharex=True, sharey=True, squeeze=False)[0]
        for axis, (w, (original, back)) in zip(axes, shown):
            for values, name, color, fill in ((original, "original", "#444444", 0.18),
                                              (back, "rewritten rewrite", COLORS["RATE"], 0.0)):
                axis.hist(values, bins=bins, density=True, histtype="stepfilled", alpha=fill, color=color)
                axis.hist(values, bins=bins, density=True, histtype="step", color=color, linewidth=1.3,
                          label=f"R({name})")
                axis.axvline(np.mean(values), color=color, linewidth=1.3, gid=f"mean {name}",
                             linestyle="-" if name == "original" else (0, (4, 2)))
            shift = float(np.mean(back) - np.mean(original))
            axis.set_title(f"W = {int(w)}  (n = {len(original)}; mean change {shift:+.3g})", fontweight="bold")
            axis.grid(axis="x", alpha=0.3)
        if not shown:
            axes[0].text(0.5, 0.5, "no example has both rewards", ha="center", va="center", transform=axes[0].transAxes)
        axes[0].set_ylabel("density")
        for axis in axes:
            axis.set_xlabel(f"reward ({plain(reward)})")
        if title:
            figure.suptitle(f"Reward before and after rewriting twice: {plain(title)}")
        if shown:
            from matplotlib.lines import Line2D

            handles, labels = axes[0].get_legend_handles_labels()
            handles.append(Line2D([], [], color="#444444", linewidth=1.3))
            labels.append("means (solid, dashed)")
            figure.legend(handles, labels, loc="outside lower center", ncols=3, frameon=False)
    return figure


def sweep_figure(points: list[tuple[float, list[dict]]], *, parameter: str, raw: bool, alpha: float,
                 title: str | None = None, reward: str | None = None):
    """Each estimator's estimate and CI against a parameter that varies between runs (one panel per
    estimand), with the ground truth as a dashed line where the runs know it.

    `points` pairs each run's parameter value with its rows."""
    estimate_key, low_key, high_key, truth_key = value_keys(raw)
    points = sorted(points, key=lambda point: point[0])
    estimands = [e for e in ESTIMANDS if any(r["estimand"] == e for _, rows in points for r in rows)] or ["ATE"]
    xs = sorted({x for x, _ in points})
    # Estimators side by side around each x, so CIs at the same value do not hide one another.
    step = min((b - a for a, b in zip(xs, xs[1:])), default=1.0) or 1.0
    offsets = {name: (i - 1) * 0.12 * step for i, name in enumerate(ESTIMATORS)}
    with _style():
        figure = _figure(2.9)
        axes = figure.subplots(1, len(estimands), sharex=True, sharey=True, squeeze=False)[0]
        has_truth = False
        present = set()
        for axis, estimand in zip(axes, estimands):
            for estimator in ESTIMATORS:
                found = [(x, r) for x, rows in points for r in rows
                         if r["estimator"] == estimator and r["estimand"] == estimand and r.get(estimate_key) is not None]
                if not found:
                    continue
                present.add(estimator)
                x = [value + offsets[estimator] for value, _ in found]
                y = [r[estimate_key] for _, r in found]
                # an interval that could not be computed (one example, zero spread) is drawn as none
                low = [r[estimate_key] - (r[estimate_key] if r.get(low_key) is None else r[low_key]) for _, r in found]
                high = [(r[estimate_key] if r.get(high_key) is None else r[high_key]) - r[estimate_key] for _, r in found]
                axis.errorbar(x, y, yerr=[low, high], fmt=MARKERS[estimator] + "-", color=COLORS[estimator],
                              markersize=4, capsize=2.5, linewidth=1, elinewidth=1.2)
            truth = [(x, next((r[truth_key] for r in rows if r["estimand"] == estimand and r.get(truth_key) is not None),
                              None)) for x, rows in points]
            truth = [(x, t) for x, t in truth if t is not None]
            if truth:
                axis.plot([x for x, _ in truth], [t for _, t in truth], zorder=3, gid="truth", **TRUTH_STYLE)
                has_truth = True
            axis.set_title(estimand, fontweight="bold")
            axis.grid(alpha=0.3)
        axes[0].set_ylabel(axis_label(raw, reward))
        axes[len(axes) // 2].set_xlabel(plain(parameter))
        if title:
            figure.suptitle(plain(title))
        _ci_legend(figure, alpha, has_truth, [e for e in ESTIMATORS if e in present])
    return figure


def forest_plot(groups: list[tuple[str, list[dict]]], png: Path, *, dpi: int, **options) -> list[Path]:
    """forest_figure(groups, **options) as PNG and PDF."""
    with _style():
        return _save(forest_figure(groups, **options), png, dpi)


def score_distributions(groups: dict[bool, tuple], png: Path, *, dpi: int, **options) -> list[Path]:
    """distributions_figure(groups, **options) as PNG and PDF."""
    with _style():
        return _save(distributions_figure(groups, **options), png, dpi)


def sweep_plot(points: list[tuple[float, list[dict]]], png: Path, *, dpi: int, **options) -> list[Path]:
    """sweep_figure(points, **options) as PNG and PDF."""
    with _style():
        return _save(sweep_figure(points, **options), png, dpi)
