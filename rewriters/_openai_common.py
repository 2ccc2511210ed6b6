"""What the `openai` and `openai_batch` backends share: the client, the cache family, and reading a
chat completion into an answer."""

from __future__ import annotations

import os
import re
from typing import Optional

import utils

# What a server's error message may echo of a credential: OpenAI-style keys, bearer tokens.
_SECRET = re.compile(r"(sk-|sess-|key-)[A-Za-z0-9*_.\-]{3,}|(Bearer\s+)[A-Za-z0-9*_.\-]+", re.IGNORECASE)


def mask_secrets(text: str) -> str:
    """`text` with anything shaped like a key masked, and a URL's credentials, before it is logged
    or stored."""
    return utils.redact_url(_SECRET.sub(lambda m: (m.group(1) or m.group(2)) + "***", text))


def fatal_reason(status: int, message: str, code: Optional[str], section: str) -> Optional[str]:
    """Why no retry and no other request can succeed, with the setting to fix; None for errors of
    one request. A 429 that says the quota is gone is as final as a wrong key."""
    hint = {401: f"the server refused the API key: check OPENAI_API_KEY (.env), or the key the server at "
                 f"{section}.base_url expects",
            403: f"the key may not use this model or endpoint: check {section}.model and the account's access",
            404: f"the server knows no such model or endpoint: check {section}.model and {section}.base_url"}
    if status in hint:
        return f"HTTP {status} ({mask_secrets(message)}): {hint[status]}"
    if status == 429 and (code == "insufficient_quota" or "quota" in message.lower()):
        return f"HTTP 429 ({mask_secrets(message)}): the account's quota is exhausted"
    return None


def base_url(settings: dict) -> Optional[str]:
    """`rewrites.base_url`, else whatever the client itself would use (OPENAI_BASE_URL or OpenAI)."""
    return settings["base_url"] or os.environ.get("OPENAI_BASE_URL") or None


def on_openai(settings: dict) -> bool:
    """Whether requests go to OpenAI itself, where a model's name is enough to price it."""
    from urllib.parse import urlparse

    url = base_url(settings)
    return url is None or (urlparse(url).hostname or "").endswith("api.openai.com")


def cache_family(settings: dict) -> str:
    # The same model name on another server (vLLM, Ollama) is another model: key it apart. The
    # family is stored (cache, batch state files), so a password or token in the URL is masked.
    url = base_url(settings)
    return f"openai@{utils.redact_url(url).rstrip('/')}" if url else "openai"


def client_arguments(settings: dict, max_retries: int, section: str = "rewrites") -> dict:
    """The OpenAI client's arguments; `section` (rewrites, judge, scoring) says where the settings
    live, so that a missing key names the option to set."""
    key = os.environ.get("OPENAI_API_KEY")
    if not key:
        if not base_url(settings):
            prefix = "scoring.model_options" if section == "scoring" else section
            raise utils.RateError(f".env: OPENAI_API_KEY is not set (needed by {prefix}.backend openai/openai_batch; "
                                  f"or set {prefix}.base_url for a local server that needs no key)")
        key = "unused"  # local OpenAI-compatible servers (vLLM, Ollama) accept any key
    arguments = {"api_key": key, "timeout": settings["timeout"], "max_retries": max_retries}
    if settings["base_url"]:
        arguments["base_url"] = settings["base_url"]
    return arguments


def answer_from_completion(completion: dict) -> dict:
    """The parts of a chat completion (as a dict) the engine keeps, with the token log-probabilities
    when the server sent them. Raises ValueError if it has no message."""
    choices = completion.get("choices") if isinstance(completion, dict) else None
    if not choices or not isinstance(choices[0], dict) or "message" not in choices[0]:
        raise ValueError("malformed chat completion: no choices[0].message")
    message = choices[0]["message"] or {}
    usage = completion.get("usage") or {}
    answer = {"text": message.get("content"), "finish_reason": choices[0].get("finish_reason"),
              "refusal": message.get("refusal"),
              "usage": {"prompt_tokens": usage.get("prompt_tokens") or 0,
                        "completion_tokens": usage.get("completion_tokens") or 0}}
    logprobs = token_logprobs(choices[0].get("logprobs"))
    if logprobs:
        answer["logprobs"] = logprobs
    return answer


def token_logprobs(logprobs) -> list[dict]:
    """OpenAI's `choices[0].logprobs` as [{"token", "logprob", "top": [[token, logprob], ...]}] per
    generated token; [] when absent or not in that shape (servers differ)."""
    content = logprobs.get("content") if isinstance(logprobs, dict) else None
    out = []
    for item in content if isinstance(content, list) else []:
        if not isinstance(item, dict) or not isinstance(item.get("token"), str):
            continue
        top = [[t["token"], float(t["logprob"])] for t in item.get("top_logprobs") or []
               if isinstance(t, dict) and isinstance(t.get("token"), str) and isinstance(t.get("logprob"), (int, float))]
        if isinstance(item.get("logprob"), (int, float)):
            out.append({"token": item["token"], "logprob": float(item["logprob"]), "top": top})
    return out
