"""The response cache of the model-calling backends: one sqlite file under PROJECT_DIR/data/cache/.

Every request is keyed by a hash of (backend family, model, messages, temperature, max_tokens, and
the number of log-probabilities asked for when the judge asks for any), so a rerun of a config, or another config that asks the same thing, never pays for an answer twice. The
cache holds what the model answered (text, finish reason, usage), not our verdict on it: failure
detectors run on read, so changing them needs no new request. Transport errors are not cached: a
rerun tries those requests again.

WAL journaling lets several processes (two create_dataset runs, SLURM array jobs) read and write the
same file; each answer is committed on its own, so a crash loses at most the answers in flight.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from pathlib import Path
from typing import Iterable, Optional


def request_key(family: str, model: str, messages: list[dict], temperature: float,
                max_tokens: Optional[int], logprobs: int = 0) -> str:
    payload = {"family": family, "model": model, "messages": messages, "temperature": temperature,
               "max_tokens": max_tokens}
    if logprobs:  # only then, so that keys of requests without log-probabilities stay as they were
        payload["logprobs"] = logprobs
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


class ResponseCache:
    """Answers by request key. `path=None` keeps them in memory only (`rewrites.cache: false`).
    A cache file that does not exist yet is made by the first answer stored, so a run that stops
    before any answer (a bad setting, a model that will not load) leaves none behind; `read_only`
    (a dry run) reads an existing file without creating or changing anything."""

    def __init__(self, path: Optional[Path], read_only: bool = False):
        self.path, self.read_only = path, read_only
        self._connection: Optional[sqlite3.Connection] = None
        if path is None:
            self._connection = self._prepare(sqlite3.connect(":memory:", isolation_level=None))
        elif Path(path).is_file():
            self._connection = self._open()

    def _open(self) -> sqlite3.Connection:
        if self.read_only:
            # Without a -wal file beside it nothing is writing the cache, and immutable=1 reads it without
            # making one; with one, a plain read-only open sees the answers still in it.
            live = Path(f"{self.path}-wal").exists()
            return sqlite3.connect(f"{Path(self.path).resolve().as_uri()}?mode=ro{'' if live else '&immutable=1'}",
                                   uri=True, isolation_level=None)
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        # Autocommit mode: each INSERT is its own transaction, durable once it returns.
        connection = sqlite3.connect(str(self.path), timeout=60, isolation_level=None)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        return self._prepare(connection)

    @staticmethod
    def _prepare(connection: sqlite3.Connection) -> sqlite3.Connection:
        connection.execute("CREATE TABLE IF NOT EXISTS answers (key TEXT PRIMARY KEY, family TEXT, model TEXT, "
                           "answer TEXT, created REAL)")
        return connection

    @property
    def connection(self) -> sqlite3.Connection:
        if self._connection is None:
            self._connection = self._open()
        return self._connection

    def get_many(self, keys: Iterable[str]) -> dict[str, dict]:
        keys = list(dict.fromkeys(keys))
        found = {}
        if self._connection is None and not Path(self.path).is_file():
            return found  # no file, no answers; nor one made just to look
        for start in range(0, len(keys), 500):
            chunk = keys[start:start + 500]
            marks = ",".join("?" * len(chunk))
            for key, answer in self.connection.execute(f"SELECT key, answer FROM answers WHERE key IN ({marks})", chunk):
                found[key] = json.loads(answer)
        return found

    def put(self, key: str, family: str, model: str, answer: dict) -> None:
        # INSERT OR IGNORE: the first answer stored for a key stays the answer, whoever wrote it.
        self.connection.execute("INSERT OR IGNORE INTO answers VALUES (?, ?, ?, ?, ?)",
                                (key, family, model, json.dumps(answer, ensure_ascii=False), time.time()))

    def __len__(self) -> int:
        if self._connection is None and not Path(self.path).is_file():
            return 0
        return self.connection.execute("SELECT COUNT(*) FROM answers").fetchone()[0]

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
