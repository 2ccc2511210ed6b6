"""What a reader of each figure must be able to see, checked on the drawn matplotlib artists: every
interval visible at any scale, the truth behind the estimates, a legend of exactly what is drawn,
n beside each estimate, a smoke run marked; distributions on their own axes, both histograms visible
when they coincide; sweep points at the values swept."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from matplotlib.colors import to_rgba
from matplotlib.lines import Line2D
from matplotlib.offsetbox import DrawingArea, HPacker, TextArea
from matplotlib.patches import Patch

from reporting import figures
from reporting import forest
import utils
# The effects files, with the sidecars each phase writes, that test_visualize.py builds.
from conftest import REPO
from test_visualize import png_size, run_visualize, write_run

CAPS = ("|", "_")


def forest_rows(width: float = 0.4, n1: int = 40, n0: int = 60) -> list[dict]:
    """Every estimator x estimand, RATE on the truth, each interval `width` wide (effect sizes)."""
    rows = []
    for place, estimator in enumerate(figures.ESTIMATORS):
        for estimand, truth in zip(figures.ESTIMANDS, (1.0, 1.2, 0.8)):
            value = truth + (2 - place) * 0.5
            rows.append({"estimator": estimator, "estimand": estimand, "norm_estimate": value,
                         "norm_ci_low": value - width / 2, "norm_ci_high": value + width / 2, "norm_truth": truth,
                         "n1": n1, "n0": n0})
    return rows


def legend_entries(legend) -> list[tuple[str, list]]:
    """(label, the artists its handle draws) per entry of a legend."""
    entries = []
    for packer in [a for a in legend.get_children()[0].findobj(HPacker)]:
        boxes = packer.get_children()
        if len(boxes) == 2 and isinstance(boxes[0], DrawingArea) and isinstance(boxes[1], TextArea):
            entries.append((boxes[1].get_children()[0].get_text(), boxes[0].get_children()))
    return entries


def dashes(artist) -> tuple:
    """The dashes as drawn. A legend's copy of a patch reports get_linestyle() 'solid' while it draws
    the dashes it copied, so the pattern itself is compared."""
    offset, pattern = artist._dash_pattern
    return (round(offset, 2), tuple(round(p, 2) for p in pattern) if pattern else None)


def look(artist):
    """What a reader tells one mark by: a marker's shape, colour and size, a line's colour, dashes and
    width, a patch's fill, edge and dashes."""
    if isinstance(artist, Line2D):
        marker = artist.get_marker()
        if marker not in (None, "", "None", "none") and marker not in CAPS:
            return ("marker", marker, to_rgba(artist.get_color()), round(artist.get_markersize(), 2))
        if artist.get_linestyle() not in ("None", "none", ""):
            return ("line", to_rgba(artist.get_color()), dashes(artist), round(artist.get_linewidth(), 2))
        return None
    if isinstance(artist, Patch):
        return ("patch", to_rgba(artist.get_facecolor()), to_rgba(artist.get_edgecolor()), dashes(artist))
    return None


def drawn_looks(figure) -> set:
    """The look of every line, marker and patch drawn in the figure's panels (insets included)."""
    axes = [a for axis in figure.axes for a in (axis, *axis.child_axes)]
    return {look(artist) for axis in axes for artist in (*axis.lines, *axis.patches)} - {None}


def legend_looks(figure) -> dict[str, set]:
    return {label: {look(a) for a in artists} - {None} for legend in figure.legends
            for label, artists in legend_entries(legend)}


def points_wide(axis, figure, low: float, high: float) -> float:
    figure.canvas.draw()
    left, right = axis.get_xlim()
    return (high - low) / (right - left) * axis.bbox.width * 72 / figure.dpi


# ---------------------------------------------------------------------------------------------
# The forest plot
# ---------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_forest_every_interval_is_wider_than_its_marker_or_enlarged_in_an_inset():
    # RATE's intervals 1/500 of the others': far narrower than any marker at this scale
    rows = [dict(r) for r in forest_rows()]
    for row in rows:
        if row["estimator"] == "RATE":
            row["norm_ci_low"], row["norm_ci_high"] = row["norm_estimate"] - 4e-4, row["norm_estimate"] + 4e-4
    figure = forest.forest_figure([("toy", rows)], raw=False, alpha=0.05)
    figure.canvas.draw()
    for axis in figure.axes:
        for container in axis.containers:
            marker = container.lines[0]
            x, y = float(marker.get_xdata()[0]), float(marker.get_ydata()[0])
            (segment,) = container.lines[2][0].get_segments()
            low, high = segment[0][0], segment[1][0]
            if points_wide(axis, figure, low, high) > marker.get_markersize():
                continue
            # the inset in this row enlarges exactly this estimate until it is wider than its marker
            insets = [inset for inset in axis.child_axes if inset.get_gid() == "zoom"
                      and inset.containers and float(inset.containers[0].lines[0].get_xdata()[0]) == x]
            assert len(insets) == 1, f"{axis.get_title()} row {y}: an interval narrower than its marker, no inset"
            (inset,) = insets
            assert points_wide(inset, figure, low, high) > 3 * marker.get_markersize()
            assert [t.get_text()[0] for t in inset.texts] == ["×"], "the inset says how much it enlarges"
            row_top, row_bottom = axis.transData.transform([(x, y - 0.5), (x, y + 0.5)])[:, 1]
            box = inset.get_window_extent()
            assert min(row_top, row_bottom) <= box.y0 < box.y1 <= max(row_top, row_bottom), "the inset leaves its row"
            # beside its estimate, and clear of the truth line it would otherwise cut
            for mark in (x, *(line.get_xdata()[0] for line in axis.lines if line.get_gid() == "truth")):
                assert not box.x0 <= axis.transData.transform((mark, y))[0] <= box.x1
    assert sum(len(axis.child_axes) for axis in figure.axes) == 3  # RATE's, in each panel, and no other
    # the demo's scale: every interval wider than its marker, so no inset at all
    plain = forest.forest_figure([("toy", forest_rows())], raw=False, alpha=0.05)
    plain.canvas.draw()
    assert not any(axis.child_axes for axis in plain.axes)


def test_an_enlargement_is_written_short_enough_for_its_inset():
    assert [forest._times(x) for x in (250.4, 4100, 9999, 37_000, 2.5e6, 4e7)] == [
        "×250", "×4,100", "×9,999", "×37k", "×2,500k", "×40M"]


def test_forest_draws_the_truth_behind_every_estimate():
    figure = forest.forest_figure([("toy", forest_rows())], raw=False, alpha=0.05)
    for axis in figure.axes:
        truth = [line for line in axis.lines if line.get_gid() == "truth"]
        assert truth
        estimates = [artist for container in axis.containers for artist in container.get_children()]
        assert max(line.get_zorder() for line in truth) < min(artist.get_zorder() for artist in estimates)


def test_forest_legend_shows_what_is_drawn_and_nothing_else():
    figure = forest.forest_figure([("toy", forest_rows())], raw=False, alpha=0.05)
    drawn, shown = drawn_looks(figure), legend_looks(figure)
    assert set(shown) == {"estimate, 95% CI", "ground truth"}
    for label, looks in shown.items():
        assert looks and looks <= drawn, f"the legend's {label!r} is not what the plot draws"
    # each estimator's own marker, as drawn, is in the one estimate entry
    assert {look[1] for look in shown["estimate, 95% CI"] if look[0] == "marker"} == {"s", "D", "o"}
    # no truth known: no truth in the legend
    unknown = [{**row, "norm_truth": None} for row in forest_rows()]
    assert set(legend_looks(forest.forest_figure([("toy", unknown)], raw=False, alpha=0.05))) == {"estimate, 95% CI"}
    # an inset drawn: the legend says what it is
    narrow = [{**row, "norm_ci_low": row["norm_estimate"] - 1e-4, "norm_ci_high": row["norm_estimate"] + 1e-4}
              for row in forest_rows()]
    assert "narrow interval enlarged ×k" in legend_looks(forest.forest_figure([("toy", narrow)], raw=False, alpha=0.05))


def test_forest_shows_the_examples_behind_each_estimate():
    figure = forest.forest_figure([("toy", forest_rows(n1=40, n0=60))], raw=False, alpha=0.05)
    expected = {"ATE": [100, 100, 100], "ATT": [100, 40, 40], "ATU": [100, 60, 60]}  # naive, single rewrite, RATE
    for axis in figure.axes:
        shown = sorted((t.xy[1], t.get_text()) for t in axis.texts if t.get_gid() == "n")
        estimates = sorted(float(c.lines[0].get_ydata()[0]) for c in axis.containers)
        assert [y for y, _ in shown] == estimates, "one n on each estimate's row"
        assert [int(text) for _, text in shown] == expected[axis.get_title()]
    # thousands are grouped, and a file without counts shows none
    big = forest.forest_figure([("toy", forest_rows(n1=12000, n0=3000))], raw=False, alpha=0.05)
    assert "15,000" in [t.get_text() for t in big.axes[0].texts]
    bare = [{k: v for k, v in row.items() if k not in ("n1", "n0")} for row in forest_rows()]
    assert not [t for axis in forest.forest_figure([("t", bare)], raw=False, alpha=0.05).axes for t in axis.texts]


@pytest.mark.slow
def test_a_smoke_run_is_marked_in_the_title():
    def titles(figure) -> list[str]:
        found = [figure.get_suptitle()]
        return found + [legend.get_title().get_text() for legend in figure.legends]

    assert not any("SMOKE" in t for t in titles(forest.forest_figure([("toy", forest_rows())], raw=False, alpha=0.05)))
    smoke = titles(forest.forest_figure([("toy", forest_rows())], raw=False, alpha=0.05, smoke=True))
    assert any(t.startswith("SMOKE TEST") and "toy" in t for t in smoke)
    # with a headline of warnings the title is the headline's, and still says it
    warned = titles(forest.forest_figure([("toy", forest_rows())], raw=False, alpha=0.05, smoke=True,
                                         warnings=["low efficacy"]))
    assert any(t.startswith("SMOKE TEST") for t in warned)
    # several files have no title of their own; a smoke run gets one
    several = titles(forest.forest_figure([("a", forest_rows()), ("b", forest_rows())], raw=False, alpha=0.05,
                                          smoke=True))
    assert any(t.startswith("SMOKE TEST") for t in several)
    sweep = figures.sweep_figure(sweep_points([0, 1]), parameter="p", raw=True, alpha=0.05, title="t", smoke=True)
    assert sweep.get_suptitle().startswith("SMOKE TEST")


def red_share(path: Path) -> float:
    """The share of a PNG's pixels in the warning red, the colour of a smoke run's title."""
    from matplotlib.colors import to_rgb
    from matplotlib.image import imread

    pixels = imread(str(path))[..., :3]
    return float((np.abs(pixels - np.array(to_rgb(figures.WARNING_COLOR))).max(axis=-1) < 0.12).mean())


@pytest.mark.slow
def test_the_forest_plot_of_a_smoke_run_says_so_in_its_title(project_dir, capsys):
    full = write_run(project_dir, 1)
    run_visualize(capsys, f"--visualize.effects_filename={full}", "--visualize.dpi=50")
    (plain,) = (project_dir / "plots").glob("*_estimates_*.png")
    assert red_share(plain) == 0, "no warning, no smoke: nothing in red"
    # a smoke run's effects file, plotted by a full visualize run: its sidecar says smoke_test
    smoke = write_run(project_dir, 2)
    meta = utils.read_meta(smoke)
    meta["config"]["smoke_test"] = True
    utils.meta_path(smoke).write_text(json.dumps(meta))
    run_visualize(capsys, f"--visualize.effects_filename={smoke}", "--visualize.dpi=50")
    (marked,) = set((project_dir / "plots").glob("*_estimates_*.png")) - {plain}
    assert red_share(marked) > 0.0005
    # a smoke visualize run (make smoke) marks its figure whatever the file says
    run_visualize(capsys, f"--visualize.effects_filename={full}", "--visualize.dpi=50", "--smoke_test=true")
    (own,) = (project_dir / "plots").glob("*_estimates_smoke_test_*.png")
    assert red_share(own) > 0.0005


# ---------------------------------------------------------------------------------------------
# Score distributions
# ---------------------------------------------------------------------------------------------


def test_distributions_have_their_own_x_axes_and_every_line_in_the_legend():
    rng = np.random.default_rng(0)
    high, low = rng.normal(10, 0.2, 200), rng.normal(-5, 0.2, 200)
    figure = figures.distributions_figure({True: (high, high + 0.1), False: (low, low - 0.1)}, reward="rm")
    one, zero = figure.axes
    # each panel spans its own rewards, not the other group's too
    assert 9 < one.get_xlim()[0] and one.get_xlim()[1] < 11.5
    assert -6.5 < zero.get_xlim()[0] and zero.get_xlim()[1] < -3.5
    assert [axis.get_xlabel() for axis in figure.axes] == ["reward (rm)"] * 2
    drawn, shown = drawn_looks(figure), legend_looks(figure)
    assert set(shown) == {"R(original)", "R(rewritten rewrite)", "means"}
    for label, looks in shown.items():
        assert looks and looks <= drawn, f"the legend's {label!r} is not what the plot draws"
    for axis in figure.axes:
        for line in axis.lines:  # the means, solid and dashed, each in the legend as drawn
            assert look(line) in shown["means"], line.get_gid()


def test_identical_histograms_both_show():
    same = np.linspace(0, 1, 50)
    figure = figures.distributions_figure({True: (same, same.copy())}, reward="rm")
    (axis,) = figure.axes
    original, back = [patch for patch in axis.patches if patch.get_label() in ("R(original)", "R(rewritten rewrite)")]
    # the same outline twice, told apart: one filled and solid, the other dashed over it
    assert dashes(original)[1] is None and dashes(back)[1] is not None
    assert to_rgba(original.get_facecolor())[3] > 0 and to_rgba(back.get_edgecolor()) != to_rgba(original.get_edgecolor())
    assert back.get_zorder() >= original.get_zorder()
    assert [t.get_text() for t in axis.texts if t.get_gid() == "coincide"] == ["the two histograms coincide"]
    apart = figures.distributions_figure({True: (same, same + 0.3)}, reward="rm")
    assert not [t for t in apart.axes[0].texts if t.get_gid() == "coincide"]


# ---------------------------------------------------------------------------------------------
# The sweep plot
# ---------------------------------------------------------------------------------------------


def sweep_points(values) -> list[tuple[float, list[dict]]]:
    points = []
    for x in values:
        rows = [{"estimator": estimator, "estimand": estimand, "estimate": 1.0 + x, "ci_low": 0.9 + x,
                 "ci_high": 1.1 + x, "truth": 1.0 + x}
                for estimator in figures.ESTIMATORS for estimand in figures.ESTIMANDS
                if estimator != "naive" or estimand == "ATE"]  # naive has ATE only, as in the experiments
        points.append((float(x), rows))
    return points


def test_sweep_points_stay_at_the_values_swept():
    values = [0.0, 0.05, 0.1, 0.3]  # uneven: the smallest gap, 0.05, bounds the dodge
    figure = figures.sweep_figure(sweep_points(values), parameter="p", raw=True, alpha=0.05)
    figure.canvas.draw()
    for axis in figure.axes:
        gap = axis.transData.transform([(0.05, 0), (0.1, 0)])
        gap = gap[1][0] - gap[0][0]
        for container in axis.containers:
            line = container.lines[0]
            shown = line.get_transform().transform(line.get_xydata())[:, 0]
            true = axis.transData.transform([(x, 0) for x in values])[:, 0]
            assert np.all(np.abs(shown - true) <= 0.1 * gap), "an estimate is drawn away from its swept value"
        # the estimators at a value are told apart, not drawn on one another
        xs = [float(c.lines[0].get_xdata()[0]) for c in axis.containers]
        assert len(set(xs)) == len(xs)
        (truth,) = [line for line in axis.lines if line.get_gid() == "truth"]
        assert list(truth.get_xdata()) == values
    # the ticks are the swept values, and nothing else
    assert list(figure.axes[0].get_xticks()) == values
    assert [t.get_text() for t in figure.axes[0].get_xticklabels()][-1] == "0.3"


@pytest.mark.slow
def test_sweep_labels_do_not_crowd_but_every_value_has_its_tick():
    values = list(range(21))
    figure = figures.sweep_figure(sweep_points(values), parameter="p", raw=True, alpha=0.05)
    figure.canvas.draw()
    axis = figure.axes[0]
    assert list(axis.get_xticks()) == values
    shown = [t for t in axis.get_xticklabels() if t.get_text()]
    assert shown[0].get_text() == "0" and 3 <= len(shown) < len(values)
    renderer = figure.canvas.get_renderer()
    boxes = [t.get_window_extent(renderer) for t in shown]
    assert all(a.x1 < b.x0 for a, b in zip(boxes, boxes[1:])), "tick labels overlap"


def test_sweep_legend_shows_what_is_drawn():
    figure = figures.sweep_figure(sweep_points([0, 1, 2]), parameter="p", raw=True, alpha=0.05)
    drawn, shown = drawn_looks(figure), legend_looks(figure)
    assert set(shown) == {"naive", "single rewrite", "RATE", "ground truth"}
    for label, looks in shown.items():
        assert looks and looks <= drawn, f"the legend's {label!r} is not what the plot draws"
    assert figure.legends[0].get_title().get_text() == "error bars: 95% CI"
    for axis in figure.axes:
        truth = [line for line in axis.lines if line.get_gid() == "truth"]
        estimates = [artist for container in axis.containers for artist in container.get_children()]
        assert max(line.get_zorder() for line in truth) < min(artist.get_zorder() for artist in estimates)


@pytest.mark.parametrize("values", [[0.5], [2.0, 2.0]])
def test_a_sweep_of_one_value_still_draws(values):
    figure = figures.sweep_figure(sweep_points(values), parameter="p", raw=True, alpha=0.05)
    figure.canvas.draw()
    assert list(figure.axes[0].get_xticks()) == sorted(set(values))


def test_gallery_images_are_small_paper_width_pngs():
    gallery = sorted((REPO / "docs/gallery").glob("*.png"))
    assert {p.name for p in gallery} >= {"forest_plot.png", "forest_plot_two_runs.png", "score_distributions.png",
                                         "sweep_typos.png"}
    for path in gallery:
        assert path.stat().st_size < 150_000, f"{path.name} is {path.stat().st_size} bytes"
        assert png_size(path)[0] == round(figures.WIDTH * 150), path.name
