"""Ranges of config values: declared in the schema (utils/schema.py) and, for a module's options, in
its CHECKS; every out-of-range value is a one-line RateError naming the key and where it came from."""

from __future__ import annotations

import pytest

import utils


@pytest.mark.parametrize("override, message", [
    ("rewrites.max_concurrency=0", "command line: rewrites.max_concurrency: must be positive, got 0"),
    ("effects.alpha=1", "command line: effects.alpha: must be in (0, 1), got 1"),
    ("effects.min_efficacy=-0.1", "command line: effects.min_efficacy: must be in [0, 1], got -0.1"),
    ("scoring.batch_size=0", "command line: scoring.batch_size: must be at least 1, got 0"),
    ("visualize.dpi=10", "command line: visualize.dpi: must be at least 20, got 10"),
    ("judge.logprobs=-1", "command line: judge.logprobs: must be at least 0, got -1"),
    ("rewrites.price_per_million_tokens=[1]", "command line: rewrites.price_per_million_tokens: must be [input, output]"),
])
def test_ranges_are_declared_in_the_schema_and_checked_on_loading(override, message):
    key, value = override.split("=", 1)
    with pytest.raises(utils.RateError) as info:
        utils.load_config(None, [(key, value)])
    assert str(info.value).startswith(message)


def test_a_modules_declared_option_ranges_are_checked_where_options_are_merged(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("rewrites:\n  backend_options:\n    failure_rate: 2\n")
    cfg = utils.load_config(path)
    from template_contract import build as build_template

    with pytest.raises(utils.RateError) as info:
        utils.build_from_module("rewriters", "simulated", "rewrites.backend", "rewrites.backend_options", cfg,
                                build_template("dataset_templates", "synthetic_sentiment"), "m", 0.0, 0)
    assert str(info.value) == f"{path}: rewrites.backend_options.failure_rate: must be in [0, 1], got 2"


COUNT_OR_SHARE_PREFIXES = ("n_", "p_", "max_")
COUNT_OR_SHARE_PARTS = ("batch_size", "_size", "_prob", "_rate", "_length", "_chars", "_percent", "_per_file")


@pytest.mark.parametrize("package", ["dataset_templates", "scoring_templates", "rewriters"])
def test_every_count_and_share_among_module_options_has_a_declared_range(package):
    """A module's options are checked where they are merged (CHECKS): an option named like a count, a
    size or a share that no range covers would let 0, -5 or 2.0 through to a run."""
    import importlib

    from template_contract import modules

    missing = []
    for name in modules(package):
        module = importlib.import_module(f"{package}.{name}")
        checks = getattr(module, "CHECKS", {})
        assert set(checks) <= set(module.OPTIONS), f"{name}: CHECKS names options it does not have"
        missing += [f"{name}.{key}" for key, default in module.OPTIONS.items()
                    if not isinstance(default, (bool, str)) and (key.startswith(COUNT_OR_SHARE_PREFIXES) or any(part in key for part in COUNT_OR_SHARE_PARTS))
                    and key not in checks]
    assert not missing, f"options without a range: {missing}"


@pytest.mark.parametrize("option, value, message", [
    ("p_positive", 2.0, "must be in [0, 1], got 2"),
    ("corpus_size", 0, "must be at least 1, got 0"),
    ("rewriter_reword_prob", -0.5, "must be in [0, 1], got -0.5"),
])
def test_synthetic_template_rejects_out_of_range_options(option, value, message):
    from dataset_templates import synthetic_sentiment

    with pytest.raises(utils.RateError) as info:
        utils.merge_options({option: value}, synthetic_sentiment.OPTIONS, "rewrites.template_options", {},
                            synthetic_sentiment.CHECKS)
    assert str(info.value) == f"config: rewrites.template_options.{option}: {message}"


def test_a_range_on_an_option_derived_by_default_still_asks_for_a_number():
    from scoring_templates import armorm

    for given, message in [({"max_length": 0}, "must be at least 1, got 0"),
                           ({"max_length": "long"}, "must be int or float, got str 'long'")]:
        with pytest.raises(utils.RateError) as info:
            utils.merge_options(given, armorm.OPTIONS, "scoring.model_options", {}, armorm.CHECKS)
        assert message in str(info.value)
