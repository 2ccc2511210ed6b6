"""One validation path: what a key may hold is declared once, in the schema (utils/schema.py) or in its
module's CHECKS, and applied by utils/config.check_value. Every declared range and choice is enforced
with the key in the message, and a template's choice error names the key and the config file."""

from __future__ import annotations

import importlib
import math
import types

import pytest
import yaml

import utils
from rewriters._engine import ENGINE_KEYS
from template_contract import modules
from utils import schema

OPTIONS_OF = {"dataset_templates": "rewrites.template_options", "scoring_templates": "scoring.model_options",
              "rewriters": "rewrites.backend_options"}
NOT_A_CHOICE = "not-a-choice"


def schema_checks(node: dict = schema.SCHEMA, prefix: str = ""):
    for key, entry in node.items():
        if isinstance(entry, dict):
            yield from schema_checks(entry, f"{prefix}{key}.")
        elif len(entry) > 2:
            yield f"{prefix}{key}", entry


def module_checks():
    for package in OPTIONS_OF:
        for name in modules(package):
            module = importlib.import_module(f"{package}.{name}")
            for key, check in getattr(module, "CHECKS", {}).items():
                yield package, name, module, key, check


def values(check, integral: bool) -> tuple[list, list]:
    """(values the check accepts, values it refuses), of the key's type, so that the check refuses them
    and not the type check before it. A new kind of check must say here what it accepts and refuses."""
    if isinstance(check, schema.Range):
        step = 1 if integral else 0.5
        refused = [check.low if check.low_open else check.low - step] if check.low is not None else []
        refused += [check.high if check.high_open else check.high + step] if check.high is not None else []
        if not check.low_open:
            accepted = [check.low]
        else:
            accepted = [(check.low + check.high) / 2 if check.high is not None else check.low + 1]
        accepted += [check.high] if check.high is not None and not check.high_open else []
        return accepted, refused
    if isinstance(check, schema.Choice):
        assert all(isinstance(v, str) for v in check.values) and NOT_A_CHOICE not in check.values
        return list(check.values), [NOT_A_CHOICE]
    if isinstance(check, schema.PricePair):
        return [[2.5, 10.0], [0, 0]], [[1.0], [1.0, -2.0], [1.0, "x"]]
    if isinstance(check, schema.Numbers):
        return [[0.5], [-1, 2.5]], [[], [0.1, "x"], [math.inf], [True]]
    if isinstance(check, schema.Names):
        return ["a", ["a", "b"]], [[], [""], [1, "a"], ""]
    if isinstance(check, schema.Shard):
        return ["0/1", "3/4", " 1 / 2 "], ["1/1", "2/1", "0/0", "-1/2", "a/b", "1", ""]
    pytest.fail(f"no test values for {check!r}: add its kind to values()")


def nested(dotted: str, value) -> dict:
    for part in reversed(dotted.split(".")):
        value = {part: value}
    return value


SCHEMA_CASES = [pytest.param(dotted, entry, id=dotted) for dotted, entry in schema_checks()]


@pytest.mark.parametrize("dotted, entry", SCHEMA_CASES)
def test_every_check_the_schema_declares_is_enforced_naming_the_key_and_file(tmp_path, dotted, entry):
    default, expected, check = entry
    accepted, refused = values(check, expected is int)
    assert refused, f"{dotted}: its check refuses nothing"
    path = tmp_path / "c.yaml"
    for value in accepted:
        path.write_text(yaml.safe_dump(nested(dotted, value)))
        section, key = dotted.split(".")
        assert utils.load_config(path)[section][key] == value
    for value in refused:
        path.write_text(yaml.safe_dump(nested(dotted, value)))
        with pytest.raises(utils.RateError) as info:
            utils.load_config(path)
        message = str(info.value)
        assert message.startswith(f"{path}: ") and dotted in message, message


MODULE_CASES = [pytest.param(package, module, key, check, id=f"{package}.{name}.{key}")
                for package, name, module, key, check in module_checks()]


@pytest.mark.parametrize("package, module, key, check", MODULE_CASES)
def test_every_check_a_module_declares_is_enforced_where_its_options_are_merged(package, module, key, check):
    prefix, default = OPTIONS_OF[package], module.OPTIONS[key]
    accepted, refused = values(check, isinstance(default, int) and not isinstance(default, bool))
    sources = {f"{prefix}.{key}": "my.yaml"}
    for value in accepted:
        assert utils.merge_options({key: value}, module.OPTIONS, prefix, sources, module.CHECKS)[key] == value
    for value in refused:
        with pytest.raises(utils.RateError) as info:
            utils.merge_options({key: value}, module.OPTIONS, prefix, sources, module.CHECKS)
        message = str(info.value)
        assert message.startswith("my.yaml: ") and f"{prefix}.{key}" in message, message


def test_the_templates_named_in_the_issue_declare_their_choices():
    from dataset_templates import hh_rlhf_helpfulness, hh_rlhf_sentiment
    from scoring_templates import hf

    assert hh_rlhf_helpfulness.CHECKS["turn_format"] == schema.Choice(("original", "plain"))
    assert hh_rlhf_sentiment.CHECKS["exchange"] == schema.Choice(("first", "last"))
    assert {"dtype", "input_format", "chat_fallback", "padding_side"} <= {
        key for key, check in hf.CHECKS.items() if isinstance(check, schema.Choice)}


# --- a choice error names the key and the config file, through the path each kind of module is built ---


def refuse(package: str, name: str, cfg: utils.Config) -> str:
    with pytest.raises(utils.RateError) as info:
        if package == "dataset_templates":
            utils.build_from_module(package, name, "rewrites.dataset_name", "rewrites.template_options", cfg)
        elif package == "rewriters":  # refused before the backend is built: no template or model is needed
            utils.build_from_module(package, name, "rewrites.backend", "rewrites.backend_options", cfg, None, "m", 0.0, 0)
        else:
            from phases import score_dataset

            score_dataset.prepare_models(cfg, score_dataset.model_values(cfg))
    return str(info.value)


NAME_KEY = {"dataset_templates": "rewrites.dataset_name", "scoring_templates": "scoring.model",
            "rewriters": "rewrites.backend"}
CHOICE_CASES = [pytest.param(package, name, key, check, id=f"{package}.{name}.{key}")
                for package, name, module, key, check in module_checks() if isinstance(check, schema.Choice)]


@pytest.mark.parametrize("package, name, key, check", CHOICE_CASES)
def test_a_modules_choice_error_names_the_key_and_the_config_file(tmp_path, package, name, key, check):
    dotted = f"{OPTIONS_OF[package]}.{key}"
    expected = f"key '{dotted}' must be one of {list(check.values)}, got '{NOT_A_CHOICE}'"
    path = tmp_path / "bad.yaml"
    file_config = nested(NAME_KEY[package], name)
    section, field = OPTIONS_OF[package].split(".")
    file_config[section][field] = {key: NOT_A_CHOICE}
    path.write_text(yaml.safe_dump(file_config))
    assert refuse(package, name, utils.load_config(path)) == f"{path}: {expected}"
    # the same value given on the command line over a file that names the module
    plain = tmp_path / "plain.yaml"
    plain.write_text(yaml.safe_dump(nested(NAME_KEY[package], name)))
    assert refuse(package, name, utils.load_config(plain, [(dotted, NOT_A_CHOICE)])) == f"command line: {expected}"


def test_a_choice_error_in_the_judges_backend_options_names_the_key_and_file(tmp_path):
    import judges

    path = tmp_path / "judge.yaml"
    path.write_text("judge:\n  method: llm\n  backend: transformers\n  model: m\n  backend_options:\n    dtype: float8\n")
    template = types.SimpleNamespace(name="t", classify_text=None, classify_texts=None)
    with pytest.raises(utils.RateError) as info:
        judges.build(utils.load_config(path), template, None, "simulated", "m")
    assert str(info.value) == (f"{path}: key 'judge.backend_options.dtype' must be one of "
                               f"{list(schema.DTYPES.values)}, got 'float8'")


def test_a_scoring_choice_error_from_a_per_model_options_dict_names_the_file(tmp_path):
    from phases import score_dataset

    path = tmp_path / "models.yaml"
    path.write_text("scoring:\n  models: [vader, armorm]\n  model_options:\n    armorm:\n      dtype: half\n")
    cfg = utils.load_config(path)
    with pytest.raises(utils.RateError) as info:
        score_dataset.prepare_models(cfg, score_dataset.model_values(cfg))
    assert str(info.value).startswith(f"{path}: key 'scoring.model_options.armorm.dtype' must be one of")


def test_what_only_a_template_can_judge_is_a_config_error_given_the_file(tmp_path):
    from scoring_templates import hf

    path = tmp_path / "hf.yaml"
    path.write_text("scoring:\n  model: hf\n")
    with pytest.raises(utils.RateError) as info:
        utils.build_module(hf, dict(hf.OPTIONS), utils.load_config(path))
    assert str(info.value) == (f"{path}: scoring.model_options.path: the 'hf' template needs a path "
                               "(write scoring.model: hf:<path>)")


def test_the_script_prints_a_template_choice_error_naming_the_file(project_dir, tmp_path):
    from conftest import run_script

    path = tmp_path / "hh.yaml"
    path.write_text("rewrites:\n  dataset_name: hh_rlhf_sentiment\n  template_options:\n    exchange: middle\n")
    done = run_script("create_dataset.py", "--config", str(path))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == (
        f"error: {path}: key 'rewrites.template_options.exchange' must be one of ['first', 'last'], got 'middle'")


# --- the engine applies the schema's checks through the same path --------------------------------


ENGINE_CASES = [pytest.param(key, id=key) for key in ENGINE_KEYS if len(schema.SCHEMA["rewrites"][key]) > 2]


@pytest.mark.parametrize("key", ENGINE_CASES)
def test_a_backend_given_settings_directly_refuses_what_a_config_refuses_in_the_same_words(tmp_path, key):
    from rewriters._engine import engine_settings

    _, expected, check = schema.SCHEMA["rewrites"][key]
    path = tmp_path / "c.yaml"
    for value in values(check, expected is int)[1]:
        with pytest.raises(utils.ConfigError) as direct:
            engine_settings({key: value})
        path.write_text(yaml.safe_dump({"rewrites": {key: value}}))
        with pytest.raises(utils.RateError) as loaded:
            utils.load_config(path)
        assert str(loaded.value) == f"{path}: {direct.value}"
