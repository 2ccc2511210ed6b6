"""Files under PROJECT_DIR: folders, atomic never-overwriting writes, and the JSONL records the phases
exchange. What an output is, its name and `latest`, belong to utils/artifacts.py."""

from __future__ import annotations

import json
import logging
import hashlib
import os
import re
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable

from utils.config import REPO_DIR, RateError

logger = logging.getLogger(__name__)

STAMP_FORMAT = "%Y%m%d_%H%M%S"
STAMP_PATTERN = r"\d{8}_\d{6}"
SUBDIRS = {
    "rewrites": "data/rewrites",
    "scored": "data/scored",
    "effects": "effects",
    "plots": "plots",
    "experiments": "experiments",
    "audits": "audits",
    "cache": "data/cache",
    "batch_api": "data/batch_api",
}


@contextmanager
def exclusive(name: str, what: str, enabled: bool = True):
    """Hold PROJECT_DIR/.locks/<name>.lock for the block: a second run asking for the same lock stops at
    once with one line naming the run that holds it, instead of paying for the same requests twice or
    submitting the same batches again. The lock is the kernel's (flock): a run that crashes or is
    killed releases it; the file goes when the lock does. `enabled=False` holds nothing (and creates
    nothing)."""
    if not enabled:
        yield
        return
    import fcntl
    import sys
    from datetime import datetime

    directory = project_dir() / ".locks"
    directory.mkdir(parents=True, exist_ok=True)
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", name)
    if len(safe) > 150:  # file names stop at 255 bytes; a digest keeps long ones apart
        safe = f"{safe[:120]}-{hashlib.sha256(name.encode()).hexdigest()[:16]}"
    path = directory / f"{safe}.lock"
    while True:
        handle = open(path, "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "a process that wrote nothing yet"
            handle.close()
            raise RateError(f"{what} is being made by another run ({holder}); wait for it to finish, or give this "
                            "run another PROJECT_DIR") from None
        # The holder before us removes the file as it lets go; a lock on that removed file guards nothing.
        try:
            if os.stat(path).st_ino == os.fstat(handle.fileno()).st_ino:
                break
        except FileNotFoundError:
            logger.debug("lock file %s went while this run opened it; trying again", path)
        handle.close()
    handle.truncate(0)  # a killed run leaves its file (not its lock) behind
    handle.write(f"pid {os.getpid()}, started {datetime.now().isoformat(timespec='seconds')}: {' '.join(sys.argv)}")
    handle.flush()
    try:
        yield
    finally:
        path.unlink(missing_ok=True)  # before unlocking, so that nobody locks a file about to go
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


def load_env() -> None:
    """Read `.env` from the repository (never overriding variables already set)."""
    from dotenv import load_dotenv

    load_dotenv(REPO_DIR / ".env", override=False)


def project_dir() -> Path:
    return Path(os.environ.get("PROJECT_DIR") or "./project_data").resolve()


def folder(kind: str) -> Path:
    return project_dir() / SUBDIRS[kind]


def check_project_dir() -> None:
    path = project_dir()
    if path.exists() and not path.is_dir():
        raise RateError(f"PROJECT_DIR {path} is a file, not a folder; set PROJECT_DIR (in .env or the environment) "
                        "to a folder")


def check_group() -> None:
    """A GROUP_NAME that does not exist, or that this user is not in, fails at the start of a run,
    not when its first output is written after the paid requests."""
    group = os.environ.get("GROUP_NAME")
    if not group:
        return
    import grp

    try:
        gid = grp.getgrnam(group).gr_gid
    except KeyError:
        raise RateError(f".env: GROUP_NAME '{group}' is not a group on this machine") from None
    if os.geteuid() != 0 and gid not in os.getgroups() and gid != os.getegid():
        raise RateError(f".env: GROUP_NAME '{group}': this user is not in the group, so it cannot own the outputs "
                        "(`id -Gn` lists yours)")


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


def _umask() -> int:
    """The process umask, read without changing it where Linux shows it."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        logger.debug("no /proc/self/status; reading the umask by setting it")
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write(path: Path, write: Callable[[Any], None], mode: str = "w", replace: bool = False) -> Path:
    """Write through a temporary file in the same folder, then link it into place. `os.link` fails
    if the target exists, so an existing output is never replaced, even by a concurrent run.
    `replace=True` (state files, never outputs) renames it over the old file instead."""
    import tempfile

    path = Path(path)
    # A fresh random name, created exclusively: a link planted at a guessable temporary path cannot
    # make this write land elsewhere.
    descriptor, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(name)
    try:
        os.fchmod(descriptor, 0o666 & ~_umask())  # mkstemp makes 0600; an output is as readable as any new file
        with os.fdopen(descriptor, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        _share_with_group(tmp)
        if replace:
            os.replace(tmp, path)
            return path
        try:
            os.link(tmp, path)
        except FileExistsError:
            raise RateError(f"refusing to overwrite existing file {path}") from None
    finally:
        tmp.unlink(missing_ok=True)
    return path


def json_parser():
    """orjson's parser where it is installed (several times faster on scored records, and most of phase
    3's time is parsing), else the standard library's. A line orjson refuses is read again by the standard library,
    which also takes the NaN and Infinity that Python's json writes for a reward that is not a number;
    only a line both refuse is an error."""
    try:
        import orjson
    except ModuleNotFoundError:
        return json.loads

    def loads(line: bytes):
        try:
            return orjson.loads(line)
        except orjson.JSONDecodeError:
            return json.loads(line)

    return loads


def _without_texts(record: dict) -> dict:
    """The record with each completion's text replaced by True (None stays None: a failed rewrite), for
    a phase that reads rewards and verdicts only; the texts are most of a scored file's memory."""
    completions = record.get("completions")
    if isinstance(completions, dict):
        record["completions"] = {key: None if text is None else True for key, text in completions.items()}
    return record


def read_records(path: Path, texts: bool = True) -> list[dict]:
    """Examples from our JSONL or from the original RATE `.json` (an object keyed by example id);
    `texts=False` drops the completions' texts as each line is read (_without_texts). A file that is
    not UTF-8, not JSON, or whose records are not objects is one error naming the file (and the line,
    for JSONL)."""
    path = Path(path)
    keep = (lambda record: record) if texts else _without_texts
    if path.suffix == ".json":
        return [keep(record) for record in _original_records(path)]
    loads = json_parser()
    return [keep(parse_record(path, number, line, loads)) for number, line in record_lines(path)]


def _original_records(path: Path) -> list[dict]:
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise RateError(f"{path}: is not valid JSON ({exc.msg})") from None
    except UnicodeDecodeError:
        raise RateError(f"{path}: is not UTF-8 text") from None
    except IsADirectoryError:
        raise RateError(f"{path}: is a folder, not a file of records") from None
    if isinstance(loaded, dict) and all(isinstance(v, dict) for v in loaded.values()):
        return [{"id": str(key), **value} for key, value in loaded.items()]
    if isinstance(loaded, list) and all(isinstance(v, dict) for v in loaded):
        return loaded
    raise RateError(f"{path}: not records: expected an object of examples keyed by id, or a list of examples")


def open_lines(path: Path):
    """A JSONL file opened for reading its lines as bytes; a folder is one error naming it."""
    try:
        return open(path, "rb")
    except IsADirectoryError:
        raise RateError(f"{path}: is a folder, not a file of records") from None


def record_lines(path: Path):
    """(line number, bytes) of every line of a JSONL file that is not blank."""
    with open_lines(path) as handle:
        for number, line in enumerate(handle, 1):
            if not line.isspace():
                yield number, line


def parse_record(path: Path, number: int, line: bytes, loads=None) -> dict:
    """One JSONL line as a record, or one error naming the file and the line."""
    try:
        record = (loads or json_parser())(line)
    except json.JSONDecodeError as exc:
        raise RateError(f"{path}: line {number} is not valid JSON ({exc.msg})") from None
    except UnicodeDecodeError:
        raise RateError(f"{path}: line {number} is not UTF-8 text") from None
    if not isinstance(record, dict):
        raise RateError(f"{path}: line {number} is not a record (a JSON object), but "
                        f"{type(record).__name__} {line.strip()[:40].decode('utf-8', 'replace')}")
    return record


def read_json(path: Path) -> Any:
    """One JSON document; a file that is missing, a folder, not UTF-8 or not JSON is one error naming it."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise RateError(f"{path}: not valid JSON ({exc.msg}, line {exc.lineno})") from None
    except UnicodeDecodeError:
        raise RateError(f"{path}: not UTF-8 text") from None
    except IsADirectoryError:
        raise RateError(f"{path}: is a folder, not a JSON file") from None
    except FileNotFoundError:
        raise RateError(f"{path}: no such file") from None


def write_jsonl(path: Path, records: list[dict]) -> Path:
    def write(handle):
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")

    return atomic_write(path, write)


def write_json(path: Path, obj: Any) -> Path:
    return atomic_write(path, lambda handle: json.dump(obj, handle, indent=2, ensure_ascii=False, default=str))
