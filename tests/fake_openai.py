"""A local OpenAI-compatible server for the tests and bench/: chat completions, files and batches,
with faults injected on demand. Standard library only; runs in a thread on 127.0.0.1.

    server = FakeOpenAI(responder).start()     # server.url is the base_url ("http://127.0.0.1:PORT/v1")
    server.add_fault("429", times=2, retry_after=0.05)
    ...
    server.stop()

`responder(prompt) -> str` writes each completion (default: a deterministic rewrite-looking text).
`serial=True` answers one chat request at a time, as llama.cpp with one slot or `transformers serve`
do (the others wait their turn); `max_in_flight` records the most chat requests the server held at
once. When a request asks for `logprobs`, the answer's first token comes with `top_logprobs`
alternatives: `logprober(prompt, text) -> [[token, logprob], ...]` gives them (default: the first
word of the answer, certain).
Chat faults (each used `times` times, by requests whose prompt contains `match`): "429" (with
Retry-After), "500", "timeout" (answers after `delay` s), "malformed" (a 200 that is not JSON),
"no_choices" (a 200 JSON with no choices, billed in its usage), "refusal" (an apology), "refusal_field", "empty", "echo"
(the prompt back), "length" (finish_reason length), "content_filter", "400", "401" (a wrong key, the
message echoing it masked as OpenAI does), "403", "404" (no such model), "quota" (a 429 saying the
quota is exhausted), "drip" (a 200 that sends one byte every `delay` s, for ever), "stall" (accepts,
then says nothing until the server stops) and "reset" (closes the connection without an answer).
Batch plans (one per created batch, in order; default: complete everything): see `BatchPlan`.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Optional


def default_responder(prompt: str) -> str:
    digest = hashlib.sha256(prompt.encode()).hexdigest()[:10]
    return f"A rewritten text ({digest}) of {len(prompt)} characters."


@dataclass
class Fault:
    kind: str
    times: int = 1
    match: str = ""
    retry_after: Optional[float] = None
    delay: float = 0.0


@dataclass
class BatchPlan:
    """How one batch ends. `end`: completed | failed | expired | cancelled | token_limit |
    errors_only (completed with no output file, every line in the error file). `finish`: how many
    lines (in input order) get an answer (None: all). `errors`: how many further lines end in the
    error file with HTTP `error_status`. `polls`: GETs answered in_progress before the end.
    Output lines are written in reverse order, so a client matching by line order fails."""

    end: str = "completed"
    finish: Optional[int] = None
    errors: int = 0
    error_status: int = 400
    polls: int = 1


class FakeOpenAI:
    def __init__(self, responder: Callable[[str], str] = default_responder, latency: float = 0.0,
                 serial: bool = False, logprober: Optional[Callable[[str, str], list]] = None):
        self.responder = responder
        self.latency = latency
        self.serial = threading.Lock() if serial else None
        self.logprober = logprober
        self.in_flight = 0
        self.max_in_flight = 0
        self.gave_up = 0  # slow answers the client hung up on
        self.valid_key: Optional[str] = None  # when set, every route refuses another key with a 401
        self.refused = 0
        self.lock = threading.RLock()
        self.faults: list[Fault] = []
        self.batch_plans: list[BatchPlan] = []
        self.chat_received: list[dict] = []   # every chat request body, retries included
        self.chat_times: list[float] = []     # time.monotonic() of each, in the same order
        self.chat_answered = 0                # 200 responses with a completion
        self.hang_after: Optional[int] = None  # answer this many, then hold every further request
        self.release = threading.Event()
        self.files: dict[str, bytes] = {}
        self.batches: dict[str, dict] = {}
        self.batch_lines: list[list[str]] = []  # custom_ids of each created batch
        self.auth_headers: set[str] = set()
        self.events: list[tuple[str, str]] = []  # ("created" | "ended", batch id), in order

    # -- control ---------------------------------------------------------------------------------
    def add_fault(self, kind: str, times: int = 1, match: str = "", retry_after: Optional[float] = None,
                  delay: float = 0.0) -> None:
        with self.lock:
            self.faults.append(Fault(kind, times, match, retry_after, delay))

    def start(self) -> "FakeOpenAI":
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output quiet
                return None

            def do_GET(self):
                fake._route(self, "GET")

            def do_POST(self):
                fake._route(self, "POST")

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 256

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    # -- HTTP ------------------------------------------------------------------------------------
    def _route(self, handler, method: str) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        self.auth_headers.add(handler.headers.get("Authorization", ""))
        path = handler.path.split("?")[0]
        if self.valid_key is not None and handler.headers.get("Authorization") != f"Bearer {self.valid_key}":
            with self.lock:
                self.refused += 1
            return self._json(handler, 401, {"error": {"message": "Incorrect API key provided: sk-wr***ng.",
                                                    "type": "invalid_request_error", "code": "invalid_api_key"}})
        try:
            if method == "POST" and path == "/v1/chat/completions":
                return self._chat(handler, json.loads(raw))
            if method == "POST" and path == "/v1/files":
                return self._upload(handler, raw)
            match = re.fullmatch(r"/v1/files/([\w-]+)/content", path)
            if method == "GET" and match:
                return self._send(handler, 200, self.files[match.group(1)], "application/octet-stream")
            if method == "POST" and path == "/v1/batches":
                return self._json(handler, 200, self._create_batch(json.loads(raw)))
            match = re.fullmatch(r"/v1/batches/([\w-]+)(/cancel)?", path)
            if match and method == "GET" and not match.group(2):
                return self._json(handler, 200, self._advance(match.group(1)))
            if match and method == "POST" and match.group(2):
                with self.lock:
                    batch = self.batches[match.group(1)]
                    batch["plan"] = BatchPlan(end="cancelled", finish=batch["plan"].finish or 0, polls=0)
                    batch["public"]["status"] = "cancelling"
                    return self._json(handler, 200, batch["public"])
        except KeyError:
            return self._json(handler, 404, {"error": {"message": "not found", "type": "invalid_request_error"}})
        self._json(handler, 404, {"error": {"message": f"no route {method} {path}"}})

    def _send(self, handler, status: int, body: bytes, content_type: str, headers: dict = None) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.end_headers()
        try:
            handler.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            handler.close_connection = True  # the client gave up (a timeout test): nothing to deliver

    def _json(self, handler, status: int, obj: dict, headers: dict = None) -> None:
        self._send(handler, status, json.dumps(obj).encode(), "application/json", headers)

    # -- chat ------------------------------------------------------------------------------------
    def _take_fault(self, prompt: str) -> Optional[Fault]:
        with self.lock:
            for fault in self.faults:
                if fault.times > 0 and fault.match in prompt:
                    fault.times -= 1
                    return fault
        return None

    def completion(self, body: dict, text: Optional[str], finish: str = "stop", refusal: Optional[str] = None) -> dict:
        prompt = body["messages"][-1]["content"]
        logprobs = None
        if body.get("logprobs") and text:
            first = text.split()[0] if text.split() else text
            top = (self.logprober(prompt, text) if self.logprober else [[first, 0.0]])[:body.get("top_logprobs") or 1]
            logprobs = {"content": [{"token": first, "logprob": top[0][1] if top else 0.0, "bytes": None,
                                     "top_logprobs": [{"token": t, "logprob": lp, "bytes": None} for t, lp in top]}],
                        "refusal": None}
        return {"id": f"chatcmpl-{uuid.uuid4().hex[:12]}", "object": "chat.completion", "created": int(time.time()),
                "model": body.get("model", "fake"),
                "choices": [{"index": 0, "finish_reason": finish, "logprobs": logprobs,
                             "message": {"role": "assistant", "content": text, "refusal": refusal}}],
                "usage": {"prompt_tokens": len(prompt) // 4 + 1, "completion_tokens": len(text or "") // 4 + 1,
                          "total_tokens": len(prompt) // 4 + len(text or "") // 4 + 2}}

    def _chat(self, handler, body: dict) -> None:
        with self.lock:
            self.chat_received.append(body)
            self.chat_times.append(time.monotonic())
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.serial is None:
                return self._chat_answer(handler, body)
            with self.serial:
                return self._chat_answer(handler, body)
        finally:
            with self.lock:
                self.in_flight -= 1

    def _chat_answer(self, handler, body: dict) -> None:
        prompt = body["messages"][-1]["content"]
        if self.latency:
            time.sleep(self.latency)
        fault = self._take_fault(prompt)
        kind = fault.kind if fault else None
        if kind == "429":
            return self._json(handler, 429, {"error": {"message": "Rate limit reached", "type": "requests"}},
                              {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {})
        if kind == "500":
            return self._json(handler, 500, {"error": {"message": "The server had an error", "type": "server_error"}})
        if kind == "400":
            return self._json(handler, 400, {"error": {"message": "Invalid request", "type": "invalid_request_error"}})
        if kind == "401":
            return self._json(handler, 401, {"error": {"message": "Incorrect API key provided: sk-test-7f***********CRET. "
                                                               "You can find your API key at https://platform.openai.com.",
                                                    "type": "invalid_request_error", "code": "invalid_api_key"}})
        if kind == "403":
            return self._json(handler, 403, {"error": {"message": "You are not allowed to use this model.",
                                                    "type": "invalid_request_error"}})
        if kind == "404":
            return self._json(handler, 404, {"error": {"message": f"The model `{body.get('model')}` does not exist",
                                                    "type": "invalid_request_error", "code": "model_not_found"}})
        if kind == "quota":
            return self._json(handler, 429, {"error": {"message": "You exceeded your current quota.",
                                                    "type": "insufficient_quota", "code": "insufficient_quota"}})
        if kind == "reset":
            handler.close_connection = True
            handler.connection.shutdown(2)
            return None
        if kind == "stall":
            self.release.wait(120)
            return None
        if kind == "drip":
            handler.send_response(200)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", "1000000")
            handler.end_headers()
            handler.close_connection = True
            try:
                while not self.release.is_set():
                    handler.wfile.write(b" ")
                    handler.wfile.flush()
                    time.sleep(fault.delay or 0.5)
            except (BrokenPipeError, ConnectionResetError):
                self.gave_up += 1  # the client hung up: what the test waits for
            return None
        if kind == "timeout":
            time.sleep(fault.delay)
        if kind == "malformed":
            return self._send(handler, 200, b'{"choices": [ not json', "application/json")
        if kind == "no_choices":
            # Billed all the same, as a real server would (prompt tokens: a rough count).
            usage = {"prompt_tokens": len(json.dumps(body["messages"])) // 4, "completion_tokens": 3}
            return self._json(handler, 200, {"id": "x", "object": "chat.completion", "choices": [], "usage": usage})
        if self.hang_after is not None:
            with self.lock:
                hang = self.chat_answered >= self.hang_after
            if hang:
                self.release.wait(60)
        answer = self.chat_answer(body, kind)
        with self.lock:
            self.chat_answered += 1
        self._json(handler, 200, answer)

    def chat_answer(self, body: dict, kind: Optional[str] = None) -> dict:
        prompt = body["messages"][-1]["content"]
        if kind == "refusal":
            return self.completion(body, "I'm sorry, but I can't help with that request.")
        if kind == "refusal_field":
            return self.completion(body, None, refusal="I can't assist with that.")
        if kind == "empty":
            return self.completion(body, "")
        if kind == "echo":
            return self.completion(body, prompt)
        if kind == "length":
            return self.completion(body, self.responder(prompt)[:10], finish="length")
        if kind == "content_filter":
            return self.completion(body, None, finish="content_filter")
        return self.completion(body, self.responder(prompt))

    # -- files and batches -----------------------------------------------------------------------
    def _upload(self, handler, raw: bytes) -> None:
        boundary = handler.headers["Content-Type"].split("boundary=")[1].strip('"').encode()
        fields = {}
        for part in raw.split(b"--" + boundary):
            if b"\r\n\r\n" not in part:
                continue
            head, content = part.split(b"\r\n\r\n", 1)
            name = re.search(rb'name="([^"]+)"', head)
            if name:
                fields[name.group(1).decode()] = content[:-2] if content.endswith(b"\r\n") else content
        assert fields.get("purpose") == b"batch", fields.get("purpose")
        file_id = f"file-{uuid.uuid4().hex[:16]}"
        with self.lock:
            self.files[file_id] = fields["file"]
        self._json(handler, 200, {"id": file_id, "object": "file", "bytes": len(fields["file"]), "created_at": int(time.time()),
                                  "filename": "batch.jsonl", "purpose": "batch", "status": "processed"})

    def _create_batch(self, body: dict) -> dict:
        lines = [json.loads(line) for line in self.files[body["input_file_id"]].decode().splitlines() if line.strip()]
        batch_id = f"batch_{uuid.uuid4().hex[:16]}"
        with self.lock:
            plan = self.batch_plans.pop(0) if self.batch_plans else BatchPlan()
            self.batch_lines.append([line["custom_id"] for line in lines])
            public = {"id": batch_id, "object": "batch", "endpoint": body["endpoint"], "errors": None,
                      "input_file_id": body["input_file_id"], "completion_window": body["completion_window"],
                      "status": "validating", "output_file_id": None, "error_file_id": None,
                      "created_at": int(time.time()), "request_counts": {"total": len(lines), "completed": 0, "failed": 0}}
            self.batches[batch_id] = {"public": public, "plan": plan, "lines": lines, "polls": 0}
            self.events.append(("created", batch_id))
        return public

    def _advance(self, batch_id: str) -> dict:
        with self.lock:
            batch = self.batches[batch_id]
            public, plan = batch["public"], batch["plan"]
            if public["status"] in ("completed", "failed", "expired", "cancelled"):
                return public
            if batch["polls"] < plan.polls:
                batch["polls"] += 1
                public["status"] = "in_progress"
                public["request_counts"]["completed"] = min(len(batch["lines"]), batch["polls"])
                return public
            self._finish(batch)
            return public

    def _finish(self, batch: dict) -> None:
        public, plan, lines = batch["public"], batch["plan"], batch["lines"]
        self.events.append(("ended", public["id"]))
        if plan.end == "token_limit":
            public.update(status="failed", request_counts={"total": len(lines), "completed": 0, "failed": 0},
                          errors={"object": "list", "data": [{"code": "token_limit_exceeded", "line": None, "param": None,
                                                              "message": "Enqueued token limit reached for gpt-4o in organization org-x."}]})
            return
        finish = len(lines) if plan.finish is None else min(plan.finish, len(lines))
        answered, erred, rest = lines[:finish], lines[finish:finish + plan.errors], lines[finish + plan.errors:]
        if plan.end == "errors_only":
            answered, erred, rest = [], lines, []
        output, errors = [], []
        for line in answered:
            fault = self._take_fault(line["body"]["messages"][-1]["content"])
            output.append({"id": f"batch_req_{uuid.uuid4().hex[:8]}", "custom_id": line["custom_id"], "error": None,
                           "response": {"status_code": 200, "request_id": uuid.uuid4().hex,
                                        "body": self.chat_answer(line["body"], fault.kind if fault else None)}})
        for line in erred:
            errors.append({"id": f"batch_req_{uuid.uuid4().hex[:8]}", "custom_id": line["custom_id"], "error": None,
                           "response": {"status_code": plan.error_status, "request_id": uuid.uuid4().hex,
                                        "body": {"error": {"message": "Invalid value for messages", "type": "invalid_request_error"}}}})
        if plan.end in ("expired", "cancelled", "failed"):
            code = {"expired": "batch_expired", "cancelled": "batch_cancelled", "failed": "batch_failed"}[plan.end]
            for line in rest:
                errors.append({"id": f"batch_req_{uuid.uuid4().hex[:8]}", "custom_id": line["custom_id"], "response": None,
                               "error": {"code": code, "message": "This request could not be executed before the end."}})
        public["status"] = "completed" if plan.end == "errors_only" else plan.end
        if output:
            file_id = f"file-{uuid.uuid4().hex[:16]}"
            self.files[file_id] = "".join(json.dumps(o) + "\n" for o in reversed(output)).encode()
            public["output_file_id"] = file_id
        if errors:
            file_id = f"file-{uuid.uuid4().hex[:16]}"
            self.files[file_id] = "".join(json.dumps(e) + "\n" for e in errors).encode()
            public["error_file_id"] = file_id
        if plan.end == "failed":
            public["errors"] = {"object": "list", "data": [{"code": "server_error", "message": "The batch failed.",
                                                            "line": None, "param": None}]}
        public["request_counts"] = {"total": len(lines), "completed": len(output), "failed": len(errors)}


def started(responder: Callable[[str], str] = default_responder, latency: float = 0.0, **options):
    """A context-managed server: `with started() as server: ...`."""
    from contextlib import contextmanager

    @contextmanager
    def running():
        server = FakeOpenAI(responder, latency, **options).start()
        try:
            yield server
        finally:
            server.stop()

    return running()

