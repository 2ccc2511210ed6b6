"""A sweep point over its replicates: each estimator's bias, RMSE and 95 % CI coverage against the
oracle truth, and RATE's diagnostics. Pure numpy: no I/O."""

from __future__ import annotations

import numpy as np

ESTIMATORS = ("naive", "single rewrite", "RATE")
ESTIMANDS = ("ATE", "ATT", "ATU")
COLUMNS = ("value", "estimator", "estimand", "replicates", "mean_estimate", "mean_truth", "bias", "bias_mc_se",
           "rmse", "coverage", "sample_truth_coverage", "mean_ci_low", "mean_ci_high", "predicted_bias", "mean_breakdown_delta",
           "asymmetry_fires", "mean_asymmetry", "efficacy")


def summarise(value, replicates: list[dict], bias_per_unit: float | None) -> list[dict]:
    """One row per estimator x estimand that every replicate estimated.

    The truth is the population effect, estimated by the mean over the replicates of each one's oracle
    sample effect (each replicate is a fresh corpus and sample). bias = mean estimate - truth, with its
    Monte Carlo SE (sd of the estimates / sqrt(replicates)); RMSE about the truth; coverage = the share
    of replicates whose interval holds the truth. Every interval estimates the population effect; its
    coverage of each replicate's own sample effect (`sample_truth_coverage`, in the CSV) is lower for
    an estimator whose error is independent of that sample's deviation (RATE), higher for one that
    shares it (the single rewrite, through R(original)). predicted_bias (RATE rows, with
    bias_per_unit) is bias_per_unit x value, the additive bias of an asymmetric rewriter."""
    rows = []
    fires = [r["asymmetry"]["significant"] for r in replicates if r.get("asymmetry")]
    asymmetry = [r["asymmetry"]["estimate"] for r in replicates if r.get("asymmetry")]
    efficacy = [min(r["efficacy"].values()) for r in replicates if r.get("efficacy")]
    for estimator in ESTIMATORS:
        for estimand in ESTIMANDS:
            if estimator == "naive" and estimand != "ATE":
                continue  # naive's one comparison, repeated under ATT and ATU
            found = [next((row for row in r["rows"] if (row["estimator"], row["estimand"]) == (estimator, estimand)),
                          None) for r in replicates]
            if any(row is None or row["truth"] is None or row["ci_low"] is None for row in found):
                continue
            estimate = np.array([row["estimate"] for row in found])
            samples = np.array([row["truth"] for row in found])
            truth = float(samples.mean())
            error = estimate - truth
            low, high = np.array([row["ci_low"] for row in found]), np.array([row["ci_high"] for row in found])
            breakdown = [row.get("breakdown_delta") for row in found if row.get("breakdown_delta") is not None]
            rows.append({
                "value": value, "estimator": estimator, "estimand": estimand, "replicates": len(found),
                "mean_estimate": float(estimate.mean()), "mean_truth": truth,
                "bias": float(error.mean()),
                "bias_mc_se": float(error.std(ddof=1) / np.sqrt(len(error))) if len(error) > 1 else None,
                "rmse": float(np.sqrt(np.mean(np.square(error)))),
                "coverage": float(np.mean((low <= truth) & (truth <= high))),
                "sample_truth_coverage": float(np.mean((low <= samples) & (samples <= high))),
                "mean_ci_low": float(low.mean()), "mean_ci_high": float(high.mean()),
                "predicted_bias": bias_per_unit * float(value) if bias_per_unit is not None and estimator == "RATE" else None,
                "mean_breakdown_delta": float(np.mean(breakdown)) if breakdown else None,
                "asymmetry_fires": float(np.mean(fires)) if fires and estimator == "RATE" else None,
                "mean_asymmetry": float(np.mean(asymmetry)) if asymmetry and estimator == "RATE" else None,
                "efficacy": float(np.mean(efficacy)) if efficacy else None,
            })
    return rows


def as_figure_rows(rows: list[dict]) -> list[dict]:
    """The rows in the shape of reporting.figures.sweep_figure (raw keys): the mean estimate, the mean
    interval of one replicate, and the mean truth."""
    return [{"estimator": r["estimator"], "estimand": r["estimand"], "estimate": r["mean_estimate"],
             "ci_low": r["mean_ci_low"], "ci_high": r["mean_ci_high"], "truth": r["mean_truth"]} for r in rows]
