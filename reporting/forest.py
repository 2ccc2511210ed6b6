"""The forest plot: each estimator's estimate and confidence interval, one panel per estimand, a row
per estimator and a block of rows per effects file, the ground truth marked where it is known.

An interval must be readable at any scale: the markers are small, the interval's end caps stand
taller than the marker, and an interval narrower than its marker is drawn again, enlarged, in an
inset in its own row."""

from __future__ import annotations

from reporting.figure_style import (COLORS, ESTIMANDS, ESTIMATE_Z, ESTIMATORS, MARKERS, TRUTH_STYLE, TRUTH_Z,
                                    WARNING_COLOR, axis_label, headline, interval, new_figure, plain, smoke_title,
                                    style, value_keys)

# Sizes in points: the marker's width, and the half height of the caps at the interval's ends.
MARKER_SIZE = 4.5
CAP_SIZE = 3.5
ROW_HEIGHT = 0.3  # inches per row of the plot
MARK = {"markersize": MARKER_SIZE, "capsize": CAP_SIZE, "elinewidth": 1.4, "capthick": 1.4}
# The inset of a narrow interval: its share of the panel's width (the first that fits), and the
# margins either side of the interval as multiples of its width, the wider one holding the label (the
# interval fills a quarter).
INSET_WIDTHS = (0.45, 0.36, 0.28)
INSET_MARGIN = 0.9
INSET_LABEL_MARGIN = 2.1
INSET_EDGE = "#999999"


def sample_size(row: dict) -> int | None:
    """The examples behind one estimate. The naive difference of group means uses both W groups for
    each estimand; a rewrite estimator's ATT averages over the W=1 examples only, its ATU over the
    W=0 examples (estimation/results.py counts their clusters the same way)."""
    n1, n0 = row.get("n1"), row.get("n0")
    if n1 is None or n0 is None:
        return None
    if row["estimator"] == "naive":
        return n1 + n0
    return {"ATT": n1, "ATU": n0}.get(row["estimand"], n1 + n0)


def _draw_estimate(axis, row: dict, keys, y: float, label: str | None = None):
    value, low, high = interval(row, keys)
    name = row["estimator"]
    return axis.errorbar(value, y, xerr=[[value - low], [high - value]], fmt=MARKERS[name], color=COLORS[name],
                         zorder=ESTIMATE_Z, label=label, **MARK)


def _layout(figure):
    """Where the panels land: constrained layout runs now, so that a data width is known in points."""
    figure.get_layout_engine().execute(figure)


def _zoom(axis, row: dict, keys, slot: int, rows: int, truth: float | None):
    """An inset in the estimate's row, beside the estimate, showing the interval wide enough to read,
    the truth too where it falls inside, and by how much it is enlarged."""
    value, low, high = interval(row, keys)
    left, right = axis.get_xlim()
    x0, width = _inset_place((value - left) / (right - left),
                             None if truth is None else (truth - left) / (right - left))
    on_left = value < left + x0 * (right - left)  # the estimate is left of its inset
    centre = (rows - 0.5 - slot) / rows  # the row's middle in axes units; the y axis runs downwards
    inset = axis.inset_axes([x0, centre - 0.42 / rows, width, 0.84 / rows], zorder=5)
    # The wider margin, on the side towards the estimate, holds the enlargement's label.
    near, far = INSET_MARGIN * (high - low), INSET_LABEL_MARGIN * (high - low)
    inset.set_xlim((low - far, high + near) if on_left else (low - near, high + far))
    inset.set_ylim(-1, 1)
    _draw_estimate(inset, row, keys, 0.0)
    if truth is not None and inset.get_xlim()[0] < truth < inset.get_xlim()[1]:
        inset.axvline(truth, zorder=TRUTH_Z, gid="truth", **TRUTH_STYLE)
    inset.set_xticks([])
    inset.set_yticks([])
    inset.set_gid("zoom")
    for spine in inset.spines.values():
        spine.set_visible(True)
        spine.set_color(INSET_EDGE)
        spine.set_linewidth(0.6)
    enlarged = (right - left) / (high - low + near + far)
    inset.text(0.03 if on_left else 0.97, 0.5, _times(enlarged), transform=inset.transAxes, fontsize=6.5,
               color="#555555", ha="left" if on_left else "right", va="center")
    return inset


def _inset_place(estimate: float, truth: float | None) -> tuple[float, float]:
    """Where in its row (axes units) an inset starts, and how wide it is: clear of the estimate it
    enlarges and, where the row has room, of the truth line it would otherwise cut (a narrower inset
    before a cut truth); as far from the estimate as that allows, so the two do not read as one mark."""
    def clear(start: float, width: float, mark: float, gap: float) -> bool:
        return not start - gap < mark < start + width + gap

    # Roomy first; then as close as the estimate's marker (about 0.015 of a panel) allows.
    for avoid_truth in (True, False):
        for width in INSET_WIDTHS:
            starts = [0.02 + i * (0.96 - width) / 40 for i in range(41)]
            for gap in (0.06, 0.015):
                fits = [x for x in starts if clear(x, width, estimate, gap)
                        and (not avoid_truth or truth is None or clear(x, width, truth, 0.02))]
                if fits:
                    return max(fits, key=lambda x: abs(x + width / 2 - estimate)), width
    width = INSET_WIDTHS[-1]
    return (0.02 if estimate > 0.5 else 0.98 - width), width


def _times(factor: float) -> str:
    """An enlargement short enough for the inset's margin: ×250, ×4,100, ×37k, ×40M."""
    for unit, scale in (("M", 1e6), ("k", 1e3)):
        if factor >= 10 * scale:
            return f"×{factor / scale:,.0f}{unit}"
    return f"×{factor:,.0f}"


def _narrow(axis, figure, low: float, high: float) -> bool:
    """Whether an interval is narrower than the marker drawn on it, at the panel's size on paper."""
    left, right = axis.get_xlim()
    points = (high - low) / (right - left) * axis.bbox.width * 72 / figure.dpi
    # A point of slack: an interval just the marker's width still hides its ends under the caps' lines.
    return high > low and points < MARKER_SIZE + 1


def forest_figure(groups: list[tuple[str, list[dict]]], *, raw: bool, alpha: float, title: str | None = None,
                  reward: str | None = None, warnings: list[str] = (), smoke: bool = False):
    """One panel per estimand; down each panel, a block of estimators per effects file; above each
    estimate its number of examples.

    `groups` pairs a label (e.g. 'imdb_length, ArmoRM') with that file's rows, which carry the keys
    `value_keys(raw)` names. With one group its label goes in the title instead of the axis.
    `warnings` are printed as a headline above the panels; `smoke` marks the title as a smoke run's."""
    from matplotlib.ticker import MaxNLocator

    keys = value_keys(raw)
    estimate_key, _, _, truth_key = keys
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

    with style():
        wrapped = sum(len(warning) // 110 + 1 for warning in warnings)
        figure = new_figure(1.0 + ROW_HEIGHT * len(slots) + (0.25 + 0.14 * wrapped if warnings else 0))
        heading = title or (groups[0][0] if not multi else None)
        if warnings:
            headline(figure, list(warnings), heading, smoke)
        axes = figure.subplots(1, len(estimands), sharex=True, sharey=True, squeeze=False)[0]
        truths: dict[tuple[str, int], float] = {}
        legend: dict[str, object] = {}
        drawn = []  # (axis, row, slot, the truth of its file)
        span = []
        for axis, estimand in zip(axes, estimands):
            for index, (_, rows) in enumerate(groups):
                truth = next((r.get(truth_key) for r in rows if r["estimand"] == estimand
                              and r.get(truth_key) is not None), None)
                ys = [slot for i, slot, _ in placed if i == index]
                if truth is None or not ys:
                    continue
                # The truth belongs to one file, so its mark spans only that file's block.
                (line,) = axis.plot([truth, truth], [min(ys) - 0.45, max(ys) + 0.45], gid="truth", zorder=TRUTH_Z,
                                    label="ground truth", **TRUTH_STYLE)
                legend.setdefault("ground truth", line)
                truths[(estimand, index)] = truth
                span.append(truth)
            for index, slot, estimator in placed:
                row = next((r for r in groups[index][1] if r["estimator"] == estimator and r["estimand"] == estimand), None)
                if row is None or row.get(estimate_key) is None:
                    continue
                legend.setdefault(estimator, _draw_estimate(axis, row, keys, slot, label=estimator))
                drawn.append((axis, row, slot, truths.get((estimand, index))))
                value, low, high = interval(row, keys)
                n = sample_size(row)
                if n is not None:
                    # A column right of the panel, clear of every estimate, truth and inset in it.
                    axis.annotate(f"{n:,}", (1, slot), xycoords=("axes fraction", "data"), xytext=(4, 0),
                                  textcoords="offset points", ha="left", va="center", fontsize=7, color="#555555",
                                  gid="n")
                span += [low, high]
            axis.set_title(estimand, fontweight="bold")
            if any(sample_size(row) is not None for drawn_on, row, _, _ in drawn if drawn_on is axis):
                axis.annotate("n", (1, -0.5), xycoords=("axes fraction", "data"), xytext=(4, 2),
                              textcoords="offset points", ha="left", va="bottom", fontsize=7, color="#555555",
                              fontstyle="italic", gid="n header")
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
        # Panels a third of the width wide get two ticks from the default locator; a scale needs more.
        axes[0].xaxis.set_major_locator(MaxNLocator(5, steps=[1, 2, 2.5, 5, 10]))
        # One x label, under the middle panel: a figure-level label would collide with the legend below.
        axes[len(axes) // 2].set_xlabel(axis_label(raw, reward))
        if (heading or smoke) and not warnings:
            figure.suptitle(smoke_title(heading, smoke), color=WARNING_COLOR if smoke else "black")
        # Narrow is judged on the panels' widths on paper, known once the layout has run. The legend
        # names the insets, so it comes after them; below the panels, it changes their height only.
        _layout(figure)
        zoomed = [_zoom(axis, row, keys, slot, len(slots), truth) for axis, row, slot, truth in drawn
                  if _narrow(axis, figure, *interval(row, keys)[1:])]
        _legend(figure, legend, alpha, bool(zoomed))
    return figure


def _legend(figure, drawn: dict, alpha: float, zoomed: bool) -> None:
    """Below the panels, from the artists drawn: every estimator's marker and interval in one entry
    (the rows name them), the truth, and the inset of a narrow interval when there is one."""
    from matplotlib.legend_handler import HandlerPatch, HandlerTuple
    from matplotlib.patches import Rectangle

    def small_box(legend, orig_handle, xdescent, ydescent, width, height, fontsize):
        # An inset's frame in its proportions, not the legend's long handle, beside its label.
        return Rectangle((width - 3 * height - xdescent, -ydescent - 0.2 * height), 3 * height, 1.4 * height)

    estimates = tuple(drawn[name] for name in ESTIMATORS if name in drawn)
    entries = [(estimates, f"estimate, {100 * (1 - alpha):g}% CI")] if estimates else []
    if "ground truth" in drawn:
        entries.append((drawn["ground truth"], "ground truth"))
    if zoomed:
        entries.append((Rectangle((0, 0), 1, 1, facecolor="white", edgecolor=INSET_EDGE, linewidth=0.6),
                        "narrow interval enlarged ×k"))
    if entries:
        figure.legend(*zip(*entries), loc="outside lower center", ncols=len(entries), frameon=False,
                      handler_map={tuple: HandlerTuple(ndivide=None, pad=0.8), Rectangle: HandlerPatch(small_box)},
                      handlelength=2.2 * max(len(estimates), 1))
