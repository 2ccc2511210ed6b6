"""The figures of a RATE run, drawn with matplotlib's Agg renderer and written as PNG and PDF.

  forest_plot         each estimator's estimate and confidence interval, per estimand, for one or
                      many effects files, with the ground truth marked where it is known
                      (reporting/forest.py draws it);
  score_distributions R(original) against R(rewritten rewrite) in each W group, means marked;
  sweep_plot          the estimates against a parameter that varies between runs, truth as a line.

Each `*_figure` function draws from plain data (rows of the effects table, arrays of rewards) and
returns the matplotlib Figure; its `*_plot` twin writes it to a PNG path and a PDF beside it. The
style they share is reporting/figure_style.py's.
"""

from __future__ import annotations

from pathlib import Path

from reporting.figure_style import (COLORS, ESTIMANDS, ESTIMATE_Z, ESTIMATORS, MARKERS, STYLE, TRUTH_STYLE, TRUTH_Z,
                                    WARNING_COLOR, WIDTH, axis_label, interval, plain, smoke_title, value_keys)
# Under the names reporting/robustness.py draws the sensitivity figure with.
from reporting.figure_style import new_figure as _figure
from reporting.figure_style import save as _save
from reporting.figure_style import style as _style
from reporting.forest import forest_figure
from utils.record import ORIGINAL, REWRITTEN_REWRITE

__all__ = ["COLORS", "ESTIMANDS", "ESTIMATORS", "MARKERS", "STYLE", "TRUTH_STYLE", "WARNING_COLOR", "WIDTH",
           "axis_label", "plain", "value_keys", "forest_figure", "distributions_figure", "sweep_figure",
           "forest_plot", "score_distributions", "sweep_plot"]

# How far apart the estimators at one swept value are drawn, as a share of the smallest gap between
# swept values: enough to tell their intervals apart, little enough that each stays at its value.
DODGE = 0.08
ORIGINAL_COLOR = "#444444"


def _bins(values, low: int = 30, high: int = 60):
    """numpy's automatic bins, held between `low` and `high`: too few hide a shift, too many are noise."""
    import numpy as np

    edges = np.histogram_bin_edges(values, bins="auto")
    count = min(max(len(edges) - 1, low), high)
    return edges if count == len(edges) - 1 else np.linspace(edges[0], edges[-1], count + 1)


def distributions_figure(groups: dict[bool, tuple], *, reward: str, title: str | None = None):
    """Histograms (as densities) of R(original) and R(rewritten rewrite) for W=1 and W=0, each mean a
    vertical line, each panel on its own x axis. Both texts went through the same rewriter only in
    the second case, so a gap between the means is the rewriting's own effect on the reward, which
    RATE is built to cancel.

    `groups` maps W to (rewards of the originals, rewards of the rewritten rewrites)."""
    import numpy as np
    from matplotlib.colors import to_rgba
    from matplotlib.legend_handler import HandlerTuple
    from matplotlib.ticker import MaxNLocator

    shown = [(w, groups[w]) for w in (True, False) if w in groups and len(groups[w][0])]
    with _style():
        figure = _figure(2.7)
        axes = figure.subplots(1, max(len(shown), 1), squeeze=False)[0]
        legend = {}
        for axis, (w, (original, back)) in zip(axes, shown):
            # Bins of the panel's own rewards: the two W groups may lie far apart on the reward scale.
            bins = _bins(np.concatenate([original, back]))
            _, _, (filled,) = axis.hist(original, bins=bins, density=True, histtype="stepfilled",
                                        facecolor=to_rgba(ORIGINAL_COLOR, 0.18), edgecolor=ORIGINAL_COLOR,
                                        linewidth=1.3, label="R(original)")
            # Dashed over solid: where the two histograms coincide, both still show.
            _, _, (dashed,) = axis.hist(back, bins=bins, density=True, histtype="step", color=COLORS["RATE"],
                                        linewidth=1.3, linestyle=(0, (3, 1.5)), label="R(rewritten rewrite)")
            # Thicker and longer-dashed than the outlines, so that a mean is not read as a bin's edge.
            means = [axis.axvline(np.mean(values), color=color, linewidth=2, gid=f"mean {name}", linestyle=dash,
                                  label=f"mean R({name})")
                     for values, name, color, dash in ((original, ORIGINAL, ORIGINAL_COLOR, "-"),
                                                       (back, REWRITTEN_REWRITE, COLORS["RATE"], (0, (5, 2))))]
            legend = legend or {"R(original)": filled, "R(rewritten rewrite)": dashed, "means": tuple(means)}
            shift = float(np.mean(back) - np.mean(original))
            axis.set_title(f"W = {int(w)}  (n = {len(original)}; mean change {shift:+.3g})", fontweight="bold")
            if np.array_equal(np.histogram(original, bins)[0], np.histogram(back, bins)[0]):
                axis.text(0.02, 0.97, "the two histograms coincide", transform=axis.transAxes, ha="left", va="top",
                          fontsize=7, color="#555555", gid="coincide")
                axis.set_ylim(top=axis.get_ylim()[1] * 1.15)
            axis.grid(axis="x", alpha=0.3)
            axis.xaxis.set_major_locator(MaxNLocator(7))
            axis.set_xlabel(f"reward ({plain(reward)})")
        if not shown:
            axes[0].text(0.5, 0.5, "no example has both rewards", ha="center", va="center", transform=axes[0].transAxes)
        axes[0].set_ylabel("density")
        if title:
            figure.suptitle(f"Reward before and after rewriting twice: {plain(title)}")
        if legend:
            figure.legend(list(legend.values()), list(legend), loc="outside lower center", ncols=len(legend),
                          frameon=False, handler_map={tuple: HandlerTuple(ndivide=None, pad=0.6)})
    return figure


def _swept_ticks(axis, xs: list[float], panels: int) -> None:
    """A tick at every swept value and nowhere else, labelled where the labels do not crowd: a label
    is skipped when it would stand closer to the last one shown than their widths allow."""
    span = (xs[-1] - xs[0]) or 1.0
    texts = [f"{x:g}" for x in xs]
    # The panel's width and a label's, in points: 8 pt digits are about 5 pt wide, plus a gap.
    room = (WIDTH * 72 - 70) / panels
    needed = (max(len(text) for text in texts) * 5.1 + 6) / room * span
    labels, last = [], None
    for x, text in zip(xs, texts):
        keep = last is None or x - last >= needed
        labels.append(text if keep else "")
        last = x if keep else last
    axis.set_xticks(xs, labels)


def sweep_figure(points: list[tuple[float, list[dict]]], *, parameter: str, raw: bool, alpha: float,
                 title: str | None = None, reward: str | None = None, smoke: bool = False):
    """Each estimator's estimate and CI against a parameter that varies between runs (one panel per
    estimand), with the ground truth as a dashed line where the runs know it. The estimators at one
    value stand side by side, within DODGE of the smallest gap of it, and the x ticks are exactly the
    swept values.

    `points` pairs each run's parameter value with its rows; `smoke` marks the title as a smoke run's."""
    from matplotlib.legend_handler import HandlerTuple

    keys = value_keys(raw)
    estimate_key, _, _, truth_key = keys
    points = sorted(points, key=lambda point: point[0])
    estimands = [e for e in ESTIMANDS if any(r["estimand"] == e for _, rows in points for r in rows)] or ["ATE"]
    xs = sorted({x for x, _ in points})
    step = min((b - a for a, b in zip(xs, xs[1:])), default=1.0) or 1.0
    with _style():
        figure = _figure(2.9)
        axes = figure.subplots(1, len(estimands), sharex=True, sharey=True, squeeze=False)[0]
        legend = {}
        for axis, estimand in zip(axes, estimands):
            found = {estimator: [(x, r) for x, rows in points for r in rows if r["estimator"] == estimator
                                 and r["estimand"] == estimand and r.get(estimate_key) is not None]
                     for estimator in ESTIMATORS}
            present = [estimator for estimator in ESTIMATORS if found[estimator]]
            for place, estimator in enumerate(present):
                offset = (place - (len(present) - 1) / 2) * DODGE * step
                x = [value + offset for value, _ in found[estimator]]
                y, low, high = zip(*(interval(r, keys) for _, r in found[estimator]))
                (line,) = axis.plot(x, y, color=COLORS[estimator], linewidth=1, zorder=TRUTH_Z - 0.2)
                bars = axis.errorbar(x, y, yerr=[[v - lo for v, lo in zip(y, low)], [hi - v for v, hi in zip(y, high)]],
                                     fmt=MARKERS[estimator], color=COLORS[estimator], markersize=4, capsize=2.5,
                                     elinewidth=1.2, zorder=ESTIMATE_Z, label=estimator)
                legend.setdefault(estimator, (line, bars))
            truth = [(x, next((r[truth_key] for r in rows
                               if r["estimand"] == estimand and r.get(truth_key) is not None), None)) for x, rows in points]
            truth = [(x, t) for x, t in truth if t is not None]
            if truth:
                # Over the lines that join an estimator's points, under the estimates and their intervals.
                (line,) = axis.plot([x for x, _ in truth], [t for _, t in truth], zorder=TRUTH_Z, gid="truth",
                                    label="ground truth", **TRUTH_STYLE)
                legend.setdefault("ground truth", line)
            axis.set_title(estimand, fontweight="bold")
            axis.grid(alpha=0.3)
        _swept_ticks(axes[0], xs, len(axes))
        axes[0].set_ylabel(axis_label(raw, reward))
        axes[len(axes) // 2].set_xlabel(plain(parameter))
        if title or smoke:
            figure.suptitle(smoke_title(title, smoke), color=WARNING_COLOR if smoke else "black")
        names = [name for name in (*ESTIMATORS, "ground truth") if name in legend]
        if names:
            figure.legend([legend[name] for name in names], names, loc="outside lower center", ncols=len(names),
                          frameon=False, handler_map={tuple: HandlerTuple(ndivide=1)},
                          title=f"error bars: {100 * (1 - alpha):g}% CI", title_fontsize=8)
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
