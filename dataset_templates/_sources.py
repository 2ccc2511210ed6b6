"""Where a dataset template's raw rows come from: a Hugging Face dataset or a local file.

Every data-backed template takes the same four options (see `source_options`): `hf_dataset` and
`hf_split` name what `datasets.load_dataset(hf_dataset, split=hf_split)` reads (a hub id, or a local
folder of data files); `local_path`, when set, wins and names a local copy (JSONL, a JSON array, or a
file `datasets` can read: parquet, csv, arrow). A relative `local_path` is read under PROJECT_DIR,
which is where the original RATE code kept its raw copies (data/hh-rlhf/, data/ELI5/).

Rows keep their position in the whole dataset (`index`), so example ids do not depend on which slice
a template takes or which examples are sampled later.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Optional

from utils import RateError, project_dir

logger = logging.getLogger(__name__)

OPTION_PREFIX = "rewrites.template_options"
DATASETS_FORMATS = {".parquet": "parquet", ".csv": "csv", ".arrow": "arrow"}


def source_options(hf_dataset: Optional[str], hf_split: str = "train", local_path: Optional[str] = None) -> dict:
    """The loader options of one template, ready to merge into its OPTIONS."""
    return {"hf_dataset": hf_dataset, "hf_split": hf_split, "local_path": local_path, "hf_cache_dir": None}


def describe(options: dict) -> str:
    if options.get("local_path"):
        return f"local file {resolve_local(options['local_path'])}"
    return f"load_dataset({options['hf_dataset']!r}, split={options['hf_split']!r})"


def resolve_local(local_path: str) -> Path:
    path = Path(local_path).expanduser()
    return path if path.is_absolute() else project_dir() / path


def _read_json_file(path: Path) -> list[dict]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise RateError(f"{OPTION_PREFIX}.local_path: {path} is not UTF-8 text (byte {err.start})") from None
    if path.suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            data = None  # not one JSON document: read it as JSON lines below
        if isinstance(data, list):
            return data
        if isinstance(data, dict):
            raise RateError(f"{OPTION_PREFIX}.local_path: {path} holds one JSON object; expected a list of rows "
                            "or one row per line")
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as err:
            raise RateError(f"{OPTION_PREFIX}.local_path: {path} line {number} is not JSON ({err.msg})") from None
    return rows


def _load_with_datasets(options: dict, local: Optional[Path]):
    import datasets

    kwargs = {"cache_dir": options["hf_cache_dir"]} if options.get("hf_cache_dir") else {}
    if local is not None:
        try:
            if local.is_dir():
                return datasets.load_dataset(str(local), split=options["hf_split"], **kwargs)
            return datasets.load_dataset(DATASETS_FORMATS[local.suffix], data_files=str(local), split="train", **kwargs)
        except (OSError, ValueError) as err:  # the datasets library's errors for files it cannot read derive from these
            first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise RateError(f"{OPTION_PREFIX}.local_path: cannot read {local} as a dataset ({first_line})") from None
    from utils import hub

    # offline by choice, the datasets cache answers; otherwise ask the hub once before the library retries
    offline = None if os.environ.get("HF_DATASETS_OFFLINE") or os.environ.get("HF_HUB_OFFLINE") else hub.unreachable()
    if offline:
        raise RateError(f"{OPTION_PREFIX}.hf_dataset: cannot load {options['hf_dataset']!r}: the Hugging Face hub "
                        f"is unreachable ({offline}). Set {OPTION_PREFIX}.local_path to a local copy, or set "
                        f"HF_DATASETS_OFFLINE=1 to use the datasets cache, or run where the hub can be reached")
    try:
        return datasets.load_dataset(options["hf_dataset"], split=options["hf_split"], **kwargs)
    except (OSError, ValueError, FileNotFoundError) as err:
        # Offline without a cached copy, a mistyped id or split: the user fixes it in config.
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise RateError(f"{OPTION_PREFIX}.hf_dataset: cannot load {options['hf_dataset']!r} split "
                        f"{options['hf_split']!r} ({first_line}); set {OPTION_PREFIX}.local_path to a local copy"
                        ) from None


def load_table(options: dict, template: str):
    """The whole dataset as a sequence of row dicts (a list, or a `datasets.Dataset`)."""
    if options.get("local_path"):
        local = resolve_local(options["local_path"])
        if not local.exists():
            raise RateError(f"{OPTION_PREFIX}.local_path: {local} does not exist (dataset template '{template}')")
        if local.is_file() and local.suffix not in DATASETS_FORMATS:
            return _read_json_file(local)
        if local.is_file() or local.is_dir():
            return _load_with_datasets(options, local)
    if not options.get("hf_dataset"):
        raise RateError(f"{OPTION_PREFIX}.local_path: dataset template '{template}' has no Hugging Face copy; "
                        "set local_path to the dataset file")
    return _load_with_datasets(options, None)


def read_rows(options: dict, template: str, fields: tuple[str, ...], start: Optional[int] = None,
              stop: Optional[int] = None) -> list[tuple[int, dict]]:
    """(index in the whole dataset, row) for the rows in `[start:stop]` (Python slice rules, so
    `start=-12500` is the last 12,500), after checking that the rows have `fields`."""
    table = load_table(options, template)
    positions = range(len(table))[slice(start, stop)]
    if hasattr(table, "select"):  # a datasets.Dataset: materialise only the slice
        rows = list(table.select(positions))
    else:
        rows = [table[i] for i in positions]
    for number, row in enumerate(rows, 1):
        if not isinstance(row, dict):
            raise RateError(f"{OPTION_PREFIX}.local_path: row {number} of {describe(options)} is "
                            f"{type(row).__name__} {str(row)[:40]}, not a row of named fields")
    if rows:
        missing = [f for f in fields if f not in rows[0]]
        if missing:
            raise RateError(f"{OPTION_PREFIX}: the rows of {describe(options)} lack {missing} which dataset template "
                            f"'{template}' reads (found {sorted(rows[0])})")
    logger.info("%s: %d of %d rows from %s", template, len(rows), len(table), describe(options))
    return list(zip(positions, rows))
