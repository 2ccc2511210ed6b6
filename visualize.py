"""Phase 4 of RATE: plot the estimates with their confidence intervals, and the truth when known.

One PNG with a panel per estimand (ATE, ATT, ATU): each estimator's estimate with its confidence
interval, in reward units, and a dashed line at the true effect for simulated data. It then prints the
effects table and every file of the run, followed back through the `.meta.json` sidecars.

Usage:
    python visualize.py --config config.yaml [--visualize.effects_filename=latest]

Writes PROJECT_DIR/plots/<dataset>_<model>[_smoke_test]_estimates_<YYYYmmdd_HHMMSS>.png and its
.meta.json sidecar.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import utils
from treatment_effects import format_table

logger = logging.getLogger(__name__)

ESTIMANDS = ("ATE", "ATT", "ATU")
COLORS = {"naive": "#999999", "single rewrite": "#d55e00", "RATE": "#0072b2"}


def plot_estimates(effects: dict, title: str, path: Path, dpi: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = effects["estimates"]
    estimators = list(dict.fromkeys(row["estimator"] for row in rows))
    truth = effects.get("ground_truth") or {}
    figure, axes = plt.subplots(1, len(ESTIMANDS), figsize=(10, 2.8), sharey=True)
    for axis, estimand in zip(axes, ESTIMANDS):
        for position, estimator in enumerate(estimators):
            row = next((r for r in rows if r["estimator"] == estimator and r["estimand"] == estimand), None)
            if row is None:
                continue
            axis.errorbar(row["estimate"], position, xerr=[[row["estimate"] - row["ci_low"]], [row["ci_high"] - row["estimate"]]],
                          fmt="o", color=COLORS.get(estimator, "black"), capsize=4)
        if estimand in truth:
            axis.axvline(truth[estimand], color="black", linestyle="--", linewidth=1, label="truth")
            axis.legend(loc="lower right", fontsize=8, frameon=False)
        axis.set_title(estimand)
        axis.set_xlabel("effect on reward")
        axis.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(range(len(estimators)), estimators)
    axes[0].set_ylim(-0.6, len(estimators) - 0.4)
    level = 100 * (1 - effects.get("alpha", 0.05))
    figure.suptitle(f"{title}  (bars: {level:g}% CI)", fontsize=10)
    figure.tight_layout()

    def write(handle):
        figure.savefig(handle, format="png", dpi=dpi)

    utils.atomic_write(path, write, mode="wb")
    plt.close(figure)


def lineage(path: Path) -> list[Path]:
    """The file, then its inputs, then theirs: the chain recorded in the sidecars."""
    chain, queue = [], [Path(path)]
    while queue:
        current = queue.pop(0)
        if current in chain:
            continue
        chain.append(current)
        meta = utils.read_meta(current)
        queue.extend(Path(item["path"]) for item in (meta or {}).get("inputs", []))
    return chain


def main(argv: list[str] | None = None) -> None:
    utils.setup_logging()
    utils.load_env()
    started = utils.now()
    cfg = utils.config_from_argv(argv, __doc__)
    utils.log_config(cfg)
    section = cfg["visualize"]

    dataset = utils.dataset_key(cfg, "visualize")
    score = section["score"] or cfg["effects"]["score"] or cfg["scoring"]["model"]
    source = utils.resolve_input("effects", f"{dataset}_{utils.slug(score)}_treatment_effects", cfg.smoke,
                                 section["effects_filename"], "visualize.effects_filename", cfg)
    effects = json.loads(source.read_text())
    if "estimates" not in effects:
        raise utils.RateError(f"{source}: no 'estimates' table; rerun treatment_effects.py to produce one")

    output = utils.new_output_path("plots", f"{dataset}_{utils.slug(score)}_estimates", cfg.smoke, "png")
    plot_estimates(effects, f"{dataset}, reward {effects.get('reward_key', score)}", output, section["dpi"])
    utils.write_meta(output, script="visualize.py", cfg=cfg, started_at=started, inputs=[source],
                     counts={"n1": effects.get("Y1_count"), "n0": effects.get("Y0_count")})
    logger.info("wrote %s", output)

    print(format_table(effects["estimates"], effects.get("alpha", 0.05)))
    print("\nfiles of this run (each with a .meta.json sidecar):")
    for path in lineage(output):
        print(f"  {path}")


if __name__ == "__main__":
    sys.exit(utils.run_cli(main))
