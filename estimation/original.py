"""Effects files of the original RATE code: the table of estimates, rebuilt from their keys.

An original effects JSON holds `naive_effect`, `{ATE,ATT,ATU}_single_rewrite`,
`{ATE,ATT,ATU}_rewritten_rewrite` (RATE), each with `_stderr`, and `reward_std`, `Y1_count`,
`Y0_count`, but no table and no intervals. `rows` makes the `estimates` rows visualize.py draws, with
Student-t intervals on the file's own SEs: n1 − 1 df for ATT, n0 − 1 for ATU, n − 1 for ATE, as this
project computes them, and n − 2 for naive, where this project uses Welch's df, which needs the group
standard deviations the original file does not keep. Its RATE SEs are the original's unpaired ones,
wider than the paired SE where a pair's rewards are positively correlated (docs/effects.md, "RATE (the paper's Algorithm 1)").
"""

from __future__ import annotations

import math

from estimation import stats as es

KEYS = {("naive", "ATE"): "naive_effect", **{(estimator, estimand): f"{estimand}_{suffix}" for estimator, suffix in (
    ("single rewrite", "single_rewrite"), ("RATE", "rewritten_rewrite")) for estimand in es.ESTIMANDS}}
CI_METHOD = ("rebuilt from an original RATE effects file: Student t on its standard errors (ATT n1 - 1 df, ATU "
             "n0 - 1, ATE n - 1, naive n - 2, the file keeping no group SDs for Welch's df); its RATE SEs are the "
             "original's unpaired ones")


def is_original(effects: dict) -> bool:
    return "estimates" not in effects and "naive_effect" in effects and "ATE_rewritten_rewrite" in effects


def rows(effects: dict, alpha: float) -> list[dict]:
    """One row per estimator x estimand the file holds, in this project's row keys."""
    n1, n0 = int(effects.get("Y1_count") or 0), int(effects.get("Y0_count") or 0)
    df = {"ATT": n1 - 1, "ATU": n0 - 1, "ATE": n1 + n0 - 1}
    std = effects.get("reward_std")
    out = []
    for estimator in es.ESTIMATORS:
        for estimand in es.ESTIMANDS:
            key = KEYS.get((estimator, estimand))
            estimate, se = effects.get(key), effects.get(f"{key}_stderr")
            if estimate is None or se is None:
                continue
            freedom = n1 + n0 - 2 if estimator == "naive" else df[estimand]
            low, high, p = (float(v) for v in es.t_interval(es.Effect(estimate, se, max(freedom, 1)), alpha))
            scale = std if isinstance(std, (int, float)) and std > 0 else None
            out.append({"estimator": estimator, "estimand": estimand, "estimate": estimate, "se": se, "ci_low": low,
                        "ci_high": high, "p": p if math.isfinite(p) else None, "n1": n1, "n0": n0,
                        **{f"norm_{k}": (v / scale if scale else None) for k, v in
                           (("estimate", estimate), ("se", se), ("ci_low", low), ("ci_high", high))},
                        "truth": None, "norm_truth": None})
    return out
