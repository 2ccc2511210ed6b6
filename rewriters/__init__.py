"""Rewriter backends: one module per backend, found by its file name (`rewrites.backend`).

A backend module declares `OPTIONS` (its settings under `rewrites.backend_options`) and
`build(options, template, model, temperature, seed) -> backend`, where the backend has
`rewrite(requests) -> {custom_id: RewriteResult}`. A request that fails is returned with `text=None`
and a `failure` reason; its error text is never returned as a rewrite.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional


@dataclass(frozen=True)
class RewriteRequest:
    custom_id: str
    prompt: str
    text: str
    target_w: bool


@dataclass(frozen=True)
class RewriteResult:
    custom_id: str
    text: Optional[str]
    failure: Optional[str] = None
    usage: Optional[dict] = None

    @property
    def ok(self) -> bool:
        return self.text is not None
