"""One point of a sweep, one replicate: the four phases' work on one config, in this process.

`make experiments` runs hundreds of (sweep value, seed) points; four processes each would spend most
of the time starting Python. So a point uses the packages the phases use, in the order they use them:
the dataset template samples the examples (dataset_templates._sampling), phase 1's own two-pass
rewrite makes their records with the `simulated` rewriter (dataset_templates._rewrites), the scoring
template scores every text, and estimation.results.estimate computes every estimator on the arrays.
tests/test_experiments.py checks that a point's records are create_dataset.py's on the same config,
and its estimates the four scripts'.
"""

from __future__ import annotations

import logging

import numpy as np

import utils
from dataset_templates import _rewrites, _sampling
from estimation import results as effects_results
from rewriters import simulated
from utils.record import COMPLETIONS, ORACLE, REWRITE, REWRITES, REWRITTEN_REWRITE


def records(cfg: utils.Config) -> tuple[list[dict], object]:
    """Phase 1's records of one config without a judge, and the dataset template that made them."""
    section = cfg["rewrites"]
    template = utils.build_from_module("dataset_templates", section["dataset_name"], "rewrites.dataset_name",
                                       "rewrites.template_options", cfg)
    if section["backend"] != "simulated" or template.simulate_rewrite is None:
        raise utils.RateError(f"{cfg.source('rewrites.backend')}: make experiments runs the simulated rewriter on a "
                              f"template that defines it; run other rewriters through the four scripts")
    examples, _ = _sampling.classify_rows(template)
    # as create_dataset.py samples a full run
    chosen = _sampling.sample(examples, section["n_examples"] or template.n_examples, section["seed"], need_both_w=False)
    options = utils.merge_options(section["backend_options"], simulated.OPTIONS, "rewrites.backend_options",
                                  cfg.sources, simulated.CHECKS)
    backend = simulated.build(options, template, "simulated", 0.0, section["seed"])
    return _rewrites.make_records(chosen, template, backend), template


def run_point(cfg: utils.Config) -> dict:
    """Every estimator's rows, the diagnostics and the rewrites' efficacy for one config."""
    made, template = records(cfg)
    # as treatment_effects.py drops an example whose rewrite failed
    kept = [record for record in made if not record.get("failures")]
    names = [*COMPLETIONS, ORACLE] if template.oracle_counterfactual is not None else list(COMPLETIONS)
    texts = {name: [record["completions"][name] for record in kept] for name in names}
    model = reward_model(cfg)
    questions = [record["reward_question"] for record in kept]
    rewards = {name: np.asarray(model.score_batch(questions, batch), dtype=float) for name, batch in texts.items()}
    w = np.array([record["w_original"] for record in kept], dtype=bool)
    results = effects_results.estimate({"w": w, **rewards}, cfg["effects"]["alpha"],
                                       deltas=cfg["effects"]["sensitivity_deltas"])
    # the W each rewrite was asked for: the opposite of the original's, then the original's again
    asked = {REWRITE: [not record["w_original"] for record in kept],
             REWRITTEN_REWRITE: [record["w_original"] for record in kept]}
    flipped = {name: np.mean([template.classify_text(text) is target for text, target in zip(texts[name], asked[name])])
               for name in REWRITES} if template.classify_text else {}
    return {"rows": results["estimates"], "asymmetry": results["diagnostics"].get("off_target_asymmetry"),
            "reward_std": results["reward_std"], "efficacy": flipped, "n": len(kept)}


_MODELS: dict = {}


def reward_model(cfg: utils.Config):
    """The scoring template's model, built once per process for each (template, options): loading
    VADER and the spelling dictionary is a large share of a point's time, and every point of a sweep
    asks for the same model."""
    key = (cfg["scoring"]["model"], repr(sorted(cfg["scoring"]["model_options"].items())))
    if key not in _MODELS:
        _MODELS[key] = utils.build_from_module("scoring_templates", cfg["scoring"]["model"], "scoring.model",
                                               "scoring.model_options", cfg)
    return _MODELS[key]


def quiet() -> None:
    """A sweep logs its own progress; the estimators' per-run warnings (the asymmetry, the
    undefined estimands) are summed up in its tables instead."""
    for name in ("estimation", "dataset_templates", "rewriters", "scoring_templates", "utils"):
        logging.getLogger(name).setLevel(logging.ERROR)
