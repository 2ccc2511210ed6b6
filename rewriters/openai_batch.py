"""The `openai_batch` rewriter: the OpenAI Batch API (half the price, results within 24 h).

Requests are written as JSONL files of at most `max_requests_per_file` lines and `max_bytes_per_file`
bytes (the API's limits: 50,000 and 200 MB), uploaded (purpose "batch") and submitted. Each batch is
recorded under PROJECT_DIR/data/batch_api/ *before* any waiting (`<input file id>.batch.json`: batch
id, and which custom_id is which request), so a rerun after a crash reattaches to the batches still
pending instead of paying for them again. Batches are polled every `rewrites.poll_interval` seconds,
their status and request counts logged. Results are matched by custom_id, never by line order.

When a batch ends `failed`, `expired` or `cancelled`, its finished lines are kept and only the
missing custom_ids are resubmitted (each request at most `rewrites.max_submissions` times in a run).
The error file is read: an error the request itself caused (HTTP 4xx) is a recorded failure; an
expired, cancelled or server-side (429/5xx) one is resubmitted. A batch refused for the model's
enqueued-token limit is resubmitted once the other batches of the run have finished.
"""

from __future__ import annotations

import io
import json
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Callable, Optional

import utils
from rewriters import RewriteRequest
from rewriters._engine import EngineBackend
from utils.schema import AT_LEAST_1
from rewriters._openai_common import (answer_from_completion, cache_family, client_arguments, fatal_reason,
                                      mask_secrets, on_openai)

logger = logging.getLogger(__name__)

OPTIONS = {
    "max_requests_per_file": 50_000,
    "max_bytes_per_file": 200_000_000,
}
CHECKS = {"max_requests_per_file": AT_LEAST_1, "max_bytes_per_file": AT_LEAST_1}

FINAL = ("completed", "failed", "expired", "cancelled")
TOKEN_LIMIT = "token_limit_exceeded"


def _write_state(path: Path, state: dict) -> None:
    # A state file, updated in place (unlike outputs): written whole, then renamed over the old one.
    utils.atomic_write(path, lambda handle: handle.write(json.dumps(state, indent=1)), replace=True)


def _read_state(path: Path) -> dict:
    try:
        state = utils.read_json(path)
    except utils.RateError as exc:
        raise utils.RateError(f"{exc}: a batch state file; if its batch is lost, move the file out of the folder and "
                              "rerun") from None
    if not isinstance(state, dict) or not isinstance(state.get("keys"), dict):
        raise utils.RateError(f"{path}: not a batch state file (no 'keys' mapping); move it out of the folder and "
                              "rerun")
    return state


def split_lines(lines: list[str], max_requests: int, max_bytes: int) -> list[list[str]]:
    """Consecutive chunks of JSONL lines within both limits (a file holds whole lines only)."""
    chunks, current, size = [], [], 0
    for line in lines:
        length = len(line.encode()) + 1
        if length > max_bytes:
            raise utils.RateError(f"rewrites.backend_options.max_bytes_per_file: one request alone is {length} bytes")
        if current and (len(current) >= max_requests or size + length > max_bytes):
            chunks.append(current)
            current, size = [], 0
        current.append(line)
        size += length
    if current:
        chunks.append(current)
    return chunks


class BatchRewriter(EngineBackend):
    batch = True

    def __init__(self, options: dict, model: str, temperature: float, settings: Optional[dict],
                 section: str = "rewrites"):
        super().__init__("openai_batch", model, temperature, settings, section)
        self.options = options
        self.files_written = 0

    def cache_family(self) -> str:
        return cache_family(self.settings)

    @property
    def openai_endpoint(self) -> bool:
        return on_openai(self.settings)

    @property
    def folder(self) -> Path:
        return utils.folder("batch_api")

    def send(self, pending: list[tuple[str, RewriteRequest]], answer: Callable, fail: Callable, bar) -> None:
        import openai

        try:
            self._send(pending, answer, fail, bar)
        except openai.APIStatusError as exc:
            message = mask_secrets(str(getattr(exc, "message", exc)))[:300]
            reason = fatal_reason(exc.status_code, message, None, self.section) or f"HTTP {exc.status_code} ({message})"
            raise utils.RateError(f"{self.name}: the Batch API refused the run, {reason}. Batches already recorded "
                                  f"under {self.folder} are collected by a rerun; no output was written") from None
        except openai.APIConnectionError as exc:
            raise utils.RateError(f"{self.name}: cannot reach the Batch API ({exc}) after {self.settings['max_retries']} "
                                  "retries; a rerun collects the batches already submitted") from None

    def _send(self, pending: list[tuple[str, RewriteRequest]], answer: Callable, fail: Callable, bar) -> None:
        import openai

        self.client = openai.OpenAI(**client_arguments(self.settings, max_retries=self.settings["max_retries"], section=self.section))
        self.folder.mkdir(parents=True, exist_ok=True)
        wanted = dict(pending)
        active = self._reattach(wanted)
        queue = set(wanted) - {key for state in active for key in state["keys"].values()}
        submissions = {key: 0 for key in wanted}
        hold = False  # the enqueued-token limit: wait for the run's batches in flight before resubmitting
        try:
            while queue or active:
                if queue and not (hold and active):
                    exhausted = {key for key in queue if submissions[key] >= self.settings["max_submissions"]}
                    for key in exhausted:
                        fail(key, f"batch: no result after {submissions[key]} submissions")
                    ready = [key for key in wanted if key in queue and key not in exhausted]
                    for key in ready:
                        submissions[key] += 1
                    active += self._submit([(key, wanted[key]) for key in ready])
                    queue, hold = set(), False
                time.sleep(self.settings["poll_interval"])
                in_batches = 0
                for state in list(active):
                    try:
                        batch = self._poll(state)
                    except openai.NotFoundError:
                        # A recorded batch the server does not know (another account or server): its
                        # requests were never answered here, so they go out again.
                        logger.warning("batch %s: unknown to the server; resubmitting its requests", state["batch_id"])
                        active.remove(state)
                        _write_state(Path(state.pop("path")), {**state, "collected": True, "status": "not found"})
                        queue |= {key for key in state["keys"].values() if key in wanted}
                        continue
                    counts = batch.request_counts
                    in_batches += (counts.completed + counts.failed) if counts else 0
                    if batch.status not in FINAL:
                        continue
                    active.remove(state)
                    missing, token_limited = self._collect(state, batch, wanted, answer, fail)
                    queue |= missing
                    hold = hold or token_limited
                bar.set_postfix_str(f"in running batches: {in_batches} done", refresh=True)
        finally:
            self.client.close()

    # -- lifecycle -----------------------------------------------------------------------------
    def _reattach(self, wanted: dict) -> list[dict]:
        """Batches of an earlier run that hold requests we still need and were never collected."""
        active = []
        for path in sorted(self.folder.glob("*.batch.json")):
            state = _read_state(path)
            if state.get("collected") or not state.get("batch_id"):
                continue
            if state.get("family") != self.cache_family() or not set(state["keys"].values()) & set(wanted):
                continue
            logger.info("reattaching to batch %s (%d requests, submitted %s)", state["batch_id"], len(state["keys"]),
                        state["submitted_at"])
            state["path"] = str(path)
            self.stats["batches_reattached"] += 1
            active.append(state)
        return active

    def _submit(self, items: list[tuple[str, RewriteRequest]]) -> list[dict]:
        lines, ids = [], {}
        for key, request in items:
            ids[request.custom_id] = key
            lines.append(json.dumps({"custom_id": request.custom_id, "method": "POST", "url": "/v1/chat/completions",
                                     "body": self.body(request)}, ensure_ascii=False))
        states = []
        stamp = time.strftime(utils.STAMP_FORMAT)
        chunks = split_lines(lines, self.options["max_requests_per_file"], self.options["max_bytes_per_file"])
        for chunk in chunks:
            data = ("\n".join(chunk) + "\n").encode()
            self.files_written += 1
            # A fresh name, created exclusively: never another run's file, nor a link planted at the name.
            descriptor, name = tempfile.mkstemp(prefix=f"{stamp}_{self.files_written}_", suffix=".requests.jsonl",
                                                dir=self.folder)
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(data)
            request_file = Path(name)
            uploaded = self.client.files.create(file=(request_file.name, io.BytesIO(data), "application/jsonl"),
                                                purpose="batch")
            chunk_ids = [json.loads(line)["custom_id"] for line in chunk]
            state = {"input_file_id": uploaded.id, "request_file": str(request_file), "batch_id": None,
                     "family": self.cache_family(), "model": self.model, "submitted_at": utils.now(),
                     "keys": {custom_id: ids[custom_id] for custom_id in chunk_ids}}
            path = self.folder / f"{uploaded.id}.batch.json"
            _write_state(path, state)  # before creating the batch: a crash now leaves a known upload
            batch = self.client.batches.create(input_file_id=uploaded.id, endpoint="/v1/chat/completions",
                                               completion_window="24h")
            state["batch_id"] = batch.id
            _write_state(path, state)  # before waiting for it: a rerun reattaches
            state["path"] = str(path)
            self.stats["batches_submitted"] += 1
            self.stats["sent"] += len(chunk)
            logger.info("submitted batch %s: %d requests (%s)", batch.id, len(chunk), request_file.name)
            states.append(state)
        return states

    def _poll(self, state: dict):
        batch = self.client.batches.retrieve(state["batch_id"])
        counts = batch.request_counts
        seen = (batch.status, counts.completed if counts else None, counts.failed if counts else None)
        if seen != state.get("seen"):
            state["seen"] = seen
            logger.info("batch %s: %s, %s of %s done, %s failed", batch.id, batch.status, seen[1],
                        counts.total if counts else "?", seen[2])
        return batch

    def _download(self, file_id: Optional[str], name: str) -> list[dict]:
        if not file_id:
            return []
        content = self.client.files.content(file_id).content
        (self.folder / name).write_bytes(content)
        return [json.loads(line) for line in content.decode().splitlines() if line.strip()]

    def _collect(self, state: dict, batch, wanted: dict, answer: Callable, fail: Callable) -> tuple[set, bool]:
        """Record what a finished batch produced; return the keys to resubmit and whether the batch
        was refused for the enqueued-token limit."""
        keys = state["keys"]
        seen: set = set()
        lines = self._download(batch.output_file_id, f"{batch.id}_output.jsonl")
        errors = self._download(batch.error_file_id, f"{batch.id}_errors.jsonl")
        for line in lines + errors:
            key = keys.get(line.get("custom_id"))
            response = line.get("response") or {}
            status = response.get("status_code")
            if key is not None and key not in wanted and status == 200:
                # Paid for, though not needed by this run (cached since, or another run's): keep it.
                body = response.get("body") or {}
                self.count_usage(body.get("usage"), usable=False)
                try:
                    self.cache.put(key, self.cache_family(), self.model, answer_from_completion(body))
                except ValueError as exc:
                    logger.debug("batch %s: unneeded line %s is malformed: %s", batch.id, line.get("custom_id"), exc)
                continue
            if key is None or key not in wanted:
                continue
            if status == 200:
                try:
                    answer(key, answer_from_completion(response.get("body") or {}))
                    seen.add(key)
                except ValueError as exc:
                    self.count_usage((response.get("body") or {}).get("usage"), usable=False)
                    logger.warning("batch %s: %s: %s", batch.id, line.get("custom_id"), exc)
            elif status is not None and status < 500 and status not in (408, 429):
                message = ((response.get("body") or {}).get("error") or {}).get("message", "")
                fail(key, f"batch: HTTP {status}: {message}"[:300])
                seen.add(key)
            # expired, cancelled, 429 and 5xx lines stay missing: they are resubmitted
        codes = [e.code for e in (batch.errors.data if batch.errors and batch.errors.data else [])]
        token_limited = TOKEN_LIMIT in codes
        missing = {key for key in keys.values() if key in wanted and key not in seen}
        invalid = [e for e in (batch.errors.data if batch.errors and batch.errors.data else []) if e.line is not None]
        if batch.status == "failed" and invalid:
            # Validation rejected the file (errors name its lines): resubmitting would fail again.
            message = "; ".join(f"{e.code}: {e.message}" for e in batch.errors.data)[:300]
            for key in missing:
                fail(key, f"batch failed: {message}")
            missing = set()
        if missing:
            logger.warning("batch %s ended %s with %d of %d requests unanswered%s; resubmitting them", batch.id,
                           batch.status, len(missing), len(keys), " (enqueued-token limit)" if token_limited else "")
        self.stats[f"batches_{batch.status}"] += 1
        path = Path(state.pop("path"))
        state.pop("seen", None)
        _write_state(path, {**state, "collected": True, "status": batch.status})
        return missing, token_limited


def build(options: dict, template, model: str, temperature: float, seed: int, settings: Optional[dict] = None,
          section: str = "rewrites"):
    backend = BatchRewriter(options, model, temperature, settings, section)
    if not backend.settings["dry_run"]:
        client_arguments(backend.settings, max_retries=0, section=backend.section)  # a missing key stops the run now, not after the judge
    return backend
