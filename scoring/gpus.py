"""The GPUs a SLURM scoring job asks for: `GPUS=auto` (the default) asks for one when a model the
config scores needs a GPU (its scoring template's NEEDS_GPU), and for none when every model runs on
the CPU (vader, length, the DistilBERT classifiers), so that the offline configs run on a CPU-only
partition. A number asks for that many whatever the models.

    python -m scoring.gpus --config config.yaml [--section.key=value ...]   # prints the sbatch flag, or nothing
"""

from __future__ import annotations

import sys

import utils


def needs_gpu(model: str) -> bool:
    import scoring_templates

    name, _ = scoring_templates.resolve(model)
    module = utils.find_module("scoring_templates", name, "scoring.model", utils.load_config(None))
    return bool(getattr(module, "NEEDS_GPU", True))


def flags(models: list[str], gpus: str) -> str:
    if gpus == "auto":
        return "--gres=gpu:1" if any(needs_gpu(m) for m in models) else ""
    return f"--gres=gpu:{gpus}" if gpus not in ("", "0") else ""


def models_of(cfg: utils.Config) -> list[str]:
    section = cfg["scoring"]
    return [*(section["models"] or [section["model"]]), *([section["placebo"]] if section["placebo"] else [])]


def main(argv: list[str]) -> None:
    import os

    cfg = utils.config_from_argv(argv)
    print(flags(models_of(cfg), os.environ.get("GPUS", "auto")))


if __name__ == "__main__":
    sys.exit(utils.run_cli(main))
