"""Run-level comparisons of treatment_effects.py: multiplicity-adjusted p-values across the run's
family, paired contrasts between reward models scored on the same examples, and a pooled estimate
across files. Pure numpy: no I/O.

Families. Every row of one estimator (naive, single rewrite, RATE) in the run, over its files,
reward keys and estimands, is one family (naive's one comparison, repeated under ATE, ATT and ATU,
counts once); the contrasts are another, the pooled estimates a third. A placebo reward's rows are a
check, not a finding, and belong to no family. Holm controls the family-wise error rate under any
dependence (the rows share examples); Benjamini-Hochberg the false discovery rate, under independence
or positive dependence.

Paired contrasts. Two reward models scored on the same examples are compared on those examples: the
difference of their RATE effects, with the SE of the per-example difference of their contributions
(estimation/robust.py), CR1 over clusters when there are any. Combining the two reported SEs as if
independent ignores that both models saw the same rewrites, and is far too wide (the rewrites' noise
is shared). The contrast is given in raw units (meaningful when both rewards share a scale) and as a
difference of effect sizes (each divided by its own reward_std, delta method), which is the one to
read for models on different scales.
"""

from __future__ import annotations

import math

import numpy as np

from estimation import multiplicity
from estimation import robust
from estimation import stats as es
from utils.record import COMPLETIONS

CONTRAST = "RATE contrast"
POOLED = "RATE pooled"
FAMILIES = ("p_holm and p_bh adjust each row's p within its family: every row of one estimator (naive, single "
            "rewrite, RATE) over the run's files, reward keys and estimands; the run's RATE contrasts; its pooled "
            "estimates. Placebo rows are checks and belong to no family")


def adjust(rows: list[dict]) -> None:
    """Set p_holm and p_bh on every row, within its family (above). Rows with `family: None` are left out."""
    families: dict = {}
    for row in rows:
        if row.get("family", row["estimator"]) is not None:
            families.setdefault(row.get("family", row["estimator"]), []).append(row)
    for members in families.values():
        # naive repeats one comparison under ATE, ATT and ATU: one test, counted once
        tests = list(dict.fromkeys((row["estimate"], row["se"], row["p"]) for row in members))
        p = [test[2] for test in tests]
        adjusted = dict(zip(tests, zip(multiplicity.holm(p), multiplicity.benjamini_hochberg(p))))
        for row in members:
            row["p_holm"], row["p_bh"] = adjusted[(row["estimate"], row["se"], row["p"])]


def paired(first: dict, second: dict, alpha: float) -> list[dict]:
    """RATE(first) - RATE(second) for ATE, ATT and ATU on the examples both hold (matched by id). Each
    argument: the arrays of estimation.results.analyse with `labels` (cluster labels or None)."""
    position = {identifier: i for i, identifier in enumerate(second["ids"])}
    common = [(i, position[identifier]) for i, identifier in enumerate(first["ids"]) if identifier in position]
    if len(common) < 4:
        return []
    a, b = (np.array([pair[k] for pair in common]) for k in (0, 1))
    w = first["w"][a]
    if not np.array_equal(w, second["w"][b]):
        return []  # the same ids with other W: not the same examples
    labels = first.get("labels")
    clusters = robust.from_labels(np.asarray(labels)[a]) if labels is not None else robust.singletons(len(a))
    contributions, thetas, taus = [], [], []
    for arrays, index in ((first, a), (second, b)):
        y, r, rr = (arrays[k][index] for k in COMPLETIONS)
        d = es.oriented(w, rr, r)
        sd, psi_sd = robust.sd_influence(y, w)
        influence = es.influences(w, {"RATE": d})
        taus.append({k: float(np.mean(d[mask])) for k, mask in (("ATE", np.ones_like(w)), ("ATT", w), ("ATU", ~w))})
        thetas.append({k: taus[-1][k] / float(sd) for k in taus[-1]})
        contributions.append({k: (influence[("RATE", k)][0], influence[("RATE", k)][0] / sd - thetas[-1][k] * psi_sd / sd,
                                  influence[("RATE", k)][1]) for k in taus[-1]})
    rows = []
    n1, n0 = int(w.sum()), int((~w).sum())
    for estimand in es.ESTIMANDS:
        if {"ATT": n1, "ATU": n0, "ATE": min(n1, n0)}[estimand] < 2:
            continue  # as estimation.results.undefined_estimands
        mask = contributions[0][estimand][2]
        raw_var, count = robust.cr1(contributions[0][estimand][0] - contributions[1][estimand][0], clusters, mask)
        norm_var = robust.cross(*(contributions[0][estimand][1] - contributions[1][estimand][1],) * 2, clusters)
        df = float(count) - 1
        estimate = taus[0][estimand] - taus[1][estimand]
        norm_estimate = thetas[0][estimand] - thetas[1][estimand]
        se, norm_se = math.sqrt(float(raw_var)), math.sqrt(float(norm_var))
        low, high, p = (float(v) for v in es.t_interval(es.Effect(estimate, se, df), alpha))
        norm_low, norm_high, _ = (float(v) for v in es.t_interval(es.Effect(norm_estimate, norm_se, df), alpha))
        rows.append({"estimator": CONTRAST, "estimand": estimand, "estimate": estimate, "se": se, "ci_low": low,
                     "ci_high": high, "p": p, "n1": n1, "n0": n0,
                     "norm_estimate": norm_estimate, "norm_se": norm_se, "norm_ci_low": norm_low,
                     "norm_ci_high": norm_high, "clusters": None if labels is None else int(count),
                     "family": CONTRAST})
    return rows


def pooled(rows: list[dict], alpha: float) -> list[dict]:
    """The inverse-variance pooled RATE estimate of each estimand over rows from different files (of
    one reward key), in raw units and as effect sizes, with Cochran's Q and I^2 (estimation/multiplicity.py)."""
    out = []
    for estimand in es.ESTIMANDS:
        found = [row for row in rows if row["estimand"] == estimand and row["se"] and row["estimate"] is not None]
        if len(found) < 2:
            continue
        raw = multiplicity.pool_inverse_variance([r["estimate"] for r in found], [r["se"] for r in found], alpha)
        row = {"estimator": POOLED, "estimand": estimand, "estimate": raw["estimate"], "se": raw["se"],
               "ci_low": raw["ci_low"], "ci_high": raw["ci_high"], "p": raw["p"],
               "n1": sum(r["n1"] for r in found), "n0": sum(r["n0"] for r in found), "family": POOLED,
               "heterogeneity": {"files": raw["k"], "q": raw["q"], "q_p": raw["q_p"], "i2": raw["i2"],
                                 "random_effects": raw["random_effects"]}}
        if all(r.get("norm_se") for r in found):
            norm = multiplicity.pool_inverse_variance([r["norm_estimate"] for r in found],
                                                      [r["norm_se"] for r in found], alpha)
            row.update(norm_estimate=norm["estimate"], norm_se=norm["se"], norm_ci_low=norm["ci_low"],
                       norm_ci_high=norm["ci_high"])
        out.append(row)
    return out


def same_examples(first, second) -> bool:
    """Two analyses hold the same examples when they read one file, or files scored from one rewrites file."""
    if first.input.source == second.input.source:
        return True
    origin = [(a.input.rewrites or {}).get("output") for a in (first, second)]
    return origin[0] is not None and origin[0] == origin[1]


def run_level(analyses: list, section: dict) -> tuple[list[dict], list[str]]:
    """Over the run's analyses (phases/treatment_effects.Analysis), the contrast rows (every pair of
    reward keys on the same examples) and, with effects.pool, the pooled rows (every reward key held by two or more files), each with dataset and reward_key; and
    the lines printed under the table."""
    alpha, rows, notes = section["alpha"], [], []
    for i, first in enumerate(analyses):
        for second in analyses[i + 1:]:
            if first.reward_key == second.reward_key or not same_examples(first, second):
                continue
            label = first.label if first.label == second.label else f"{first.label} vs {second.label}"
            for row in paired(first.arrays, second.arrays, alpha):
                rows.append({"dataset": label, "reward_key": f"{first.reward_key} - {second.reward_key}", **row})
    if section["pool"]:
        for key in dict.fromkeys(a.reward_key for a in analyses):
            members = [a for a in analyses if a.reward_key == key]
            if len(members) < 2:
                notes.append(f"effects.pool: reward '{key}' is in one file only; nothing to pool")
                continue
            found = [row for a in members for row in a.results["estimates"] if row["estimator"] == "RATE"]
            for row in pooled(found, alpha):
                rows.append({"dataset": f"pooled over {len(members)} files", "reward_key": key, **row})
                het = row["heterogeneity"]
                notes.append(f"pooled RATE {row['estimand']} of '{key}' over {het['files']} files: I^2 = {het['i2']:.2f}, "
                             f"Cochran's Q = {het['q']:.3g} (p = {het['q_p']:.3g})" + (
                                 "; the files do not share one effect: read the random-effects estimate "
                                 f"{het['random_effects']['estimate']:+.4f} [{het['random_effects']['ci_low']:+.4f}, "
                                 f"{het['random_effects']['ci_high']:+.4f}]" if het["i2"] > 0.5 else ""))
    return rows, notes
