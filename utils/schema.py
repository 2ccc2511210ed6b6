"""Every key a RATE config may hold, with its default and type: the defaults live here, in code.

README's config reference explains each key; experiments set them in YAML, one-offs on the command line.
"""

from __future__ import annotations

from typing import Any

# Every key a config may hold, as (default, accepted type). `None` defaults mean "derived at run
# time" (e.g. from the template or from another section); README's config reference explains each.
SCHEMA: dict[str, Any] = {
    "smoke_test": (False, bool),
    "rewrites": {
        "dataset_name": ("synthetic_sentiment", str),
        "backend": (None, str),
        "backend_options": ({}, dict),
        "template_options": ({}, dict),
        "model": (None, str),
        "temperature": (None, float),
        "n_examples": (None, int),
        "smoke_test_examples": (30, int),
        "seed": (42, int),
        # Engine of the API and local-model backends (docs_drafts/rewriting.md); `simulated` ignores them.
        "base_url": (None, str),
        "max_concurrency": (64, int),
        "requests_per_minute": (None, int),
        "tokens_per_minute": (None, int),
        "max_retries": (6, int),
        "retry_backoff": (1.0, float),
        "retry_backoff_max": (60.0, float),
        "timeout": (120.0, float),
        "max_tokens": (None, int),
        "cache": (True, bool),
        "refusal_detectors": (["empty", "apology", "echo"], list),
        "refusal_patterns": ([], list),
        "dry_run": (False, bool),
        "poll_interval": (30.0, float),
        "max_submissions": (4, int),
    },
    "scoring": {
        "model": ("vader", str),
        "model_options": ({}, dict),
        "dataset_folder": ("rewrites", str),
        "dataset_name": (None, str),
        "dataset_filename": ("latest", str),
        # The scoring engine (docs_drafts/scoring.md). `models` scores several reward models in one run
        # (the output is named after the first); `shard` is 'i/N'; null engine sizes mean "by device".
        "models": ([], list),
        "batch_size": (64, int),
        "max_batch_tokens": (None, int),
        "device": (None, str),
        "dtype": (None, str),
        "checkpoint_texts": (1024, int),
        "keep_checkpoints": (False, bool),
        "rescore": (False, bool),
        "shard": (None, str),
    },
    "effects": {
        "dataset_name": (None, str),
        "concept": (None, str),
        "score": (None, str),
        "reward_key": (None, (str, list)),
        "dataset_folder": ("scored", str),
        "dataset_filename": ("latest", (str, list)),
        "w_original_key": ("original", str),
        "w_counterfactual_key": ("rewrite", str),
        "w_rewritten_rewrite_key": ("rewritten rewrite", str),
        "alpha": (0.05, float),
        "bootstrap_resamples": (0, int),
        "bootstrap_seed": (0, int),
    },
    "visualize": {
        "dataset_name": (None, str),
        "score": (None, str),
        "effects_filename": ("latest", (str, list)),
        "labels": ([], list),
        "raw": (False, bool),
        "dpi": (150, int),
        "sample_rewrites": (4, int),
        "sample_max_chars": (400, int),
        "seed": (0, int),
        "sweep_files": ([], list),
        "sweep_key": (None, str),
        "sweep_values": ([], list),
        "sweep_label": (None, str),
    },
}

CHOICES = {
    "scoring.dataset_folder": ("rewrites", "scored"),
    "effects.dataset_folder": ("rewrites", "scored"),
}
