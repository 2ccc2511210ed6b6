"""The report's "Robustness" section of one effects file: how RATE's conclusion moves with an asymmetric
rewriter (the sensitivity analysis and its figure), the placebo check, what the off-target asymmetry
diagnostic does and does not show, the clusters, and the multiplicity adjustment.
The numbers are treatment_effects.py's (estimation/sensitivity.py, estimation/contrasts.py)."""

from __future__ import annotations

from pathlib import Path

from reporting import figures
from reporting.render import Column, Table, interval, number
from reporting.report import Run

ESTIMANDS = ("ATE", "ATT", "ATU")


def sensitivity_figure(sensitivity: dict, rows: list[dict], *, alpha: float, reward: str | None = None,
                       title: str | None = None):
    """RATE's estimate and interval, corrected for each off-target asymmetry Delta (one panel per
    estimand): lines fall with slope -1, and the breakdown Delta is where the band's edge meets 0."""
    import numpy as np

    rate = {row["estimand"]: row for row in rows if row["estimator"] == "RATE" and row.get("ci_low") is not None}
    estimands = [e for e in ESTIMANDS if e in rate] or ["ATE"]
    deltas = sensitivity.get("deltas") or [0.0]
    span = np.linspace(min(min(deltas), 0.0), max(max(deltas), 0.0), 200)
    with figures._style():
        figure = figures._figure(2.7)
        axes = figure.subplots(1, len(estimands), sharex=True, sharey=True, squeeze=False)[0]
        for axis, estimand in zip(axes, estimands):
            row = rate.get(estimand)
            axis.axhline(0, color="black", linewidth=0.8)
            axis.set_title(estimand, fontweight="bold")
            axis.grid(alpha=0.3)
            if row is None:
                continue
            color = figures.COLORS["RATE"]
            axis.fill_between(span, row["ci_low"] - span, row["ci_high"] - span, color=color, alpha=0.2, linewidth=0)
            axis.plot(span, row["estimate"] - span, color=color, linewidth=1.2)
            axis.plot(deltas, [row["estimate"] - d for d in deltas], "o", color=color, markersize=3)
            breakdown = row.get("breakdown_delta")
            if breakdown:
                axis.axvline(breakdown, color=figures.WARNING_COLOR, linestyle=(0, (3, 2)), linewidth=1)
                axis.annotate(f"breakdown\nΔ = {breakdown:+.3g}", (breakdown, 0), xytext=(4, 6),
                              textcoords="offset points", fontsize=7.5, color=figures.WARNING_COLOR)
        axes[0].set_ylabel(f"RATE corrected for Δ ({figures.plain(reward)})" if reward else "RATE corrected for Δ")
        axes[len(axes) // 2].set_xlabel("Δ: off-target reward added by Re(·, 1) minus by Re(·, 0)")
        level = f"{100 * (1 - alpha):g}%"
        figure.suptitle(figures.plain(title or "Sensitivity to an asymmetric rewriter") + f" (band: {level} CI)")
    return figure


def sensitivity_plot(sensitivity: dict, rows: list[dict], png: Path, *, dpi: int, **options) -> list[Path]:
    with figures._style():
        return figures._save(sensitivity_figure(sensitivity, rows, **options), png, dpi)


def blocks(run: Run, figure: Path | None) -> list[tuple]:
    effects = run.effects
    out: list[tuple] = []
    sensitivity = effects.get("sensitivity")
    if sensitivity:
        rate = [row for row in run.rows if row["estimator"] == "RATE"]
        out.append(("p", "RATE is unbiased only if the rewriter's off-target changes are the same in both directions. "
                         "If they differ by Δ (reward units), every RATE estimate is shifted by exactly +Δ; Δ is not "
                         "identified by the data. The breakdown Δ is the smallest asymmetry that would bring the "
                         "interval to 0: a finding is fragile when a rewriter could plausibly be that asymmetric."))
        out.append(("table", Table(["estimand", Column("estimate", "estimate"), Column("CI", "interval"),
                                    Column("breakdown Δ", "estimate"),
                                    Column("breakdown Δ / reward_std", "effect size")],
                                   [[row["estimand"], row["estimate"], (row["ci_low"], row["ci_high"]),
                                     row.get("breakdown_delta"), row.get("norm_breakdown_delta")] for row in rate])))
        shifted = (sensitivity.get("shifted") or {}).get("ATE")
        if shifted:
            out.append(("table", Table([Column("Δ", "estimate"), Column("RATE ATE corrected", "estimate"),
                                        Column("CI", "interval"), "the interval"],
                                       [[s["delta"], s["estimate"], (s["ci_low"], s["ci_high"]), s["side"]]
                                        for s in shifted])))
        if figure is not None:
            out.append(("image", figure, "RATE corrected for an off-target asymmetry Δ; the band is the interval."))
    placebo = effects.get("placebo")
    if placebo:
        out.append(("p", f"The placebo check: {placebo['line']}. {placebo['meaning']}."))
    else:
        out.append(("p", "No placebo check: set effects.placebo_reward_key to a reward that ignores W, scored with "
                         "the model (scoring.placebo)."))
    asymmetry = (effects.get("diagnostics") or {}).get("off_target_asymmetry")
    if asymmetry and asymmetry.get("estimate") is not None:
        out.append(("p", f"Off-target asymmetry diagnostic: {number(asymmetry['estimate'])} "
                         f"{interval(asymmetry['ci_low'], asymmetry['ci_high'])}, "
                         f"{'significant' if asymmetry.get('significant') else 'not significant'}. It estimates Δ minus "
                         "the difference between the W groups' originals in what the rewriter overwrites: it can fire "
                         "with no bias and stay silent with bias, so its silence certifies nothing."))
    clusters = effects.get("clusters") or {}
    if clusters.get("clustered"):
        out.append(("p", f"Clusters: {clusters['clusters']} clusters (largest {clusters['largest']}), formed by "
                         f"{clusters.get('rule', 'the records')}; SEs are CR1 cluster-robust with G - 1 degrees of "
                         "freedom (se_iid beside them assumes independent examples)."))
    elif clusters:
        out.append(("p", f"Clusters: none formed (rule: {clusters.get('rule', 'every example its own cluster')}); "
                         "every example is taken as independent, and the SEs are iid."))
    if effects.get("multiplicity"):
        out.append(("p", f"Multiplicity: {effects['multiplicity']}."))
    return out
