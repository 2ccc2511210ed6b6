"""Config loading: defaults < YAML file < `--section.key=value`, every key type-checked, and every
error a one-line RateError naming the dotted key and where it came from (file path or command line)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

import utils

ORIGINAL_RATE_CONFIG = """\
smoke_test: true
rewrites:
  dataset_name: "helpsteer_helpfulness"
scoring:
  model: "armorm"
  dataset_folder: "scored"
  dataset_name: "imdb_length"
  dataset_filename: "archive/imdb_length_sfairxc_scored_20240918_195038.jsonl"
effects:
  dataset_name: "imdb"
  concept: "sentiment"
  score: "armorm"
  reward_key: "ArmoRM"
  dataset_filename: "imdb_sentiment_complete_scored_20240919_152739.jsonl"
  dataset_folder: "scored"
  w_original_key: "original"
  w_counterfactual_key: "rewrite"
  w_rewritten_rewrite_key: "rewritten rewrite"
"""


def write_yaml(tmp_path: Path, text: str, name: str = "config.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def load_error(path=None, overrides=()) -> str:
    with pytest.raises(utils.RateError) as info:
        utils.load_config(path, list(overrides))
    return str(info.value)


# --- defaults and file values ---------------------------------------------------------------------


def test_defaults_without_a_file():
    cfg = utils.load_config(None)
    assert cfg.path == "defaults" and cfg.sources == {}
    assert cfg.smoke is False
    assert cfg["scoring"]["model"] == "vader"
    assert cfg["scoring"]["dataset_filename"] == "latest"
    assert cfg["effects"]["alpha"] == 0.05
    assert cfg["rewrites"]["n_examples"] is None
    # Every schema key is present with its declared default.
    for section, keys in utils.SCHEMA.items():
        if isinstance(keys, tuple):
            assert cfg[section] == keys[0]
            continue
        assert set(cfg[section]) == set(keys)
        for key, (default, *_) in keys.items():
            assert cfg[section][key] == default, f"{section}.{key}"


def test_defaults_are_not_shared_between_configs():
    first = utils.load_config(None, [("rewrites.template_options.x", "1")])
    first["scoring"]["model_options"]["y"] = 2
    second = utils.load_config(None)
    assert second["rewrites"]["template_options"] == {}
    assert second["scoring"]["model_options"] == {}
    assert utils.SCHEMA["scoring"]["model_options"][0] == {}


def test_yaml_file_values_and_sources(tmp_path):
    path = write_yaml(tmp_path, """\
        smoke_test: true
        rewrites:
          n_examples: 500
          temperature: 0.7
        scoring:
          model: vader
          batch_size: 8
        """)
    cfg = utils.load_config(path)
    assert cfg.smoke is True
    assert cfg["rewrites"]["n_examples"] == 500
    assert cfg["rewrites"]["temperature"] == 0.7
    assert cfg["scoring"]["batch_size"] == 8
    assert cfg["rewrites"]["seed"] == 42  # untouched default
    assert cfg.path == str(path)
    assert cfg.source("scoring.batch_size") == str(path)
    # a default is reported against the file in use, but is not recorded as set there
    assert cfg.source("rewrites.seed") == str(path) and "rewrites.seed" not in cfg.sources


def test_empty_yaml_file_gives_defaults(tmp_path):
    cfg = utils.load_config(write_yaml(tmp_path, "# nothing set\n"))
    assert cfg["scoring"]["model"] == "vader" and cfg.sources == {}


# --- command-line overrides -----------------------------------------------------------------------


@pytest.mark.parametrize("dotted, raw, expected", [
    ("smoke_test", "true", True),
    ("smoke_test", "false", False),
    ("rewrites.n_examples", "250", 250),
    ("rewrites.temperature", "0.3", 0.3),
    ("effects.alpha", "0.1", 0.1),
    ("scoring.model", "123", "123"),               # string key: a numeric-looking value stays a string
    ("effects.concept", "true", "true"),           # ... and so does a bool-looking one
    ("scoring.dataset_filename", "x_20240101_000000.jsonl", "x_20240101_000000.jsonl"),
    ("rewrites.n_examples", "null", None),         # default None: null accepted
    ("effects.reward_key", "null", None),
])
def test_override_parsed_and_typed(dotted, raw, expected):
    cfg = utils.load_config(None, [(dotted, raw)])
    section, _, key = dotted.partition(".")
    value = cfg[section][key] if key else cfg[section]
    assert value == expected and type(value) is type(expected)
    assert cfg.source(dotted) == "command line"


@pytest.mark.parametrize("dotted, raw", [("rewrites.temperature", "1"), ("effects.min_efficacy", "0")])
def test_int_accepted_for_float_and_stored_as_float(dotted, raw):
    section, key = dotted.split(".")
    value = utils.load_config(None, [(dotted, raw)])[section][key]
    assert value == int(raw) and isinstance(value, float)


def test_int_accepted_for_float_in_file(tmp_path):
    value = utils.load_config(write_yaml(tmp_path, "effects:\n  min_efficacy: 1\n"))["effects"]["min_efficacy"]
    assert value == 1 and isinstance(value, float)


def test_scientific_notation_accepted_for_float(tmp_path):
    assert utils.load_config(None, [("effects.alpha", "1e-3")])["effects"]["alpha"] == pytest.approx(0.001)
    assert utils.load_config(write_yaml(tmp_path, "effects:\n  alpha: 2e-2\n"))["effects"]["alpha"] == pytest.approx(0.02)
    with pytest.raises(utils.RateError, match="effects.alpha"):
        utils.load_config(None, [("effects.alpha", "small")])


def test_section_with_every_key_commented_out_is_empty(tmp_path):
    cfg = utils.load_config(write_yaml(tmp_path, "visualize:\n  # dpi: 300\n"))
    assert cfg["visualize"]["dpi"] == utils.SCHEMA["visualize"]["dpi"][0]


def test_nested_override_goes_into_the_dict(tmp_path):
    path = write_yaml(tmp_path, "rewrites:\n  template_options:\n    a: 0.5\n")
    cfg = utils.load_config(path, [("rewrites.template_options.x", "1"), ("scoring.model_options.name", "abc")])
    assert cfg["rewrites"]["template_options"] == {"a": 0.5, "x": 1}
    assert cfg["scoring"]["model_options"] == {"name": "abc"}
    assert cfg.source("rewrites.template_options.a") == str(path)
    assert cfg.source("rewrites.template_options.x") == "command line"


def test_override_beats_file(tmp_path):
    path = write_yaml(tmp_path, "scoring:\n  batch_size: 8\n  model: vader\n")
    cfg = utils.load_config(path, [("scoring.batch_size", "16"), ("rewrites.n_examples", "7")])
    assert cfg["scoring"]["batch_size"] == 16
    assert cfg["scoring"]["model"] == "vader"
    assert cfg.source("scoring.batch_size") == "command line"
    assert cfg.source("scoring.model") == str(path)


def test_later_override_beats_earlier():
    cfg = utils.load_config(None, [("scoring.batch_size", "2"), ("scoring.batch_size", "3")])
    assert cfg["scoring"]["batch_size"] == 3


# --- errors name the key and the source -----------------------------------------------------------


@pytest.mark.parametrize("dotted, raw", [
    ("rewrites.n_examples", "true"),   # bool is not an int
    ("rewrites.n_examples", "1.5"),
    ("rewrites.n_examples", "abc"),
    ("effects.alpha", "high"),
    ("effects.alpha", "true"),         # bool is not a float either
    ("smoke_test", "1"),
    ("scoring.model", "null"),         # null only where the default is None
    ("rewrites.template_options", "5"),
])
def test_wrong_type_on_command_line(dotted, raw):
    message = load_error(overrides=[(dotted, raw)])
    assert f"'{dotted}'" in message
    assert message.startswith("command line:")
    assert "\n" not in message


def test_wrong_type_in_file_names_file(tmp_path):
    path = write_yaml(tmp_path, "rewrites:\n  seed: true\n")
    message = load_error(path)
    assert message.startswith(f"{path}:")
    assert "'rewrites.seed'" in message and "int" in message


def test_unknown_top_level_key(tmp_path):
    path = write_yaml(tmp_path, "smoke_tset: true\n")
    message = load_error(path)
    assert message.startswith(f"{path}:")
    assert "unknown key 'smoke_tset'" in message
    assert "did you mean 'smoke_test'" in message
    message = load_error(overrides=[("zzzz", "1")])
    assert message.startswith("command line:") and "unknown key 'zzzz'" in message


def test_unknown_nested_key_with_hint(tmp_path):
    path = write_yaml(tmp_path, "scoring:\n  modle: vader\n")
    message = load_error(path)
    assert message.startswith(f"{path}:")
    assert "'scoring.modle'" in message
    assert "did you mean 'model'" in message


def test_unknown_nested_key_far_off_lists_known_keys():
    message = load_error(overrides=[("scoring.qqqqqq", "1")])
    assert message.startswith("command line:") and "'scoring.qqqqqq'" in message
    assert "did you mean" not in message
    assert "batch_size" in message and "dataset_folder" in message


def test_invalid_choice_for_dataset_folder(tmp_path):
    message = load_error(overrides=[("scoring.dataset_folder", "effects")])
    assert message.startswith("command line:") and "'scoring.dataset_folder'" in message
    assert "rewrites" in message and "scored" in message
    # effects.dataset_folder takes the original code's meaning too: null, or a subfolder of data/scored.
    for value in ("null", "typos", "rewrites", "scored"):
        utils.load_config(write_yaml(tmp_path, f"effects:\n  dataset_folder: {value}\n"))


def test_invalid_yaml_names_file(tmp_path):
    path = write_yaml(tmp_path, "scoring:\n  model: [vader\n  batch_size: 8\n")
    message = load_error(path)
    assert str(path) in message and "not valid YAML" in message


def test_missing_config_file(tmp_path):
    path = tmp_path / "nope.yaml"
    message = load_error(path)
    assert str(path) in message and "cannot read" in message


def test_section_must_be_a_mapping():
    message = load_error(overrides=[("scoring", "1")])
    assert message.startswith("command line:") and "scoring" in message and "mapping" in message


# --- parse_cli ------------------------------------------------------------------------------------


def test_parse_cli_splits_config_and_overrides():
    assert utils.parse_cli([]) == ("config.yaml", [])
    path, overrides = utils.parse_cli(["--config", "c.yaml", "--scoring.model=a=b", "--smoke_test=true"])
    assert path == "c.yaml"
    assert overrides == [("scoring.model", "a=b"), ("smoke_test", "true")]
    assert utils.parse_cli(["--config=d.yaml"])[0] == "d.yaml"


@pytest.mark.parametrize("argv", [["config.yaml"], ["--config", "c.yaml", "extra"], ["--smoke_test"], ["--config"]])
def test_parse_cli_rejects_stray_arguments(argv):
    with pytest.raises(utils.RateError, match="command line"):
        utils.parse_cli(argv)


# --- configs written for the original RATE code ---------------------------------------------------


def test_original_rate_config_is_accepted(tmp_path):
    cfg = utils.load_config(write_yaml(tmp_path, ORIGINAL_RATE_CONFIG))
    assert cfg.smoke is True
    assert cfg["rewrites"]["dataset_name"] == "helpsteer_helpfulness"
    assert cfg["scoring"]["model"] == "armorm"
    assert cfg["scoring"]["dataset_folder"] == "scored"
    assert cfg["scoring"]["dataset_filename"] == "archive/imdb_length_sfairxc_scored_20240918_195038.jsonl"
    assert cfg["effects"]["reward_key"] == "ArmoRM"
    assert cfg["effects"]["w_rewritten_rewrite_key"] == "rewritten rewrite"
    assert utils.dataset_key(cfg, "effects") == "imdb_sentiment"
    assert utils.dataset_key(cfg, "scoring") == "imdb_length"


def test_dataset_key_falls_back_and_does_not_double_the_concept():
    cfg = utils.load_config(None, [("rewrites.dataset_name", "imdb_sentiment"), ("effects.concept", "sentiment")])
    assert utils.dataset_key(cfg, "scoring") == "imdb_sentiment"
    assert utils.dataset_key(cfg, "effects") == "imdb_sentiment"


# --- merge_options and redact ---------------------------------------------------------------------


OPTION_DEFAULTS = {"p": 0.2, "n": 3, "name": "x", "flag": False, "anything": None}


def test_merge_options_merges_and_types():
    merged = utils.merge_options({"p": 1, "n": 5, "anything": [1, 2]}, OPTION_DEFAULTS, "scoring.model_options", {})
    assert merged == {"p": 1.0, "n": 5, "name": "x", "flag": False, "anything": [1, 2]}
    assert isinstance(merged["p"], float)
    assert OPTION_DEFAULTS["n"] == 3  # defaults not mutated


def test_merge_options_rejects_unknown_key_naming_its_source():
    sources = {"scoring.model_options.nmae": "command line"}
    with pytest.raises(utils.RateError) as info:
        utils.merge_options({"nmae": "y"}, OPTION_DEFAULTS, "scoring.model_options", sources)
    message = str(info.value)
    assert message.startswith("command line:")
    assert "'scoring.model_options.nmae'" in message and "did you mean 'name'" in message


@pytest.mark.parametrize("given", [{"n": True}, {"n": "3"}, {"p": "high"}, {"flag": 1}, {"name": 5}])
def test_merge_options_rejects_wrong_type(given):
    sources = {"scoring.model_options": "my.yaml"}
    with pytest.raises(utils.RateError) as info:
        utils.merge_options(given, OPTION_DEFAULTS, "scoring.model_options", sources)
    (key,) = given
    assert str(info.value).startswith("my.yaml:") and f"'scoring.model_options.{key}'" in str(info.value)


def test_redact_hides_secrets_but_keeps_reward_key():
    config = {
        "rewrites": {"backend_options": {"api_key": "sk-123", "auth_token": "t", "client_secret": "s",
                                         "API_KEY": "sk-456", "max_tokens": 100, "model": "gpt"}},
        "effects": {"reward_key": "ArmoRM", "concept": "sentiment"},
    }
    redacted = utils.redact(config)
    options = redacted["rewrites"]["backend_options"]
    assert options["api_key"] == options["auth_token"] == options["client_secret"] == options["API_KEY"] == "***"
    assert options["max_tokens"] == 100 and options["model"] == "gpt"
    assert redacted["effects"] == {"reward_key": "ArmoRM", "concept": "sentiment"}
    assert config["rewrites"]["backend_options"]["api_key"] == "sk-123"  # input untouched


def test_redact_keeps_completion_key_names():
    effects = utils.redact(dict(utils.load_config(None)))["effects"]
    assert effects["w_original_key"] == "original"
    assert effects["w_counterfactual_key"] == "rewrite"
    assert effects["w_rewritten_rewrite_key"] == "rewritten rewrite"


def test_nested_overrides_of_one_option_dict_merge():
    cfg = utils.load_config(None, [("scoring.model_options.vader.length_weight", "0"),
                                   ("scoring.model_options.vader.typo_penalty", "0.5")])
    assert cfg["scoring"]["model_options"] == {"vader": {"length_weight": 0, "typo_penalty": 0.5}}


def test_later_phases_look_for_the_model_the_scored_file_is_named_after():
    assert utils.scored_model(utils.load_config(None)) == "vader"
    several = utils.load_config(None, [("scoring.models", "[armorm, vader]")])
    assert utils.scored_model(several) == "armorm"
    named = utils.load_config(None, [("scoring.models", "[armorm, vader]"), ("effects.score", "vader")])
    assert utils.scored_model(named) == "vader"
