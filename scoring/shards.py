"""Sharding for score_dataset.py: which examples shard i of N scores, and the merge step that joins
the shards back into one scored file identical to a single run's.

Shard i of N takes examples i, i+N, i+2N, … of the input, so every shard gets a like share of long
and short examples whatever the input's order. A shard is a scored artifact with a part
("shard-<i>-of-<N>"; utils/artifacts.py names it), which `latest` never takes for a finished
scored file; the merge finds shards by their sidecars.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import Counter
from pathlib import Path

import utils

logger = logging.getLogger(__name__)

def parse(value: str | None) -> tuple[int, int] | None:
    """`scoring.shard` ('i/N', which the schema's Shard check accepted) as (i, N); None when unsharded."""
    return utils.schema.Shard.parse(value)


def part(shard: tuple[int, int] | None) -> str | None:
    """A shard's part of every name that tells shards apart (files, checkpoints, locks): "shard-i-of-N"."""
    return f"shard-{shard[0]}-of-{shard[1]}" if shard else None


def select(records: list[dict], index: int, count: int) -> list[dict]:
    return records[index::count]


def _describe(path: Path) -> dict | None:
    """A shard file as its sidecar records it, or None when it is no shard."""
    meta = utils.read_meta(path)
    artifact = utils.artifacts.Artifact.from_meta((meta or {}).get("artifact"))
    shard = parse(((meta or {}).get("templates") or {}).get("shard"))
    if artifact is None or not (artifact.part or "").startswith("shard-") or shard is None:
        return None
    inputs = meta.get("inputs") or [{}]
    return {"path": Path(path), "i": shard[0], "n": shard[1], "stamp": artifact.stamp, "artifact": artifact,
            "input": inputs[0].get("path"), "sha256": inputs[0].get("sha256"),
            "models": tuple((meta.get("templates") or {}).get("models") or ()), "meta": meta}


def _find(cfg: utils.Config, dataset: str, model: str, listed: list[str]) -> list[dict]:
    """The shards to merge: the files listed, or the newest complete set of this dataset and model
    (and run, when set) found by their sidecars."""
    folder = utils.folder("scored")
    if listed:
        shards = []
        for name in listed:
            path = next((p for p in (Path(name), folder / name) if p.is_file()), None)
            if path is None:
                raise utils.RateError(f"command line: --merge: no file '{name}' (looked in . and {folder})")
            found = _describe(path.resolve())
            if found is None:
                raise utils.RateError(f"{path}: not a shard of score_dataset.py with its .meta.json sidecar")
            shards.append(found)
        return shards
    shards = []
    for sidecar in sorted(folder.glob("*.meta.json")) if folder.is_dir() else []:
        found = _describe(sidecar.with_name(sidecar.name[:-len(".meta.json")] + ".jsonl"))
        if found and found["path"].is_file():
            artifact = found["artifact"]
            if (artifact.dataset, artifact.model, artifact.smoke) == (dataset, model, cfg.smoke) and (
                    cfg["run"] is None or artifact.run == cfg["run"]):
                shards.append(found)
    if not shards:
        raise utils.RateError(f"--merge: no shard of '{dataset}' scored by '{model}'"
                              f"{' (smoke test)' if cfg.smoke else ''} in {folder}")
    newest = max(shards, key=lambda s: (s["stamp"], s["path"].name))
    group = (newest["n"], newest["sha256"], newest["models"])
    return [s for s in shards if (s["n"], s["sha256"], s["models"]) == group]


def _check_set(shards: list[dict]) -> None:
    kinds = {(s["n"], s["sha256"], s["models"]) for s in shards}
    if len(kinds) > 1:
        raise utils.RateError("--merge: the shards differ in N, input file or models: "
                              + "; ".join(f"{s['path'].name} ({s['i']}/{s['n']}, models {list(s['models'])})" for s in shards))
    n = shards[0]["n"]
    by_index: dict[int, list[Path]] = {}
    for s in shards:
        by_index.setdefault(s["i"], []).append(s["path"])
    doubled = {i: paths for i, paths in by_index.items() if len(paths) > 1}
    if doubled:
        i, paths = sorted(doubled.items())[0]
        raise utils.RateError(f"--merge: shard {i}/{n} has {len(paths)} files ({', '.join(p.name for p in paths)}); "
                              f"list the ones to merge with --merge=FILE,FILE,…")
    missing = sorted(set(range(n)) - set(by_index))
    if missing:
        raise utils.RateError(f"--merge: shard(s) {', '.join(f'{i}/{n}' for i in missing)} missing (have "
                              f"{', '.join(s['path'].name for s in shards)})")


def _check_ids(order: list, shard_records: dict[Path, list[dict]], source: Path) -> None:
    counts = Counter(r.get("id") for records in shard_records.values() for r in records)
    expected = set(order)
    doubled = sorted((str(i) for i, c in counts.items() if c > 1))
    unknown = sorted(str(i) for i in counts if i not in expected)
    missing = sorted(str(i) for i in expected if i not in counts)
    for problem, ids in (("appear more than once", doubled), ("are not in the input", unknown),
                         ("are missing", missing)):
        if ids:
            shown = ", ".join(ids[:5]) + (" …" if len(ids) > 5 else "")
            raise utils.RateError(f"--merge: {len(ids)} example id(s) of {source} {problem} in the shards: {shown}")


def merge(cfg: utils.Config, dataset: str, model: str, listed: list[str], started: str) -> Path:
    """Join a complete set of shards into one scored file, in the input's order."""
    shards = sorted(_find(cfg, dataset, model, listed), key=lambda s: s["i"])
    _check_set(shards)
    source = Path(shards[0]["input"] or "")
    if not source.is_file():
        raise utils.RateError(f"--merge: the shards' input {source} is gone; it is needed to check the example ids")
    if utils.sha256(source) != shards[0]["sha256"]:
        raise utils.RateError(f"--merge: {source} changed since the shards were scored (sha256 differs)")
    inputs = utils.read_records(source)
    order = [r.get("id") for r in inputs]
    if None in order:
        raise utils.RateError(f"--merge: {source} has records without an id; shards need ids to be merged")
    shard_records = {s["path"]: utils.read_records(s["path"]) for s in shards}
    _check_ids(order, shard_records, source)
    position = {i: p for p, i in enumerate(order)}
    merged = sorted((r for records in shard_records.values() for r in records), key=lambda r: position[r["id"]])

    whole = dataclasses.replace(shards[0]["artifact"], part=None, stamp=None, run=cfg["run"])
    reserved = utils.artifacts.new_path(whole, "jsonl")
    output = reserved.path
    first = shards[0]["meta"]
    models: dict[str, dict] = {}
    for s in shards:
        for name, summary in ((s["meta"].get("counts") or {}).get("models") or {}).items():
            total = models.setdefault(name, {})
            for key, value in summary.items():
                if isinstance(value, (int, float)) and not isinstance(value, bool) and key not in (
                        "max_batch_tokens", "batch_size", "max_length", "pad_token_id", "texts_per_s",
                        "tokens_per_s", "padding_fraction"):
                    total[key] = total.get(key, 0) + value
                else:
                    total.setdefault(key, value)
    templates = {**(first.get("templates") or {}), "shard": None, "merged_shards": len(shards)}
    utils.write_output(output, lambda path: utils.write_jsonl(path, merged), script="score_dataset.py", cfg=cfg,
                       started_at=started, artifact=reserved.artifact, inputs=[source, *(s["path"] for s in shards)],
                       templates=templates, counts={"examples": len(merged), "texts_scored": sum(
                           (s["meta"].get("counts") or {}).get("texts_scored", 0) for s in shards), "models": models})
    logger.info("merged %d shards (%d examples, every id once) into %s", len(shards), len(merged), output)
    return output
