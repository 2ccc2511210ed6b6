"""Every key a RATE config may hold, with its default and type: the defaults live here, in code.

docs/config.md's reference explains each key; experiments set them in YAML, one-offs on the command line.
What a key may hold beyond its type is declared beside it, as one check object (`Range`, `Choice`,
`PricePair`, `Numbers`, `Names`): here for the config's own keys, in a template's or backend's `CHECKS`
for its options. utils/config.check_value is where every one of them is applied.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Optional

from utils import record
from utils.errors import ConfigError


@dataclass(frozen=True)
class Range:
    """The numbers a key may hold, declared beside its type and default."""
    low: Optional[float] = None
    high: Optional[float] = None
    low_open: bool = False
    high_open: bool = False
    # What a check implies about the type where the default (null, "derived") says nothing.
    expected = (int, float)

    def __str__(self) -> str:
        if self.high is None:
            return "positive" if (self.low == 0 and self.low_open) else f"at least {self.low:g}"
        return f"in {'(' if self.low_open else '['}{self.low:g}, {self.high:g}{')' if self.high_open else ']'}"

    def check(self, key: str, value) -> None:
        if value is None:
            return
        below = self.low is not None and (value <= self.low if self.low_open else value < self.low)
        above = self.high is not None and (value >= self.high if self.high_open else value > self.high)
        if below or above:
            raise ConfigError(key, f"must be {self}, got {value:g}")


@dataclass(frozen=True)
class Choice:
    """The values a key may take, declared beside its type and default."""
    values: tuple
    expected = object  # the choices themselves say what the key holds

    def __str__(self) -> str:
        return f"one of {list(self.values)}"

    def check(self, key: str, value) -> None:
        if value is not None and value not in self.values:
            raise ConfigError(key, f"must be {self}, got {value!r}", f"key '{key}' must be {self}, got {value!r}")


class PricePair:
    """[input, output] US dollars per million tokens."""
    expected = list

    def check(self, key: str, value) -> None:
        if value is not None and (len(value) != 2 or not all(
                isinstance(p, (int, float)) and not isinstance(p, bool) and p >= 0 for p in value)):
            raise ConfigError(key, f"must be [input, output] US dollars per million tokens, got {value!r}")


@dataclass(frozen=True)
class Numbers:
    """A non-empty list of finite numbers, in `unit`."""
    unit: str
    expected = list

    def check(self, key: str, value) -> None:
        if value is not None and (not value or not all(
                isinstance(d, (int, float)) and not isinstance(d, bool) and math.isfinite(d) for d in value)):
            problem = f"must be a non-empty list of numbers ({self.unit}) or null, got {value!r}"
            raise ConfigError(key, problem, f"{key} {problem}")


class Names:
    """One name or a non-empty list of names (file names, reward keys)."""
    expected = (str, list)

    def check(self, key: str, value) -> None:
        names = value if isinstance(value, list) else [value]
        if value is not None and (not names or not all(isinstance(n, str) and n for n in names)):
            problem = f"must be a string or a non-empty list of strings, got {value!r}"
            raise ConfigError(key, problem, f"{key} {problem}")


SHARD = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


class Shard:
    """'i/N' with 0 <= i < N: one of N shards of a scoring run (scoring/shards.py)."""
    expected = str

    @staticmethod
    def parse(value) -> tuple[int, int] | None:
        match = SHARD.match(value) if isinstance(value, str) else None
        return (int(match.group(1)), int(match.group(2))) if match else None

    def check(self, key: str, value) -> None:
        shard = self.parse(value)
        if value is not None and (shard is None or not 0 <= shard[0] < shard[1]):
            raise ConfigError(key, f"must be 'i/N' with 0 <= i < N, got {value!r}")


POSITIVE, AT_LEAST_0, AT_LEAST_1 = Range(0, low_open=True), Range(0), Range(1)
UNIT, OPEN_UNIT = Range(0, 1), Range(0, 1, low_open=True, high_open=True)
# torch dtypes a model may be loaded in (the scoring templates, the transformers backend); auto: the
# loader decides (bfloat16 on a GPU, float32 on CPU).
DTYPES = Choice(("auto", "float32", "bfloat16", "float16"))

# Every key a config may hold, as (default, accepted type[, the check of the values it may take]). `None`
# defaults mean "derived at run time" (e.g. from the template or from another section); docs/config.md's
# reference explains each. Loading a config applies the checks (utils/config.check_value), and so does
# every backend given settings directly (rewriters/_engine.py).
SCHEMA: dict[str, Any] = {
    "smoke_test": (False, bool),
    # A pipeline's run id: each phase's `latest` takes only the files of this run (docs/files.md).
    "run": (None, str),
    "rewrites": {
        "dataset_name": ("synthetic_sentiment", str),
        "backend": (None, str),
        "backend_options": ({}, dict),
        "template_options": ({}, dict),
        "model": (None, str),
        "temperature": (None, float),
        "n_examples": (None, int, AT_LEAST_1),
        "smoke_test_examples": (30, int, AT_LEAST_1),
        "seed": (42, int),
        # Engine of the API and local-model backends (docs/rewriting.md); `simulated` ignores them.
        "base_url": (None, str),
        "max_concurrency": (64, int, POSITIVE),
        "adaptive_concurrency": (True, bool),
        "requests_per_minute": (None, int, POSITIVE),
        "tokens_per_minute": (None, int, POSITIVE),
        "max_retries": (6, int, AT_LEAST_0),
        "retry_backoff": (1.0, float, AT_LEAST_0),
        "retry_backoff_max": (60.0, float, AT_LEAST_0),
        "timeout": (120.0, float, POSITIVE),
        "max_tokens": (None, int, POSITIVE),
        "cache": (True, bool),
        "refusal_detectors": (["empty", "apology", "echo", "meta"], list),
        "refusal_patterns": ([], list),
        "price_per_million_tokens": (None, list, PricePair()),
        "dry_run": (False, bool),
        "poll_interval": (30.0, float, AT_LEAST_0),
        "max_submissions": (4, int, POSITIVE),
    },
    # The attribute judge (judges/): who decides W for originals, rewrites and rewritten rewrites.
    # Null model/backend/base_url/price mean "the rewriter's".
    "judge": {
        "method": ("auto", str, Choice(("auto", "rule", "llm", "none"))),
        "backend": (None, str),
        "model": (None, str),
        "base_url": (None, str),
        "backend_options": ({}, dict),
        "max_tokens": (10, int, POSITIVE),
        "logprobs": (5, int, AT_LEAST_0),
        "originals": (True, bool),
        "price_per_million_tokens": (None, list, PricePair()),
    },
    "scoring": {
        "model": ("vader", str),
        "model_options": ({}, dict),
        "dataset_folder": ("rewrites", str, Choice(("rewrites", "scored"))),
        "dataset_name": (None, str),
        "dataset_filename": ("latest", str),
        # The scoring engine (docs/scoring.md). `models` scores several reward models in one run
        # (the output is named after the first); `shard` is 'i/N'; null engine sizes mean "by device".
        "models": ([], list),
        # A reward that ignores W, scored beside the models (with its default options) for
        # effects.placebo_reward_key (docs/effects.md).
        "placebo": (None, str),
        "batch_size": (64, int, AT_LEAST_1),
        "max_batch_tokens": (None, int, AT_LEAST_1),
        "device": (None, str),
        "dtype": (None, str, DTYPES),
        "checkpoint_texts": (1024, int, AT_LEAST_1),
        "keep_checkpoints": (False, bool),
        "rescore": (False, bool),
        "shard": (None, str, Shard()),
        # Print what each model would send and cost (a served LLM judge); score and write nothing.
        "dry_run": (False, bool),
    },
    "effects": {
        "dataset_name": (None, str),
        "concept": (None, str),
        "score": (None, str),
        "reward_key": (None, (str, list), Names()),
        "dataset_folder": (None, str),  # null or scored: data/scored; rewrites; or a subfolder of data/scored
        "dataset_filename": ("latest", (str, list), Names()),
        "w_original_key": (record.ORIGINAL, str),
        "w_counterfactual_key": (record.REWRITE, str),
        "w_rewritten_rewrite_key": (record.REWRITTEN_REWRITE, str),
        "alpha": (0.05, float, OPEN_UNIT),
        "bootstrap_resamples": (0, int, AT_LEAST_0),
        "bootstrap_seed": (0, int),
        # Rewrite efficacy from the judge's verdicts: the share below which the run is flagged, what a
        # low share does (warn or refuse), and estimating on the examples whose rewrites both passed.
        "min_efficacy": (0.8, float, UNIT),
        "low_efficacy": ("warn", str, Choice(("warn", "refuse"))),
        "passed_judge_only": (False, bool),
        # Clusters of dependent examples (docs/effects.md): auto = the records' `cluster` field, else
        # examples sharing a reward question that is not a fixed prompt; none = independent.
        "cluster_key": ("auto", str, Choice(("auto", "none", "cluster", "question"))),
        # Sensitivity to the rewriter: RATE's intervals shifted by each off-target asymmetry delta (raw
        # reward units); null = a grid around the breakdown delta.
        "sensitivity_deltas": (None, list, Numbers("raw reward units")),
        # A control reward that ignores W, analysed beside the others: its RATE estimate is the rewriter's
        # off-target asymmetry in that reward's terms, and should be 0.
        "placebo_reward_key": (None, str),
        # An inverse-variance pooled estimate across the run's files, with I^2.
        "pool": (False, bool),
        # An example id seen twice: error, or keep_first (count the others as dropped).
        "duplicate_ids": ("error", str, Choice(("error", "keep_first"))),
    },
    # A sweep of `make experiments` (configs/experiments/*.yaml, docs/experiments.md); the four scripts
    # ignore this section, so an experiment's file is also a config of one point.
    "experiment": {
        "title": (None, str),
        "sweep_key": (None, str),
        "values": ([], list),
        "label": (None, str),
        "replicates": (20, int, AT_LEAST_1),
        "seed_keys": (["rewrites.seed", "rewrites.template_options.corpus_seed"], list),
        # RATE's predicted bias per unit of the swept value (the asymmetry sweep: 0.1 per marker word)
        "bias_per_unit": (None, float),
        "smoke_values": ([], list),
        "smoke_replicates": (3, int, AT_LEAST_1),
        "smoke_n_examples": (300, int, AT_LEAST_1),
        # The one value `make experiments REWRITER=local` runs with a real LLM as the rewriter (null:
        # the sweep has none, e.g. when its key is an option of the simulated rewriter).
        "real_rewriter_value": (None, (int, float, str)),
        "real_rewriter_n_examples": (60, int, AT_LEAST_1),
    },
    # `make audit` (run_audit.py, docs/audit.md): every attribute (a dataset template) rewritten
    # once and scored by every model (a scoring template); the four scripts ignore this section.
    "audit": {
        "name": (None, str),  # the audit's run id is audit-<name>; default: the config file's name
        "attributes": ([], list),
        "models": ([], list),
        "template_options": ({}, dict),  # keyed by attribute
        "model_options": ({}, dict),  # keyed by model
        "estimand": ("ATE", str, Choice(("ATE", "ATT", "ATU"))),  # the card's matrix and contrasts
    },
    "visualize": {
        "dataset_name": (None, str),
        "score": (None, str),
        "effects_filename": ("latest", (str, list), Names()),
        "labels": ([], list),
        "raw": (False, bool),
        "dpi": (150, int, Range(20)),
        "sample_rewrites": (4, int, AT_LEAST_0),
        "sample_max_chars": (400, int, Range(10)),
        "seed": (0, int),
        "sweep_files": ([], list),
        "sweep_key": (None, str),
        "sweep_values": ([], list),
        "sweep_label": (None, str),
    },
}
