"""One point of a sweep, one replicate: the four phases' work on one config, in this process.

`make experiments` runs hundreds of (sweep value, seed) points; four processes each would spend most
of the time starting Python. So a point uses the packages the phases use, in the order they use them:
the dataset template samples the examples (dataset_templates._sampling), the `simulated` rewriter
rewrites them twice with the same random streams as create_dataset.py (rewriters.simulated, request
ids `<id>:rewrite` and `<id>:rewritten rewrite`), the scoring template scores every text, and
estimation.results.estimate computes every estimator on the arrays. tests/test_experiments.py checks
that a point gives the same estimates as the four scripts run on the same config.
"""

from __future__ import annotations

import logging

import numpy as np

import utils
from dataset_templates import _sampling
from estimation import results as effects_results
from rewriters import RewriteRequest
from rewriters import simulated

REWRITE, REWRITTEN_REWRITE = "rewrite", "rewritten rewrite"


def rewrite_twice(examples, template, backend) -> tuple[dict, dict]:
    first = [RewriteRequest(f"{ex.id}:{REWRITE}", template.prompt_for(ex.original, not ex.w), ex.original, not ex.w)
             for ex in examples]
    once = backend.rewrite(first)
    second = [RewriteRequest(f"{ex.id}:{REWRITTEN_REWRITE}", template.prompt_for(once[r.custom_id].text, ex.w),
                             once[r.custom_id].text, ex.w) for ex, r in zip(examples, first)]
    return once, backend.rewrite(second)


def run_point(cfg: utils.Config) -> dict:
    """Every estimator's rows, the diagnostics and the rewrites' efficacy for one config."""
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
    once, twice = rewrite_twice(chosen, template, backend)
    texts = {"original": [ex.original for ex in chosen],
             "rewrite": [once[f"{ex.id}:{REWRITE}"].text for ex in chosen],
             "rewritten rewrite": [twice[f"{ex.id}:{REWRITTEN_REWRITE}"].text for ex in chosen],
             utils.ORACLE: [template.oracle_counterfactual(ex.original, not ex.w) for ex in chosen]}
    model = reward_model(cfg)
    questions = [ex.question for ex in chosen]
    rewards = {name: np.asarray(model.score_batch(questions, batch), dtype=float) for name, batch in texts.items()}
    w = np.array([ex.w for ex in chosen], dtype=bool)
    results = effects_results.estimate({"w": w, **rewards}, cfg["effects"]["alpha"],
                                       deltas=cfg["effects"]["sensitivity_deltas"])
    flipped = {name: np.mean([template.classify_text(text) is (not ex.w if name == "rewrite" else ex.w)
                              for ex, text in zip(chosen, texts[name])])
               for name in ("rewrite", "rewritten rewrite")} if template.classify_text else {}
    return {"rows": results["estimates"], "asymmetry": results["diagnostics"].get("off_target_asymmetry"),
            "reward_std": results["reward_std"], "efficacy": flipped, "n": len(chosen)}


_MODELS: dict = {}


def reward_model(cfg: utils.Config):
    """The scoring template's model, built once per process for each (template, options): loading
    VADER and the spelling dictionary took 0.24 s of a 0.57 s point, and every point of a sweep asks
    for the same model."""
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
