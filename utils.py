"""Plumbing shared by the four RATE scripts: config, paths, JSONL records, `latest`, provenance.

Nothing here knows about rewriting, scoring or statistics; each phase keeps its own logic.
Importing this module has no side effects (no directories, no logging set-up, no `.env` read).
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import json
import logging
import os
import re
import sys
from pathlib import Path
from typing import Any, Callable

import yaml

logger = logging.getLogger(__name__)

REPO_DIR = Path(__file__).resolve().parent
STAMP_FORMAT = "%Y%m%d_%H%M%S"
STAMP_PATTERN = r"\d{8}_\d{6}"
SMOKE_MARK = "_smoke_test"
SUBDIRS = {
    "rewrites": "data/rewrites",
    "scored": "data/scored",
    "effects": "effects",
    "plots": "plots",
    "cache": "data/cache",
    "batch_api": "data/batch_api",
}


class RateError(Exception):
    """A problem the user can fix (bad config, missing input); reported as one line, exit code 2."""


# ---------------------------------------------------------------------------------------------
# Config
# ---------------------------------------------------------------------------------------------

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


def _type_ok(value: Any, expected: type | tuple) -> bool:
    if isinstance(expected, tuple):
        return any(_type_ok(value, one) for one in expected)
    if expected is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if expected is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, expected)


def check_value(dotted: str, value: Any, default: Any, expected: type, source: str) -> Any:
    """Type-check one value; `None` is accepted where the default is `None` (meaning 'derive it')."""
    if value is None and default is None:
        return None
    if isinstance(value, str) and not _type_ok(value, expected) and _type_ok(0.0, expected):
        # YAML 1.1 reads '1e-3' as a string; for a float key it plainly means a number.
        try:
            value = float(value)
        except ValueError:
            pass
    if not _type_ok(value, expected):
        names = " or ".join(t.__name__ for t in (expected if isinstance(expected, tuple) else (expected,)))
        raise RateError(f"{source}: key '{dotted}' must be {names}, got {type(value).__name__} {value!r}")
    if dotted in CHOICES and value not in CHOICES[dotted]:
        raise RateError(f"{source}: key '{dotted}' must be one of {list(CHOICES[dotted])}, got {value!r}")
    return float(value) if expected is float else value


def _unknown_key(dotted: str, known: list[str], source: str) -> RateError:
    hint = difflib.get_close_matches(dotted.rsplit(".", 1)[-1], known, n=1)
    suffix = f" (did you mean '{hint[0]}'?)" if hint else f" (known: {', '.join(sorted(known))})"
    return RateError(f"{source}: unknown key '{dotted}'{suffix}")


def merge_options(given: dict, defaults: dict, prefix: str, sources: dict[str, str]) -> dict:
    """Merge a template's or backend's option dict over its declared defaults, type-checked by the
    type of each default. Used for `*_options` dicts, whose keys only the template knows."""
    merged = dict(defaults)
    for key, value in given.items():
        dotted = f"{prefix}.{key}"
        source = sources.get(dotted, sources.get(prefix, "config"))
        if key not in defaults:
            raise _unknown_key(dotted, list(defaults), source)
        default = defaults[key]
        merged[key] = check_value(dotted, value, default, type(default), source) if default is not None else value
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
        default, expected = schema[key]
        value = check_value(dotted, value, default, expected, source)
        if expected is dict:
            for sub in value:
                sources[f"{dotted}.{sub}"] = source
            data[key] = {**data[key], **value}
        else:
            data[key] = value
        sources[dotted] = source


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
            text = Path(path).read_text()
        except OSError as exc:
            raise RateError(f"{path}: cannot read config ({exc.strerror})") from None
        try:
            loaded = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" line {mark.line + 1}" if mark else ""
            raise RateError(f"{path}:{where} is not valid YAML") from None
        _apply(data, SCHEMA, loaded, shown, sources)
    for dotted, raw in overrides:
        _apply(data, SCHEMA, _parse_override(dotted, raw), "command line", sources)
    return Config(data, sources, shown)


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


def redact(value: Any, key: str = "") -> Any:
    if isinstance(value, dict):
        return {k: redact(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v, key) for v in value]
    if value and isinstance(value, str) and SECRET_NAME.search(key):
        return "***"
    return value


# ---------------------------------------------------------------------------------------------
# Names shared by the phases
# ---------------------------------------------------------------------------------------------


def dataset_key(cfg: Config, section: str) -> str:
    """The dataset+attribute key a phase works on. Original RATE configs name the effects dataset
    'imdb' with concept 'sentiment'; those join to 'imdb_sentiment'."""
    name = cfg[section].get("dataset_name") or cfg["rewrites"]["dataset_name"]
    concept = cfg[section].get("concept")
    if concept and not name.endswith(f"_{concept}"):
        name = f"{name}_{concept}"
    return name


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
    `options_key`, and call its builder."""
    module = find_module(package, name, key, cfg)
    section, field = options_key.split(".")
    options = merge_options(cfg[section][field], module.OPTIONS, options_key, cfg.sources)
    return module.build(options, *args)


# ---------------------------------------------------------------------------------------------
# Files under PROJECT_DIR
# ---------------------------------------------------------------------------------------------


def load_env() -> None:
    """Read `.env` from the repository (never overriding variables already set)."""
    from dotenv import load_dotenv

    load_dotenv(REPO_DIR / ".env", override=False)


def project_dir() -> Path:
    return Path(os.environ.get("PROJECT_DIR") or "./project_data").resolve()


def folder(kind: str) -> Path:
    return project_dir() / SUBDIRS[kind]


def _stamp_regex(base: str, smoke: bool, exts: tuple[str, ...]) -> re.Pattern:
    ext = "|".join(re.escape(e) for e in exts)
    # `*` in a base stands for a model name, e.g. '<dataset>_*_scored': one of the scoring templates or
    # a generic `hf:` model's slug. Not any text, or 'imdb_length_*' would also match 'imdb_length_v2_...'.
    models = "|".join(re.escape(name) for name in template_names("scoring_templates"))
    base_re = re.escape(base).replace(r"\*", rf"(?:{models}|hf-[A-Za-z0-9_.-]+)")
    ours = rf"{base_re}{smoke_mark(smoke)}_(?P<stamp>{STAMP_PATTERN})"
    # The original RATE code put the smoke mark after the stamp; such files are still found.
    theirs = rf"{base_re}_(?P<stamp2>{STAMP_PATTERN}){smoke_mark(smoke)}"
    return re.compile(rf"^(?:{ours}|{theirs})\.(?:{ext})$")


def latest(kind: str, base: str, smoke: bool, exts: tuple[str, ...] = ("jsonl", "json")) -> Path:
    """The newest file (by the timestamp in its name) of `base` in a PROJECT_DIR folder; smoke
    outputs are only found for smoke runs and full outputs only for full runs."""
    directory = folder(kind)
    pattern = _stamp_regex(base, smoke, exts)
    found = []
    for path in directory.glob("*") if directory.is_dir() else []:
        match = pattern.match(path.name)
        if match:
            found.append((match.group("stamp") or match.group("stamp2"), path.name, path))
    if not found:
        what = "smoke-test " if smoke else ""
        raise RateError(f"no {what}file '{base}{smoke_mark(smoke)}_<timestamp>' in {directory} for 'latest'")
    return max(found)[2]


def resolve_input(kind: str, base: str, smoke: bool, filename: str, key: str, cfg: Config) -> Path:
    """`latest` or a path (absolute, relative to the current directory, or to the phase's folder)."""
    if filename == "latest":
        try:
            path = latest(kind, base, smoke)
        except RateError as exc:
            raise RateError(f"{cfg.source(key)}: {key}: {exc}") from None
    else:
        candidates = [Path(filename), folder(kind) / filename]
        path = next((p for p in candidates if p.is_file()), None)
        if path is None:
            raise RateError(f"{cfg.source(key)}: {key}: no file '{filename}' (looked in . and {folder(kind)})")
    logger.info("%s resolved to %s", key, path)
    return path.resolve()


def new_output_path(kind: str, base: str, smoke: bool, ext: str) -> Path:
    """`<folder>/<base>[_smoke_test]_<stamp>.<ext>` with a stamp no file of this base has yet. Two
    runs in the same second would share a stamp, so the second waits for the next second."""
    import time

    directory = folder(kind)
    directory.mkdir(parents=True, exist_ok=True)
    while True:
        stamp = time.strftime(STAMP_FORMAT)
        stem = f"{base}{smoke_mark(smoke)}_{stamp}"
        if not any(directory.glob(f"{stem}.*")):
            return directory / f"{stem}.{ext}"
        time.sleep(0.2)


def _share_with_group(path: Path) -> None:
    group = os.environ.get("GROUP_NAME")
    if not group:
        return
    import shutil

    try:
        shutil.chown(path, group=group)
    except (LookupError, PermissionError) as exc:
        raise RateError(f".env: GROUP_NAME '{group}' cannot own {path.name}: {exc}") from None
    os.chmod(path, os.stat(path).st_mode | 0o040)


def atomic_write(path: Path, write: Callable[[Any], None], mode: str = "w") -> Path:
    """Write through a temporary file in the same folder, then link it into place. `os.link` fails
    if the target exists, so an existing output is never replaced, even by a concurrent run."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, mode) as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        _share_with_group(tmp)
        try:
            os.link(tmp, path)
        except FileExistsError:
            raise RateError(f"refusing to overwrite existing file {path}") from None
    finally:
        tmp.unlink(missing_ok=True)
    return path


# ---------------------------------------------------------------------------------------------
# Records
# ---------------------------------------------------------------------------------------------


def read_records(path: Path) -> list[dict]:
    """Examples from our JSONL or from the original RATE `.json` (an object keyed by example id)."""
    path = Path(path)
    try:
        if path.suffix == ".json":
            loaded = json.loads(path.read_text())
            if isinstance(loaded, dict):
                return [{"id": str(key), **value} for key, value in loaded.items()]
            return list(loaded)
        records = []
        with open(path) as handle:
            for number, line in enumerate(handle, 1):
                if line.strip():
                    records.append(json.loads(line))
        return records
    except json.JSONDecodeError as exc:
        line = f" line {number}" if path.suffix != ".json" else ""
        raise RateError(f"{path}:{line} is not valid JSON ({exc.msg})") from None


def write_jsonl(path: Path, records: list[dict]) -> Path:
    def write(handle):
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")

    return atomic_write(path, write)


def write_json(path: Path, obj: Any) -> Path:
    return atomic_write(path, lambda handle: json.dump(obj, handle, indent=2, ensure_ascii=False, default=str))


# ---------------------------------------------------------------------------------------------
# Provenance
# ---------------------------------------------------------------------------------------------

VERSIONED_PACKAGES = ("numpy", "PyYAML", "vaderSentiment", "pyspellchecker", "matplotlib", "tqdm",
                      "torch", "transformers", "datasets", "openai")


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def git_state() -> dict:
    import subprocess

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", *args], cwd=REPO_DIR, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


def library_versions() -> dict:
    from importlib import metadata
    import platform

    versions = {"python": platform.python_version()}
    for name in VERSIONED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def now() -> str:
    from datetime import datetime, timezone

    return datetime.now(timezone.utc).astimezone().isoformat(timespec="seconds")


def meta_path(output: Path) -> Path:
    return Path(output).with_name(Path(output).stem + ".meta.json")


def write_meta(output: Path, *, script: str, cfg: Config, started_at: str, inputs: list[Path] = (),
               templates: dict | None = None, counts: dict | None = None) -> Path:
    """The sidecar `<stem>.meta.json`: everything needed to say how `output` was made."""
    meta = {
        "output": str(output),
        "script": script,
        "templates": templates or {},
        "config_file": cfg.path,
        "config": redact(dict(cfg)),
        "inputs": [{"path": str(p), "sha256": sha256(p)} for p in inputs],
        "git": git_state(),
        "counts": counts or {},
        "started_at": started_at,
        "finished_at": now(),
        "versions": library_versions(),
    }
    return write_json(meta_path(output), meta)


def read_meta(output: Path) -> dict | None:
    path = meta_path(output)
    return json.loads(path.read_text()) if path.is_file() else None


# ---------------------------------------------------------------------------------------------
# Script entry
# ---------------------------------------------------------------------------------------------


def setup_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        datefmt="%H:%M:%S")


def run_cli(main: Callable[[], Any]) -> int:
    """Run a script's main(); a RateError becomes one line on stderr and exit code 2."""
    try:
        main()
    except RateError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def log_config(cfg: Config) -> None:
    logger.info("config %s resolved to:\n%s", cfg.path, yaml.safe_dump(redact(dict(cfg)), sort_keys=False).rstrip())
