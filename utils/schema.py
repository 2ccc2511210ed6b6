"""Every key a RATE config may hold, with its default and type: the defaults live here, in code.

README's config reference explains each key; experiments set them in YAML, one-offs on the command line.
"""

from __future__ import annotations

from typing import Any

# Every key a config may hold, as (default, accepted type). `None` defaults mean "derived at run
# time" (e.g. from the template or from another section); README's config reference explains each.
SCHEMA: dict[str, Any] = {
    "smoke_test": (False, bool),
    # A pipeline's run id: each phase's `latest` takes only the files of this run (README, "Files").
    "run": (None, str),
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
        # Engine of the API and local-model backends (README, "Rewriting"); `simulated` ignores them.
        "base_url": (None, str),
        "max_concurrency": (64, int),
        "adaptive_concurrency": (True, bool),
        "requests_per_minute": (None, int),
        "tokens_per_minute": (None, int),
        "max_retries": (6, int),
        "retry_backoff": (1.0, float),
        "retry_backoff_max": (60.0, float),
        "timeout": (120.0, float),
        "max_tokens": (None, int),
        "cache": (True, bool),
        "refusal_detectors": (["empty", "apology", "echo", "meta"], list),
        "refusal_patterns": ([], list),
        "price_per_million_tokens": (None, list),
        "dry_run": (False, bool),
        "poll_interval": (30.0, float),
        "max_submissions": (4, int),
    },
    # The attribute judge (judges/): who decides W for originals, rewrites and rewritten rewrites.
    # Null model/backend/base_url/price mean "the rewriter's".
    "judge": {
        "method": ("auto", str),
        "backend": (None, str),
        "model": (None, str),
        "base_url": (None, str),
        "backend_options": ({}, dict),
        "max_tokens": (10, int),
        "logprobs": (5, int),
        "originals": (True, bool),
        "price_per_million_tokens": (None, list),
    },
    "scoring": {
        "model": ("vader", str),
        "model_options": ({}, dict),
        "dataset_folder": ("rewrites", str),
        "dataset_name": (None, str),
        "dataset_filename": ("latest", str),
        # The scoring engine (README, "The engine"). `models` scores several reward models in one run
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
        "dataset_folder": (None, str),  # null or scored: data/scored; rewrites; or a subfolder of data/scored
        "dataset_filename": ("latest", (str, list)),
        "w_original_key": ("original", str),
        "w_counterfactual_key": ("rewrite", str),
        "w_rewritten_rewrite_key": ("rewritten rewrite", str),
        "alpha": (0.05, float),
        "bootstrap_resamples": (0, int),
        "bootstrap_seed": (0, int),
        # Rewrite efficacy from the judge's verdicts: the share below which the run is flagged, what a
        # low share does (warn or refuse), and estimating on the examples whose rewrites both passed.
        "min_efficacy": (0.8, float),
        "low_efficacy": ("warn", str),
        "passed_judge_only": (False, bool),
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
    "judge.method": ("auto", "rule", "llm", "none"),
    "effects.low_efficacy": ("warn", "refuse"),
}
