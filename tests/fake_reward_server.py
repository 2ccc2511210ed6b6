"""A stand-in reward server for the tests and bench/: the four contracts of scoring_templates/http.py,
with faults injected on demand. Standard library only; runs in a thread on 127.0.0.1.

    server = FakeRewardServer(latency=0.01).start()   # server.url: the base_url
    server.add_fault("429", times=2, retry_after=0.05)
    ...
    server.stop()

Routes: POST /pooling and /classify (vLLM: `input` a list of texts, or `messages`), /predict (Text
Embeddings Inference: `inputs` texts or [question, completion] pairs) and /texts (`{"texts"}` ->
`{"scores"}`, with optional `questions`). The reward of a text is `reward(text)`: a hash of the
text plus its length, so it depends on the text and on nothing else; a pair's is that of
question + "\\n" + completion, a conversation's that of its contents joined the same way. The
pooling answer's `data` is `[reward]`, or as `pooling_shape` says: "scalar" or "tokens" (one row per
token, the reward last). Classify gives probs [sigmoid(r), 1 - sigmoid(r)].
Faults (each used `times` times): "429" (with Retry-After), "500", "401", "403", "404",
"wrong_count" (one reward too few), "nan" (a non-finite reward), "bad_shape" (a 200 of another shape),
"timeout" (answers after `delay` s) and "reset" (closes the connection without an answer).
`scored` logs every text a 200 answered, in order; `requests` the number of texts of each request
that reached the route; `max_in_flight` the most requests held at once; `hold_until = n` holds each
request until n are in flight (5 s at most), so that concurrency shows without timing anything.

`python tests/fake_reward_server.py --latency 0.02` serves in its own process and prints its URL.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Optional


def reward(text: str) -> float:
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return int.from_bytes(digest[:4], "big") / 2 ** 32 * 4 - 2 + len(text) / 100


def pair_text(question: str, completion: str) -> str:
    return f"{question}\n{completion}"


@dataclass
class Fault:
    kind: str
    times: int = 1
    retry_after: Optional[float] = None
    delay: float = 0.0


class FakeRewardServer:
    def __init__(self, latency: float = 0.0, pooling_shape: str = "list", token: Optional[str] = None):
        self.latency, self.pooling_shape, self.token = latency, pooling_shape, token
        self.lock = threading.Lock()
        self.faults: list[Fault] = []
        self.scored: list[str] = []
        self.requests: list[int] = []
        self.bodies: list[dict] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.hold_until = 0  # when set, a request waits (5 s at most) until this many are in flight
        self.changed = threading.Condition(self.lock)
        self.release = threading.Event()

    def add_fault(self, kind: str, times: int = 1, retry_after: Optional[float] = None, delay: float = 0.0) -> None:
        with self.lock:
            self.faults.append(Fault(kind, times, retry_after, delay))

    def start(self, port: int = 0) -> "FakeRewardServer":
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                return None

            def do_POST(self):
                fake._route(self)

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 256

        self.httpd = Server(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def options(self, api: str = "pooling", **extra) -> dict:
        """`scoring.model_options` for scoring_templates/http.py pointing at this server."""
        url = f"{self.url}/texts" if api == "texts" else self.url
        return {"base_url": url, "api": api, "model": "fake-rm", "max_retries": 2, "backoff": 0.01,
                "timeout": 10.0, **extra}

    # -- HTTP ------------------------------------------------------------------------------------
    def _take_fault(self) -> Optional[Fault]:
        with self.lock:
            for fault in self.faults:
                if fault.times > 0:
                    fault.times -= 1
                    return fault
        return None

    def _route(self, handler) -> None:
        raw = handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
        with self.lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            self.changed.notify_all()
            if self.hold_until:
                self.changed.wait_for(lambda: self.in_flight >= self.hold_until, timeout=5)
        try:
            self._answer(handler, handler.path.split("?")[0], raw)
        finally:
            with self.lock:
                self.in_flight -= 1
                self.changed.notify_all()

    def _answer(self, handler, path: str, raw: bytes) -> None:
        if self.token is not None and handler.headers.get("Authorization") != f"Bearer {self.token}":
            return self._json(handler, 401, {"error": "invalid token"})
        if path not in ("/pooling", "/classify", "/predict", "/texts"):
            return self._json(handler, 404, {"detail": "Not Found"})
        body = json.loads(raw)
        texts = self._texts(path, body)
        with self.lock:
            self.requests.append(len(texts))
            self.bodies.append(body)
        if self.latency:
            time.sleep(self.latency)
        fault = self._take_fault()
        kind = fault.kind if fault else None
        if kind in ("401", "403", "404", "500"):
            return self._json(handler, int(kind), {"error": {"message": f"fault {kind}"}})
        if kind == "429":
            headers = {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after is not None else {}
            return self._json(handler, 429, {"error": "slow down"}, headers)
        if kind == "timeout":
            self.release.wait(fault.delay)
        if kind == "reset":
            handler.close_connection = True
            handler.connection.close()
            return None
        rewards = [reward(t) for t in texts]
        if kind == "wrong_count":
            rewards = rewards[:-1]
        if kind == "nan":
            rewards[0] = math.nan
        if kind == "bad_shape":
            return self._json(handler, 200, {"result": rewards})
        with self.lock:
            self.scored.extend(texts)
        return self._json(handler, 200, self._shape(path, rewards, "messages" in body))

    @staticmethod
    def _texts(path: str, body: dict) -> list[str]:
        if "messages" in body:
            return [pair_text(*[m["content"] for m in body["messages"]])]
        if path == "/predict":
            return [pair_text(*x) if isinstance(x, list) else x for x in body["inputs"]]
        if path == "/texts":
            questions = body.get("questions")
            return [pair_text(q, c) for q, c in zip(questions, body["texts"])] if questions else list(body["texts"])
        return list(body["input"]) if isinstance(body["input"], list) else [body["input"]]

    def _shape(self, path: str, rewards: list[float], chat: bool):
        if path == "/texts":
            return {"scores": rewards}
        if path == "/predict":
            return [[{"label": "LABEL_1", "score": -r}, {"label": "LABEL_0", "score": r}] for r in rewards]
        if path == "/classify":
            def probs(r):
                p = 1 / (1 + math.exp(-r)) if math.isfinite(r) else r
                return [p, 1 - p]
            data = [{"index": i, "label": "LABEL_0", "probs": probs(r), "num_classes": 2} for i, r in enumerate(rewards)]
        else:
            shapes = {"list": lambda r: [r], "scalar": lambda r: r, "tokens": lambda r: [[0.5], [-0.25], [r]]}
            data = [{"index": i, "object": "pooling", "data": shapes[self.pooling_shape](r)}
                    for i, r in enumerate(rewards)]
        # answered in reverse order: a client must read `index`, not the position
        return {"id": "pool-1", "object": "list", "data": data[::-1], "usage": {"prompt_tokens": 0}}

    @staticmethod
    def _json(handler, status: int, payload, headers: Optional[dict] = None) -> None:
        data = json.dumps(payload, allow_nan=True).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            handler.send_header(key, value)
        handler.end_headers()
        handler.wfile.write(data)


def stand_in() -> tuple[FakeRewardServer, dict]:
    """A running stand-in and the `scoring.model_options` that point scoring_templates/http.py at it
    (tests/test_scoring_templates.py's conformance test)."""
    server = FakeRewardServer().start()
    return server, server.options("pooling", texts_per_request=2, concurrency=2)


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    server = FakeRewardServer(latency=args.latency).start(args.port)
    print(server.url, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
