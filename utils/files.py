"""Files under PROJECT_DIR: folders, timestamped names, `latest`, atomic never-overwriting writes,
and the JSONL records the phases exchange."""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path
from typing import Any, Callable

from utils.config import REPO_DIR, Config, RateError, smoke_mark, template_names

logger = logging.getLogger(__name__)

# The completion key of the oracle counterfactual in a record (simulated data only): written by
# create_dataset.py, scored like any completion, and read by treatment_effects.py as the truth.
ORACLE = "oracle counterfactual"
STAMP_FORMAT = "%Y%m%d_%H%M%S"
STAMP_PATTERN = r"\d{8}_\d{6}"
SUBDIRS = {
    "rewrites": "data/rewrites",
    "scored": "data/scored",
    "effects": "effects",
    "plots": "plots",
    "cache": "data/cache",
    "batch_api": "data/batch_api",
}


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
            # two files of one base can share a stamp when `*` stands for different models; then the
            # one written last is the latest
            found.append((match.group("stamp") or match.group("stamp2"), path.stat().st_mtime_ns, path.name, path))
    if not found:
        what = "smoke-test " if smoke else ""
        raise RateError(f"no {what}file '{base}{smoke_mark(smoke)}_<timestamp>' in {directory} for 'latest'")
    return max(found)[-1]


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
