"""Is the Hugging Face hub reachable? Asked once, in about a second, before a model or dataset is
loaded by name, so that a machine without network gets one clear line at once instead of half a
minute of the hub client's retries and warnings before the same failure."""

from __future__ import annotations

import os
import socket
from typing import Optional
from urllib.parse import urlparse

PROBE_SECONDS = 1.0


def unreachable() -> Optional[str]:
    """None when the hub answers a TCP connection; else why not, in a few words."""
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        return "HF_HUB_OFFLINE is set"
    endpoint = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    port = endpoint.port or (80 if endpoint.scheme == "http" else 443)
    try:
        socket.create_connection((endpoint.hostname, port), timeout=PROBE_SECONDS).close()
    except OSError as exc:
        return f"{endpoint.hostname} cannot be reached ({exc.strerror or type(exc).__name__})"
    return None


def is_repo_id(name: str) -> bool:
    """`namespace/name` or `name` as the hub spells ids; a path such as /models/rm is not one."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(name)
    except HFValidationError:
        return False
    return True


def cached_model(repo_id: str) -> bool:
    """Whether the local Hugging Face cache holds the model's config, i.e. it can load offline."""
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(repo_id, "config.json")
    return isinstance(found, str)
