"""Config plumbing: load one YAML file over the defaults in utils/schema.py, apply type-checked
`--section.key=value` overrides, and find the template or backend a config names by its file name."""

from __future__ import annotations

import copy
import difflib
import os
import re
import sys
from pathlib import Path
from typing import Any

import yaml

from utils.errors import ConfigError, RateError
from utils.schema import SCHEMA

REPO_DIR = Path(__file__).resolve().parent.parent
SMOKE_MARK = "_smoke_test"


def _type_ok(value: Any, expected: type | tuple) -> bool:
    if isinstance(expected, tuple):
        return any(_type_ok(value, one) for one in expected)
    if expected is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if expected is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, expected)


_FLOAT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def check_value(dotted: str, value: Any, default: Any, expected: type, source: str | None = None, check=None) -> Any:
    """Type-check one value, then apply its declared `check` (a range, a choice: utils/schema.py); `None`
    is accepted where the default is `None` (meaning 'derive it'). Every config key and module option
    is checked here. A refusal names `source`, where the value came from; without one (a backend given
    settings directly) it is the ConfigError itself, which `build_from_module` gives the file."""
    if value is None and default is None:
        return None
    if isinstance(value, str) and not _type_ok(value, expected) and _type_ok(0.0, expected):
        # YAML 1.1 reads '1e-3' as a string; for a float key it plainly means a number.
        value = float(value) if _FLOAT.fullmatch(value.strip()) else value
    try:
        if not _type_ok(value, expected):
            names = " or ".join(t.__name__ for t in (expected if isinstance(expected, tuple) else (expected,)))
            problem = f"must be {names}, got {type(value).__name__} {value!r}"
            raise ConfigError(dotted, problem, f"key '{dotted}' {problem}")
        if check is not None:
            check.check(dotted, value)
    except ConfigError as exc:
        if source is None:
            raise
        raise RateError(f"{source}: {exc}") from None
    return float(value) if expected is float else value


def _unknown_key(dotted: str, known: list[str], source: str) -> RateError:
    hint = difflib.get_close_matches(dotted.rsplit(".", 1)[-1], known, n=1)
    suffix = f" (did you mean '{hint[0]}'?)" if hint else f" (known: {', '.join(sorted(known))})"
    return RateError(f"{source}: unknown key '{dotted}'{suffix}")


def merge_options(given: dict, defaults: dict, prefix: str, sources: dict[str, str], checks: dict | None = None) -> dict:
    """Merge a template's or backend's option dict over its declared defaults, type-checked by the
    type of each default and checked by the module's declared `CHECKS` (ranges, choices). Used for
    `*_options` dicts, whose keys only the template knows."""
    merged = dict(defaults)
    for key, value in given.items():
        dotted = f"{prefix}.{key}"
        source = sources.get(dotted, sources.get(prefix, "config"))
        if key not in defaults:
            raise _unknown_key(dotted, list(defaults), source)
        default, check = defaults[key], (checks or {}).get(key)
        if default is not None:
            merged[key] = check_value(dotted, value, default, type(default), source, check)
        else:  # "derived" by default; a declared check still says what it may hold (a range: a number)
            merged[key] = check_value(dotted, value, None, check.expected, source, check) if check else value
    return merged


class Config(dict):
    """The resolved config: defaults < YAML file < command-line overrides. `sources` maps each dotted
    key that was set to where it came from, so errors can name the file."""

    def __init__(self, data: dict, sources: dict[str, str], path: str):
        super().__init__(data)
        self.sources = sources
        self.path = path

    def source(self, dotted: str) -> str:
        """Where a key's value came from; a default is reported against the config file in use."""
        return self.sources.get(dotted, self.path)

    @property
    def smoke(self) -> bool:
        return bool(self["smoke_test"])


def _apply(data: dict, schema: dict, updates: dict, source: str, sources: dict, prefix: str = "") -> None:
    if not isinstance(updates, dict):
        raise RateError(f"{source}: '{prefix.rstrip('.') or 'the top level'}' must be a mapping")
    for key, value in updates.items():
        dotted = f"{prefix}{key}"
        if key not in schema:
            raise _unknown_key(dotted, list(schema), source)
        if isinstance(schema[key], dict):
            if value is not None:  # a section whose keys are all commented out reads as null
                _apply(data[key], schema[key], value, source, sources, prefix=f"{dotted}.")
            continue
        default, expected, *_ = schema[key]  # declared checks run on the final values (check_declared)
        value = check_value(dotted, value, default, expected, source)
        if expected is dict:
            for sub in value:
                sources[f"{dotted}.{sub}"] = source
            data[key] = _deep_merge(data[key], value)
        else:
            data[key] = value
        sources[dotted] = source


def _deep_merge(base: dict, update: dict) -> dict:
    """`update` over `base`, merging nested dicts, so that `--scoring.model_options.vader.a=1` and
    `--scoring.model_options.vader.b=2` both survive."""
    merged = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            value = _deep_merge(merged[key], value)
        merged[key] = value
    return merged


def _defaults(schema: dict) -> dict:
    return {k: _defaults(v) if isinstance(v, dict) else copy.deepcopy(v[0]) for k, v in schema.items()}


def _parse_override(dotted: str, raw: str) -> dict:
    """Turn `--a.b.c=raw` into {'a': {'b': {'c': value}}}; the value is read as YAML unless the
    schema says the key is a string (so `--scoring.model=123` stays the string '123')."""
    parts = dotted.split(".")
    node: Any = SCHEMA
    for part in parts[:2]:
        node = node.get(part) if isinstance(node, dict) else None
    expects_str = isinstance(node, tuple) and node[1] is str and len(parts) <= 2
    if raw in ("null", "~", "None"):
        value: Any = None
    elif expects_str:
        value = raw
    else:
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError:
            value = raw
    for part in reversed(parts):
        value = {part: value}
    return value


def parse_cli(argv: list[str]) -> tuple[str, list[tuple[str, str]]]:
    """Split argv into the config path (default config.yaml) and `--section.key=value` overrides."""
    config_path = "config.yaml"
    overrides: list[tuple[str, str]] = []
    args = list(argv)
    while args:
        arg = args.pop(0)
        if arg == "--config":
            if not args:
                raise RateError("command line: --config needs a path")
            config_path = args.pop(0)
        elif arg.startswith("--config="):
            config_path = arg.split("=", 1)[1]
        elif arg.startswith("--") and "=" in arg:
            key, raw = arg[2:].split("=", 1)
            overrides.append((key, raw))
        elif arg.startswith("--") and args and not args[0].startswith("--"):
            raise RateError(f"command line: '{arg} {args[0]}': an override is one word, --key=value: "
                            f"write {arg}={args[0]}")
        else:
            raise RateError(f"command line: expected --config PATH or --section.key=value, got '{arg}'")
    return config_path, overrides


def load_config(path: str | os.PathLike | None, overrides: list[tuple[str, str]] = ()) -> Config:
    """Defaults from SCHEMA, then the YAML file, then overrides; every key type-checked."""
    data = _defaults(SCHEMA)
    sources: dict[str, str] = {}
    shown = str(path) if path else "defaults"
    if path:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise RateError(f"{path}: cannot read config ({exc.strerror})") from None
        except UnicodeDecodeError:
            raise RateError(f"{path}: is not UTF-8 text, so not a YAML config") from None
        try:
            loaded = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" line {mark.line + 1}" if mark else ""
            raise RateError(f"{path}:{where} is not valid YAML") from None
        _apply(data, SCHEMA, loaded, shown, sources)
    for dotted, raw in overrides:
        _apply(data, SCHEMA, _parse_override(dotted, raw), "command line", sources)
    check_declared(data, SCHEMA, sources, shown)
    return Config(data, sources, shown)


def check_declared(data: dict, schema: dict, sources: dict[str, str], shown: str, prefix: str = "") -> None:
    """Every key's declared check (a range, a choice), on the value that won (a file's 0 overridden on
    the command line is no error), reported against where that value came from."""
    for key, entry in schema.items():
        dotted = f"{prefix}{key}"
        if isinstance(entry, dict):
            check_declared(data[key], entry, sources, shown, f"{dotted}.")
        elif len(entry) > 2:
            check_value(dotted, data[key], *entry[:2], sources.get(dotted, shown), entry[2])


def config_from_argv(argv: list[str] | None, doc: str | None = None) -> Config:
    """The config a script was asked for; `-h`/`--help` prints the script's docstring and exits."""
    argv = sys.argv[1:] if argv is None else argv
    if doc and any(arg in ("-h", "--help") for arg in argv):
        print(doc.strip())
        raise SystemExit(0)
    path, overrides = parse_cli(argv)
    return load_config(path, overrides)


# Names of settings that hold credentials. Keys such as `reward_key` or `w_original_key` name data,
# not secrets, so a bare "key" suffix is not enough.
SECRET_NAME = re.compile(r"(^|_)(api_?key|token|secret|password)$", re.IGNORECASE)


_URL_USER = re.compile(r"(?<=://)[^/@\s]+@")
_URL_QUERY_SECRET = re.compile(r"(?i)([?&](?:[\w-]*(?:key|token|secret|password|sig|signature)[\w-]*)=)[^&#\s]+")


def redact_url(text: str) -> str:
    """`text` with the credentials a URL may carry masked: the user and password before the host,
    and query parameters named like a key, token, secret, password or signature."""
    return _URL_QUERY_SECRET.sub(r"\1***", _URL_USER.sub("***@", text))


def redact(value: Any, key: str = "") -> Any:
    """A config for a sidecar or a log: values of keys named like a credential masked, and in every
    text the credentials a URL carries."""
    if isinstance(value, dict):
        return {k: redact(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v, key) for v in value]
    if value and isinstance(value, str) and SECRET_NAME.search(key):
        return "***"
    return redact_url(value) if isinstance(value, str) else value


# Where a phase's dataset name comes from, first to last (then `rewrites.dataset_name`): visualize
# draws what the effects phase estimated, so it takes the effects' name when it has none of its own.
DATASET_SECTIONS = {"scoring": ("scoring",), "effects": ("effects",), "visualize": ("visualize", "effects")}


def dataset_key(cfg: Config, section: str) -> str:
    """The dataset+attribute key a phase works on. Original RATE configs name the effects dataset
    'imdb' with concept 'sentiment'; those join to 'imdb_sentiment'."""
    chain = DATASET_SECTIONS[section]
    name = next((cfg[s]["dataset_name"] for s in chain if cfg[s].get("dataset_name")), cfg["rewrites"]["dataset_name"])
    concept = next((cfg[s]["concept"] for s in chain if cfg[s].get("concept")), None)
    if concept and not name.endswith(f"_{concept}"):
        name = f"{name}_{concept}"
    return name


def original_names(cfg: Config, section: str) -> tuple[str, ...]:
    """The original code's spelling of the dataset part of its effects files, `<dataset_name>_<concept>`
    even when the name already ends with the concept (`imdb_length_length`), for `latest`."""
    chain = DATASET_SECTIONS[section]
    name = next((cfg[s]["dataset_name"] for s in chain if cfg[s].get("dataset_name")), None)
    concept = next((cfg[s]["concept"] for s in chain if cfg[s].get("concept")), None)
    return (f"{name}_{concept}",) if name and concept else ()


def scored_model(cfg: Config) -> str:
    """The model part of the scored file's name that the later phases look for: `effects.score` if
    set, else the model score_dataset.py names its output after (the first of `scoring.models`, else
    `scoring.model`)."""
    scoring = cfg["scoring"]
    return cfg["effects"]["score"] or (scoring["models"] or [scoring["model"]])[0]


def slug(name: str) -> str:
    """A model or dataset name made safe for a file name (e.g. 'hf:org/model' -> 'hf-org-model')."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-")


def smoke_mark(smoke: bool) -> str:
    return SMOKE_MARK if smoke else ""


def template_names(package: str) -> list[str]:
    """The keys of a template package: its module file names."""
    return sorted(p.stem for p in (REPO_DIR / package).glob("*.py") if not p.stem.startswith("_"))


def find_module(package: str, name: str, key: str, cfg: Config):
    """Import `<package>/<name>.py`, the template or backend a config names by file name."""
    import importlib

    available = template_names(package)
    if name not in available:
        raise RateError(f"{cfg.source(key)}: {key}: unknown template '{name}' (available in {package}/: "
                        f"{', '.join(available)})")
    return importlib.import_module(f"{package}.{name}")


def build_from_module(package: str, name: str, key: str, options_key: str, cfg: Config, *args):
    """Import the module `name` (set by config key `key`), merge its OPTIONS with the dict at
    `options_key` (checked by its CHECKS), and call its builder (`build_module`)."""
    module = find_module(package, name, key, cfg)
    section, field = options_key.split(".")
    options = merge_options(cfg[section][field], module.OPTIONS, options_key, cfg.sources, getattr(module, "CHECKS", {}))
    return build_module(module, options, cfg, *args)


def build_module(module, options: dict, cfg: Config, *args):
    """`module.build(options, *args)`, where a builder's complaint about one setting that only it can
    judge (a ConfigError, naming the key) is given the file that setting came from."""
    try:
        return module.build(options, *args)
    except ConfigError as exc:
        raise RateError(f"{cfg.source(exc.key)}: {exc}") from None
