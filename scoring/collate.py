"""Padded batch tensors from tokenised texts, built with a few numpy operations instead of a Python
loop over rows, optionally in page-locked (pinned) host memory so that the copy to a GPU can be
asynchronous (`tensor.to(device, non_blocking=True)` is only truly asynchronous from pinned memory).

Used by the Hugging Face templates' `collate` (scoring_templates/_hf.py), which the engine runs in
its prefetch thread (scoring/prefetch.py), off the thread that drives the model.
"""

from __future__ import annotations

from typing import Sequence


def positions(lengths, width: int, side: str):
    """(row, column) of every real token when rows of `lengths` are padded to `width` on `side`,
    in the order of the rows' tokens concatenated."""
    import numpy as np

    lengths = np.asarray(lengths, dtype=np.int64)
    rows = np.repeat(np.arange(len(lengths)), lengths)
    starts = np.cumsum(lengths) - lengths
    cols = np.arange(int(lengths.sum())) - np.repeat(starts, lengths)
    if side == "left":
        cols += np.repeat(width - lengths, lengths)
    return rows, cols


def _host(shape, fill: int, pin: bool):
    """An int64 host tensor and its numpy view (pinned memory when asked: only with CUDA)."""
    import torch

    tensor = torch.empty(shape, dtype=torch.int64, pin_memory=pin)
    view = tensor.numpy()
    view.fill(fill)
    return tensor, view


def pad_batch(batch: Sequence, pad_id: int, side: str = "right", *, mask: bool = True, type_ids: bool = False,
              pad_type_id: int = 0, pin: bool = False) -> dict:
    """`input_ids` (and `attention_mask` when `mask`, `token_type_ids` when `type_ids`) as int64
    tensors of shape (len(batch), longest), each text's tokens on `side` and `pad_id` elsewhere.
    Items are `scoring_templates.Encoded`; one without segment ids gets `pad_type_id` throughout,
    as the row-by-row loop this replaces did."""
    import numpy as np

    lengths = np.fromiter((len(e) for e in batch), dtype=np.int64, count=len(batch))
    width = int(lengths.max())
    rows, cols = positions(lengths, width, side)
    ids, ids_view = _host((len(batch), width), pad_id, pin)
    ids_view[rows, cols] = np.concatenate([np.asarray(e.input_ids) for e in batch])
    out = {"input_ids": ids}
    if mask:
        attention, attention_view = _host((len(batch), width), 0, pin)
        attention_view[rows, cols] = 1
        out["attention_mask"] = attention
    if type_ids:
        types, types_view = _host((len(batch), width), pad_type_id, pin)
        types_view[rows, cols] = np.concatenate([
            np.asarray(e.token_type_ids) if e.token_type_ids is not None else np.full(len(e), pad_type_id)
            for e in batch])
        out["token_type_ids"] = types
    return out
