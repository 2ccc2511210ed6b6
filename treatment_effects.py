"""Phase 3 of RATE: estimate the effect of the attribute W on the reward, three ways.

  naive           mean R(y | W=1) - mean R(y | W=0)                       (confounded)
  single rewrite  ATT = mean_{W=1} R(y) - R(Re(y,0)),  ATU = mean_{W=0} R(Re(y,1)) - R(y)
  RATE            ATT = mean_{W=1} R(Re(Re(y,0),1)) - R(Re(y,0)),
                  ATU = mean_{W=0} R(Re(y,1)) - R(Re(Re(y,1),0))
  and for both rewrite estimators ATE = (n1*ATT + n0*ATU) / n.

When the records carry rewards of the oracle counterfactual (simulated data), the true sample ATE,
ATT and ATU are reported beside the estimates.

Usage:
    python treatment_effects.py --config config.yaml [--effects.reward_key=vader]

Reads the latest scored file (or `effects.dataset_filename`), writes
PROJECT_DIR/effects/<dataset>_<model>[_smoke_test]_treatment_effects_<YYYYmmdd_HHMMSS>.json and its
.meta.json sidecar, and prints the effects table.
"""

from __future__ import annotations

import logging
import math
import sys
from collections import Counter
from statistics import NormalDist

import numpy as np

import utils

logger = logging.getLogger(__name__)

ORACLE = "oracle counterfactual"
ESTIMATORS = ("naive", "single_rewrite", "rewritten_rewrite")
LABELS = {"naive": "naive", "single_rewrite": "single rewrite", "rewritten_rewrite": "RATE"}


def find_reward_key(records: list[dict], wanted: str | None, original_key: str, path) -> str:
    """The configured reward key, or the only reward dict the records carry."""
    keys = {k for r in records for k, v in r.items() if isinstance(v, dict) and k != "completions"
            and original_key in v}
    if wanted:
        if wanted not in keys:
            raise utils.RateError(f"{path}: no rewards under effects.reward_key '{wanted}' (found: {sorted(keys)})")
        return wanted
    if len(keys) != 1:
        raise utils.RateError(f"{path}: set effects.reward_key, the file holds rewards under {sorted(keys) or 'no key'}")
    return keys.pop()


def reward_arrays(records: list[dict], reward_key: str, keys: dict[str, str]) -> tuple[dict, Counter]:
    """Arrays of W and of each reward, over the examples that have every reward finite. Dropped
    examples are counted by reason, never silently."""
    dropped: Counter = Counter()
    kept: dict[str, list] = {"w": [], **{name: [] for name in keys}}
    for record in records:
        w = record.get("w_original")
        rewards = record.get(reward_key) or {}
        if not isinstance(w, bool):
            dropped["W unknown"] += 1
            continue
        if record.get("failures"):
            dropped["failed rewrite"] += 1
            continue
        values = {name: rewards.get(key) for name, key in keys.items()}
        missing = [keys[n] for n, v in values.items() if not isinstance(v, (int, float)) or not math.isfinite(v)]
        if missing:
            dropped[f"no finite reward for {', '.join(missing)}"] += 1
            continue
        kept["w"].append(w)
        for name, value in values.items():
            kept[name].append(float(value))
    return {name: np.asarray(values, dtype=bool if name == "w" else float) for name, values in kept.items()}, dropped


def paired_effects(w: np.ndarray, diff: np.ndarray) -> dict:
    """ATT, ATU and ATE of per-example differences `diff` (already oriented as do(1) - do(0)), each with
    the paired standard error sd(diff)/sqrt(n) of its own group. The ATE is the mean over all n,
    which equals (n1*ATT + n0*ATU)/n."""

    def mean_se(values: np.ndarray) -> tuple[float, float]:
        if len(values) == 0:
            return float("nan"), float("nan")
        se = float(np.std(values, ddof=1) / np.sqrt(len(values))) if len(values) > 1 else float("nan")
        return float(np.mean(values)), se

    return {"ATT": mean_se(diff[w]), "ATU": mean_se(diff[~w]), "ATE": mean_se(diff)}


def estimate(arrays: dict, alpha: float) -> dict:
    """All estimators in the original RATE code's keys, plus a tidy `estimates` table with normal
    (1 - alpha) confidence intervals."""
    w, original, rewrite, back = arrays["w"], arrays["original"], arrays["rewrite"], arrays["rewritten rewrite"]
    n1, n0 = int(w.sum()), int((~w).sum())
    if n1 < 2 or n0 < 2:
        raise utils.RateError(f"need at least 2 examples in each W group to estimate effects, have n1={n1}, n0={n0}")
    s1, s0 = np.var(original[w], ddof=1), np.var(original[~w], ddof=1)
    results = {
        "naive_effect": float(original[w].mean() - original[~w].mean()),
        "naive_effect_stderr": float(np.sqrt(s1 / n1 + s0 / n0)),
    }
    diffs = {
        "single_rewrite": np.where(w, original - rewrite, rewrite - original),
        "rewritten_rewrite": np.where(w, back - rewrite, rewrite - back),
    }
    for name, diff in diffs.items():
        for estimand, (value, se) in paired_effects(w, diff).items():
            results[f"{estimand}_{name}"] = value
            results[f"{estimand}_{name}_stderr"] = se
    results["reward_std"] = float(np.sqrt(((n1 - 1) * s1 + (n0 - 1) * s0) / (n1 + n0 - 2)))
    results["Y1_count"], results["Y0_count"] = n1, n0
    if ORACLE in arrays:
        truth = paired_effects(w, np.where(w, original - arrays[ORACLE], arrays[ORACLE] - original))
        results["ground_truth"] = {estimand: value for estimand, (value, _) in truth.items()}
    results["alpha"] = alpha
    results["estimates"] = table_rows(results, alpha)
    return results


def table_rows(results: dict, alpha: float) -> list[dict]:
    z = NormalDist().inv_cdf(1 - alpha / 2)
    truth = results.get("ground_truth", {})
    rows = []
    for name in ESTIMATORS:
        for estimand in ("ATE",) if name == "naive" else ("ATE", "ATT", "ATU"):
            key = "naive_effect" if name == "naive" else f"{estimand}_{name}"
            value, se = results[key], results[f"{key}_stderr"]
            rows.append({"estimator": LABELS[name], "estimand": estimand, "estimate": value, "se": se,
                         "ci_low": value - z * se, "ci_high": value + z * se, "truth": truth.get(estimand)})
    return rows


def format_table(rows: list[dict], alpha: float) -> str:
    level = f"{100 * (1 - alpha):g}% CI"
    lines = [f"| estimator | estimand | estimate | SE | {level} | truth |", "|---|---|---:|---:|---|---:|"]
    for row in rows:
        truth = "" if row.get("truth") is None else f"{row['truth']:+.4f}"
        lines.append(f"| {row['estimator']} | {row['estimand']} | {row['estimate']:+.4f} | {row['se']:.4f} | "
                     f"[{row['ci_low']:+.4f}, {row['ci_high']:+.4f}] | {truth} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    utils.setup_logging()
    utils.load_env()
    started = utils.now()
    cfg = utils.config_from_argv(argv, __doc__)
    utils.log_config(cfg)
    section = cfg["effects"]
    if not 0 < section["alpha"] < 1:
        raise utils.RateError(f"{cfg.source('effects.alpha')}: effects.alpha must be in (0, 1)")

    dataset = utils.dataset_key(cfg, "effects")
    score = section["score"] or cfg["scoring"]["model"]
    folder = section["dataset_folder"]
    base = f"{dataset}_{utils.slug(score)}_scored" if folder == "scored" else f"{dataset}_dataset"
    source = utils.resolve_input(folder, base, cfg.smoke, section["dataset_filename"], "effects.dataset_filename", cfg)
    records = utils.read_records(source)
    reward_key = find_reward_key(records, section["reward_key"], section["w_original_key"], source)

    keys = {"original": section["w_original_key"], "rewrite": section["w_counterfactual_key"],
            "rewritten rewrite": section["w_rewritten_rewrite_key"]}
    has_oracle = bool(records) and all(ORACLE in (r.get(reward_key) or {}) for r in records)
    if has_oracle:
        keys[ORACLE] = ORACLE
    arrays, dropped = reward_arrays(records, reward_key, keys)
    logger.info("%d of %d examples usable; dropped: %s", len(arrays["w"]), len(records), dict(dropped) or "none")
    results = estimate(arrays, section["alpha"])
    results.update({"dataset_name": dataset, "score": score, "reward_key": reward_key, "input_file": str(source),
                    "examples_read": len(records), "dropped": dict(dropped),
                    **{k: v for k, v in section.items() if k not in ("dataset_name", "score", "reward_key")}})

    output = utils.new_output_path("effects", f"{dataset}_{utils.slug(score)}_treatment_effects", cfg.smoke, "json")
    utils.write_json(output, results)
    utils.write_meta(output, script="treatment_effects.py", cfg=cfg, started_at=started, inputs=[source],
                     templates={"reward_key": reward_key},
                     counts={"examples_read": len(records), "examples_used": len(arrays["w"]), "n1": results["Y1_count"],
                             "n0": results["Y0_count"], "dropped": dict(dropped)})
    logger.info("wrote %s", output)
    print(format_table(results["estimates"], section["alpha"]))
    print(output)


if __name__ == "__main__":
    sys.exit(utils.run_cli(main))
