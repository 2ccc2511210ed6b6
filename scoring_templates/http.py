"""`http`: a reward model served over HTTP (vLLM, Text Embeddings Inference, a lab's own server).

`api` picks the contract (docs/scoring.md, "Reward models served over HTTP", gives each in full):

    pooling   POST {base_url}/pooling   {"model", "input": [texts]}   -> data[i].data
    classify  POST {base_url}/classify  {"model", "input": [texts]}   -> data[i].probs[label_index]
    tei       POST {base_url}/predict   {"inputs": [texts or pairs]}  -> [[{"label", "score"}, ...], ...]
    texts     POST {base_url}           {"texts": [texts]}            -> {"scores": [...]}

`input_format` says what a text is: `plain` the completion alone, `chat` the (user: question,
assistant: completion) conversation rendered locally by `tokenizer`'s chat template, `server` the
conversation as `messages` for the server to render (vLLM's pooling and classify; one conversation
per request, as vLLM takes no batch of them), `pair` (question, completion) where the api takes pairs
(tei, texts). `score_batch` cuts its texts into requests of `texts_per_request` and keeps up to
`concurrency` of them in flight; a 429, a 5xx, a dropped connection or a timeout is retried with
exponential backoff (a server's Retry-After is honoured), anything else stops the run in one line.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from typing import Sequence

import utils
from scoring_templates import RewardModel
from utils.errors import ConfigError
from utils.schema import AT_LEAST_0, AT_LEAST_1, POSITIVE, Choice

logger = logging.getLogger(__name__)

SERVER = "reward"  # the conformance test starts tests/fake_reward_server.py for it
NEEDS_GPU = False  # the GPU, if any, is the server's
APIS = ("pooling", "classify", "tei", "texts")
FORMATS = ("plain", "chat", "server", "pair")
PATHS = {"pooling": "/pooling", "classify": "/classify", "tei": "/predict", "texts": ""}
# Where each api can take a conversation or a pair; anything else is refused at build.
TAKES = {"pooling": {"plain", "chat", "server"}, "classify": {"plain", "chat", "server"},
         "tei": {"plain", "chat", "pair"}, "texts": {"plain", "chat", "pair"}}
OPTIONS = {
    "base_url": "http://127.0.0.1:8000",
    "api": "pooling",
    "model": None,  # the name sent as "model"; null sends none (vLLM then uses its only model)
    "input_format": "plain",
    "tokenizer": None,
    "label_index": 0,
    "label": "LABEL_0",
    "classify_reward": "prob",
    "raw_scores": True,
    "texts_per_request": 32,
    "concurrency": 8,
    "timeout": 60.0,
    "max_retries": 5,
    "backoff": 1.0,
    "api_key_env": None,
    "reward_key": None,
}
CHECKS = {"api": Choice(APIS), "input_format": Choice(FORMATS), "classify_reward": Choice(("prob", "logit")),
          "label_index": AT_LEAST_0, "texts_per_request": AT_LEAST_1, "concurrency": AT_LEAST_1,
          "timeout": POSITIVE, "max_retries": AT_LEAST_0, "backoff": AT_LEAST_0}
PREFIX = "scoring.model_options"
MAX_WAIT = 60.0  # no single backoff or Retry-After waits longer
# Texts per score_batch call, in requests' worth per slot: enough that the last, slowest request of
# a call rarely leaves the other slots idle for long.
WAVES = 4


class _Retryable(Exception):
    def __init__(self, what: str, wait: float | None = None):
        super().__init__(what)
        self.wait = wait


def retry_after(value: str | None) -> float | None:
    """A Retry-After header in seconds (a number or an HTTP date), None when absent or unreadable."""
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime

    try:
        return max(parsedate_to_datetime(value).timestamp() - time.time(), 0.0)
    except (TypeError, ValueError):
        return None


def reward_of(value, label_index: int) -> float:
    """A pooling result as one number: a number itself, a list of outputs its `label_index`-th, a
    per-token list (vLLM's reward pooling) its last token's."""
    while isinstance(value, list) and value and isinstance(value[-1], list):
        value = value[-1]
    if isinstance(value, list):
        value = value[label_index]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"not a number: {str(value)[:60]}")
    return float(value)


class Client:
    """The requests of one served model: building them, sending them in parallel, reading them."""

    def __init__(self, options: dict):
        self.options = options
        self.api, self.format = options["api"], options["input_format"]
        self.url = options["base_url"].rstrip("/") + PATHS[self.api] if self.api != "texts" else options["base_url"]
        self.shown = utils.redact_url(options["base_url"])
        self.headers = {}
        if options["api_key_env"]:
            token = os.environ.get(options["api_key_env"])
            if not token:
                raise ConfigError(f"{PREFIX}.api_key_env", f"the environment variable {options['api_key_env']} "
                                  "is not set (it should hold the server's bearer token)")
            self.headers["Authorization"] = f"Bearer {token}"
        self.per_request = 1 if self.format == "server" else options["texts_per_request"]
        self.tokenizer = load_tokenizer(options["tokenizer"]) if self.format == "chat" else None
        self._client = None
        self._pool = None
        self._lock = threading.Lock()

    def _started(self):
        import httpx2

        with self._lock:
            if self._client is None:
                slots = self.options["concurrency"]
                self._client = httpx2.Client(timeout=self.options["timeout"], headers=self.headers,
                                             limits=httpx2.Limits(max_connections=slots,
                                                                  max_keepalive_connections=slots))
                self._pool = ThreadPoolExecutor(slots, thread_name_prefix="http-reward")
        return self._client, self._pool

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown(wait=True, cancel_futures=True)
                self._client.close()
            self._client = self._pool = None

    # -- one request -------------------------------------------------------------------------------
    def body(self, questions: Sequence[str], completions: Sequence[str]) -> dict:
        model = {"model": self.options["model"]} if self.options["model"] else {}
        if self.format == "server":
            return {**model, "messages": conversation(questions[0], completions[0])}
        if self.format == "pair":
            if self.api == "tei":
                return {"inputs": [[q, c] for q, c in zip(questions, completions)],
                        "raw_scores": self.options["raw_scores"]}
            return {**model, "texts": list(completions), "questions": list(questions)}
        texts = list(completions) if self.format == "plain" else [
            self.tokenizer.apply_chat_template(conversation(q, c), tokenize=False) for q, c in zip(questions, completions)]
        if self.api == "tei":
            return {"inputs": texts, "raw_scores": self.options["raw_scores"]}
        if self.api == "texts":
            return {**model, "texts": texts}
        return {**model, "input": texts}

    def rewards(self, answer, n: int) -> list[float]:
        """The `n` rewards of an answer, in the order the texts were sent; RateError if its shape is not
        the api's."""
        try:
            values = self._read(answer)
        except (KeyError, IndexError, TypeError, AttributeError, ValueError) as exc:
            detail = f"no key {exc}" if isinstance(exc, KeyError) else str(exc)
            raise utils.RateError(f"{self._where()}: the answer is not a '{self.api}' response ({detail}); check "
                                  f"{PREFIX}.api (one of {', '.join(APIS)}) and base_url") from None
        if len(values) != n:
            raise utils.RateError(f"{self._where()}: the server answered {len(values)} rewards for {n} texts; check "
                                  f"{PREFIX}.api (one of {', '.join(APIS)})")
        for value in values:
            if not math.isfinite(value):
                raise utils.RateError(f"{self._where()}: the server returned a non-finite reward ({value}); check the "
                                      f"served model" + (f" or {PREFIX}.classify_reward" if self.api == "classify" else ""))
        return values

    def _read(self, answer) -> list[float]:
        index = self.options["label_index"]
        if self.api == "texts":
            return [reward_of(v, 0) for v in answer["scores"]]
        if self.api == "tei":
            rows = answer if answer and isinstance(answer[0], list) else [answer]
            label = self.options["label"]
            found = [[float(c["score"]) for c in row if c["label"] == label] for row in rows]
            if any(not f for f in found):
                raise ValueError(f"no score labelled {label!r} ({PREFIX}.label); the labels are "
                                 f"{[c['label'] for c in rows[0]]}")
            return [f[0] for f in found]
        data = sorted(answer["data"], key=lambda item: item.get("index", 0))
        if self.api == "pooling":
            return [reward_of(item["data"], index) for item in data]
        probs = [float(item["probs"][index]) for item in data]
        if self.options["classify_reward"] == "prob":
            return probs
        # vLLM gives probabilities only; a one-label reward model's are sigmoid(logit), so log-odds
        # give the logit back exactly.
        return [math.log(p) - math.log1p(-p) if 0 < p < 1 else (math.inf if p >= 1 else -math.inf) for p in probs]

    def post(self, body: dict, stop: threading.Event):
        """The server's answer to one request, retried while the failure is one a retry can cure."""
        attempts = self.options["max_retries"] + 1
        for attempt in range(attempts):
            if stop.is_set():
                raise utils.RateError(f"{self._where()}: stopped, another request failed")
            try:
                return self._send(body)
            except _Retryable as failure:
                if attempt + 1 == attempts:
                    raise utils.RateError(f"{self._where()}: {failure} (after {attempts} attempts; "
                                          f"{PREFIX}.max_retries={attempts - 1})") from None
                delay = failure.wait if failure.wait is not None else self.options["backoff"] * 2 ** attempt
                logger.debug("%s: %s; retry %d in %.2f s", self.shown, failure, attempt + 1, delay)
                pause(stop, min(delay, MAX_WAIT))

    def _send(self, body: dict):
        import httpx2

        client, _ = self._started()
        try:
            response = client.post(self.url, json=body)
        except httpx2.ConnectError as exc:
            raise _Retryable(f"cannot connect ({exc}): is the server running at {PREFIX}.base_url={self.shown}?")
        except httpx2.TimeoutException:
            raise _Retryable(f"no answer within {self.options['timeout']:g} s ({PREFIX}.timeout)")
        except (httpx2.RemoteProtocolError, httpx2.ReadError, httpx2.WriteError) as exc:
            raise _Retryable(f"the connection was dropped ({type(exc).__name__})")
        status = response.status_code
        if status == 200:
            try:
                return response.json()
            except ValueError:
                raise utils.RateError(f"{self._where()}: the answer is not JSON ({response.text[:80]!r}); check "
                                      f"{PREFIX}.api and base_url") from None
        said = mask(response.text)
        if status == 429 or status >= 500:
            raise _Retryable(f"HTTP {status} ({said})", retry_after(response.headers.get("Retry-After")))
        hint = {401: f"the server refused the request's token: set {PREFIX}.api_key_env to the environment variable "
                     f"holding it" + (f" (now {self.options['api_key_env']})" if self.options["api_key_env"] else ""),
                403: f"the token may not use this model or endpoint: check {PREFIX}.api_key_env and model",
                404: f"no such endpoint or model: check {PREFIX}.base_url ({self.shown}), api ({self.api}) and model"}
        raise utils.RateError(f"{self._where()}: HTTP {status} ({said}): "
                              + hint.get(status, f"the server refused the request; check {PREFIX}.api and input_format"))

    def _where(self) -> str:
        return f"http reward model at {utils.redact_url(self.url)}"

    # -- a batch -----------------------------------------------------------------------------------
    def score(self, questions: Sequence[str], completions: Sequence[str]) -> list[float]:
        if not completions:
            return []
        _, pool = self._started()
        size, stop = self.per_request, threading.Event()
        starts = range(0, len(completions), size)
        futures = [pool.submit(self._one, questions[k:k + size], completions[k:k + size], stop) for k in starts]
        done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        failed = [f for f in futures if f in done and f.exception() is not None]
        if failed:
            stop.set()  # the other requests give up at their next attempt instead of retrying on
            for future in futures:
                future.cancel()
            raise failed[0].exception()
        return [reward for future in futures for reward in future.result()]

    def _one(self, questions, completions, stop) -> list[float]:
        return self.rewards(self.post(self.body(questions, completions), stop), len(completions))


def pause(stop: threading.Event, seconds: float) -> None:
    stop.wait(seconds)  # a failed neighbour's `stop` ends the wait at once


def conversation(question: str, completion: str) -> list[dict]:
    return [{"role": "user", "content": question}, {"role": "assistant", "content": completion}]


def mask(text: str) -> str:
    from rewriters._openai_common import mask_secrets

    return mask_secrets(" ".join(text.split()))[:200] or "no message"


def load_tokenizer(name: str | None):
    if not name:
        raise ConfigError(f"{PREFIX}.tokenizer", "input_format chat renders the chat template locally: set "
                          "tokenizer to the model's tokenizer (a local folder or a cached hub id), or use "
                          "input_format server")
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(name, local_files_only=True)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{PREFIX}.tokenizer", f"cannot load the tokenizer {name!r} offline "
                          f"({str(exc).splitlines()[0][:120]})") from None
    if not getattr(tokenizer, "chat_template", None):
        raise ConfigError(f"{PREFIX}.tokenizer", f"the tokenizer {name!r} has no chat template; use input_format "
                          "plain or server")
    return tokenizer


def build(options: dict) -> RewardModel:
    api, form = options["api"], options["input_format"]
    if form not in TAKES[api]:
        takes = ", ".join(sorted(TAKES[api]))
        raise ConfigError(f"{PREFIX}.input_format", f"the '{api}' api cannot take input_format {form} "
                          f"(it takes {takes})")
    client = Client(options)
    slots = options["concurrency"]
    reward_key = options["reward_key"] or f"http:{options['model'] or utils.redact_url(options['base_url'])}"
    return RewardModel(
        name="http",
        reward_key=reward_key,
        score_batch=client.score,
        description=f"reward model served over HTTP ({api} at {client.shown}, input {form})",
        info={"server": client.shown, "api": api, "input_format": form, "served_model": options["model"],
              "texts_per_request": client.per_request, "concurrency": slots},
        close=client.close,
        texts_per_call=client.per_request * slots * WAVES,
    )
