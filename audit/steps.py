"""The phases an audit still needs, with their overrides, and those it can skip.

An audit's files are one pipeline run, `--run=audit-<name>`: each attribute's rewrites; one scored
file per attribute that gathers the models' rewards (the first model scores the rewrites, each next
one is added with `scoring.dataset_folder: scored`, which copies the rewards already there); and the
estimates of every model on it, with the paired contrasts between them. A step is skipped when what
it would write exists: rewrites of this run made with the same rewrite settings, and a scored file
of those rewrites holding the model. So adding a model to an audit scores only that model, and
rerunning a finished audit re-estimates and makes the card again, sending no request.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import utils

logger = logging.getLogger(__name__)


@dataclass
class Step:
    script: str  # create_dataset.py, score_dataset.py or treatment_effects.py
    attribute: str
    overrides: list[tuple[str, str]] = field(default_factory=list)
    model: Optional[str] = None

    def describe(self) -> str:
        phase = {"create_dataset.py": "rewrites", "score_dataset.py": f"scoring by {self.model}",
                 "treatment_effects.py": "estimates"}[self.script]
        return f"{self.attribute}: {phase}"


def name_of(cfg: utils.Config) -> str:
    return cfg["audit"]["name"] or Path(cfg.path).stem


def run_of(cfg: utils.Config) -> str:
    return cfg["run"] or f"audit-{utils.slug(name_of(cfg))}"


def check(cfg: utils.Config) -> None:
    """The audit section names templates that exist, each once, and keys its options by them."""
    section = cfg["audit"]
    for key, package in (("attributes", "dataset_templates"), ("models", "scoring_templates")):
        values = section[key]
        if not values:
            raise utils.RateError(f"{cfg.source(f'audit.{key}')}: audit.{key} is empty: list the "
                                  f"{'dataset templates' if package == 'dataset_templates' else 'reward models'} "
                                  f"to audit")
        available = utils.template_names(package)
        for value in values:
            if not isinstance(value, str) or value not in available and not value.startswith("hf:"):
                raise utils.RateError(f"{cfg.source(f'audit.{key}')}: audit.{key}: no template {value!r} in "
                                      f"{package}/ (there: {', '.join(available)})")
        if len(set(values)) != len(values):
            raise utils.RateError(f"{cfg.source(f'audit.{key}')}: audit.{key} lists a value twice: {values}")
    # options may wait for a template not audited this time (--audit.models=[...] on the command line)
    for key, listed, package in (("template_options", "attributes", "dataset_templates"),
                                 ("model_options", "models", "scoring_templates")):
        for name, options in section[key].items():
            known = name in section[listed] or name in utils.template_names(package)
            if not known or not isinstance(options, dict):
                raise utils.RateError(f"{cfg.source(f'audit.{key}.{name}')}: audit.{key}.{name}: every key must be "
                                      f"one of audit.{listed} ({', '.join(section[listed])}) or another template of "
                                      f"{package}/, and hold a mapping")
            if key == "model_options" and options.get("reward_key") not in (None, name):
                raise utils.RateError(f"{cfg.source(f'audit.{key}.{name}')}: audit.model_options.{name}.reward_key: an "
                                      f"audit keys each model's rewards by its name in audit.models ({name!r}); "
                                      "leave reward_key out")


def base_overrides(cfg: utils.Config, attribute: str, given: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """What every phase of one attribute is told: the overrides the audit was `given` on its command
    line, then the dataset, its options, the model the scored file is looked up by, and the run."""
    section = cfg["audit"]
    options = section["template_options"].get(attribute, cfg["rewrites"]["template_options"])
    return [*given, ("rewrites.dataset_name", attribute), ("rewrites.template_options", json.dumps(options)),
            ("effects.score", section["models"][0]), ("run", run_of(cfg))]


def scoring_overrides(cfg: utils.Config, model: str, onto_scored: bool) -> list[tuple[str, str]]:
    options = dict(cfg["audit"]["model_options"].get(model, {}))
    if "reward_key" in utils.find_module("scoring_templates", scoring_templates_name(model), "audit.models", cfg).OPTIONS:
        # the estimates and the card find each model's rewards by its name in audit.models
        options["reward_key"] = model
    return [("scoring.models", "[]"), ("scoring.model", model), ("scoring.placebo", "null"),
            ("scoring.model_options", json.dumps(options)),
            ("scoring.dataset_folder", "scored" if onto_scored else "rewrites"), ("scoring.dataset_filename", "latest")]


def scoring_templates_name(model: str) -> str:
    import scoring_templates

    return scoring_templates.resolve(model)[0]


def effects_overrides(cfg: utils.Config) -> list[tuple[str, str]]:
    return [("effects.reward_key", json.dumps(cfg["audit"]["models"])), ("effects.dataset_filename", "latest"),
            ("effects.placebo_reward_key", "null")]


def current_rewrites(cfg: utils.Config, attribute: str, given: list[tuple[str, str]]) -> Optional[Path]:
    """This run's newest rewrites of `attribute`, if they were made with the settings asked for now."""
    try:
        path = utils.artifacts.latest("rewrites", attribute, smoke=cfg.smoke, run=run_of(cfg))
    except utils.RateError:
        return None
    # `differences` compares a file's upstream settings; the rewrites' own sidecar is their first link
    differing = utils.artifacts.differences(path, utils.load_config(cfg.path, base_overrides(cfg, attribute, given)))
    if differing:
        logger.info("%s: the audit's rewrites %s were made with other settings (%s); rewriting", attribute, path.name,
                    "; ".join(differing))
        return None
    return path


def models_scored(cfg: utils.Config, attribute: str, rewrites: Path) -> list[str]:
    """The models whose rewards the newest scored file of these rewrites holds (none if there is none)."""
    try:
        path = utils.artifacts.latest("scored", attribute, smoke=cfg.smoke, run=run_of(cfg))
    except utils.RateError:
        return []
    if rewrites.resolve() not in [p.resolve() for p in utils.artifacts.lineage(path)[1:]]:
        return []
    found = utils.artifacts.identity(path)
    return list(found.models) if found else []


def plan(cfg: utils.Config, given: list[tuple[str, str]]) -> list[Step]:
    """Every step the audit needs now, in the order they must run; `given`: its command line's overrides."""
    steps = []
    for attribute in cfg["audit"]["attributes"]:
        base = base_overrides(cfg, attribute, given)
        rewrites = current_rewrites(cfg, attribute, given)
        if rewrites is None:
            steps.append(Step("create_dataset.py", attribute, base))
        have = models_scored(cfg, attribute, rewrites) if rewrites else []
        for model in cfg["audit"]["models"]:
            if model in have:
                logger.info("%s: %s already scored in this audit; not scored again", attribute, model)
                continue
            steps.append(Step("score_dataset.py", attribute, base + scoring_overrides(cfg, model, bool(have)), model))
            have.append(model)
        steps.append(Step("treatment_effects.py", attribute, base + effects_overrides(cfg)))
    return steps
