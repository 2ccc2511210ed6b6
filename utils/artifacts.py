"""Every output of RATE as an artifact: what it is, where it goes, how `latest` finds it, and the
chain of files it came from. Phases build an `Artifact` and pass it on; none of them builds a file
name or reads one.

An artifact's identity is its kind (which phase wrote what), the dataset, the models whose rewards it
holds, the reward key, whether it belongs to a smoke run, its part (a shard of a scored file), the
pipeline run it belongs to (`run`), and its time stamp. The identity makes the name, as `NAMES` gives
it (docs/files.md and every script's --help quote these), and is kept in the sidecar (`<stem>.meta.json`,
under "artifact") written beside the file. `latest` reads the sidecars: the newest file of the
folder whose identity matches. Files without an identity in their sidecar (the original RATE code's,
and this project's before identities) are the one exception: `legacy_latest` finds them by the names
those programs gave them.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import time
from contextlib import contextmanager
from glob import escape as glob_escape
from pathlib import Path
from typing import Optional

from utils.config import SMOKE_MARK, Config, RateError, slug
from utils.files import STAMP_FORMAT, STAMP_PATTERN, folder
from utils.provenance import meta_path

logger = logging.getLogger(__name__)

# kind -> (PROJECT_DIR folder, name before the part, smoke mark and stamp)
KINDS = {
    "rewrites": ("rewrites", "{dataset}_dataset"),
    "scored": ("scored", "{dataset}_{model}_scored"),
    "effects": ("effects", "{dataset}_{model}{key}_treatment_effects"),
    "table": ("effects", "{dataset}_{model}_effects_table"),
    "estimates": ("plots", "{dataset}_{model}_estimates"),
    "report": ("plots", "{dataset}_{model}_report"),
    "experiment": ("experiments", "{dataset}_experiment"),  # dataset: the experiment's name
    "audit": ("audits", "{dataset}_audit"),  # dataset: the audit's name
}
# The names as docs/files.md and the scripts' --help give them; tests/test_artifacts.py checks all three agree.
NAMES = {
    "rewrites": "data/rewrites/<dataset>_dataset[_smoke_test]_<stamp>.jsonl",
    "scored": "data/scored/<dataset>_<model>_scored[_smoke_test]_<stamp>.jsonl",
    "shard": "data/scored/<dataset>_<model>_scored_shard-<i>-of-<N>[_smoke_test]_<stamp>.jsonl",
    "effects": "effects/<dataset>_<model>[_<reward key>]_treatment_effects[_smoke_test]_<stamp>.json",
    "table": "effects/<dataset>_<model>_effects_table[_smoke_test]_<stamp>.csv",
    "estimates": "plots/<dataset>_<model>_estimates[_smoke_test]_<stamp>.png",
    "report": "plots/<dataset>_<model>_report[_smoke_test]_<stamp>.html",
    "experiment": "experiments/<experiment>_experiment[_smoke_test]_<stamp>.csv",
    "audit": "audits/<audit>_audit[_smoke_test]_<stamp>.html",
}


@dataclasses.dataclass(frozen=True)
class Artifact:
    kind: str
    dataset: str
    models: tuple[str, ...] = ()  # scored: every model whose rewards the file holds, the one it is named after first
    reward_key: Optional[str] = None
    smoke: bool = False
    part: Optional[str] = None  # "shard-0-of-3"
    run: Optional[str] = None
    stamp: Optional[str] = None
    named_key: bool = False  # effects: the reward key is part of the name (one file, several keys)

    @property
    def model(self) -> Optional[str]:
        return self.models[0] if self.models else None

    def stem(self) -> str:
        """The name without its extension; the stamp must be set."""
        template = KINDS[self.kind][1]
        if not self.models:
            template = template.replace("_{model}", "")
        name = template.format(dataset=self.dataset, model=slug(self.model or ""),
                               key=f"_{slug(self.reward_key)}" if self.named_key and self.reward_key else "")
        return f"{name}{'_' + self.part if self.part else ''}{SMOKE_MARK if self.smoke else ''}_{self.stamp}"

    def as_meta(self) -> dict:
        return {**dataclasses.asdict(self), "models": list(self.models)}

    @classmethod
    def from_meta(cls, value) -> Optional["Artifact"]:
        if not isinstance(value, dict) or value.get("kind") not in KINDS:
            return None
        fields = {f.name for f in dataclasses.fields(cls)}
        return cls(**{**{k: v for k, v in value.items() if k in fields}, "models": tuple(value.get("models") or ())})


def of(cfg: Config, kind: str, dataset: str, models=(), **fields) -> Artifact:
    """An artifact of this run: the config's smoke mark and run."""
    return Artifact(kind, dataset, tuple(models), smoke=cfg.smoke, run=cfg["run"], **fields)


@dataclasses.dataclass(frozen=True)
class Output:
    """A name reserved for one output (`new_path`): the file, its stamped artifact, and the files that
    go with it: its sidecar, its reservation, and siblings that share its stem (a .md beside a .csv)."""
    path: Path
    artifact: Artifact

    @property
    def sidecar(self) -> Path:
        return meta_path(self.path)

    @property
    def reservation(self) -> Path:
        return reservation(self.path)

    @property
    def stamp(self) -> str:
        return self.artifact.stamp

    def sibling(self, suffix: str) -> Path:
        return self.path.with_suffix(suffix)

    def files(self, *suffixes: str) -> list[Path]:
        """The file, the siblings with `suffixes`, the sidecar and the reservation: what all_or_none
        is told before any of them is made."""
        return [self.path, *(self.sibling(suffix) for suffix in suffixes), self.sidecar, self.reservation]

    def release(self) -> None:
        """Give up the reservation once the file is under its name (utils.write_output does it too)."""
        self.reservation.unlink(missing_ok=True)


def reservation(path: Path) -> Path:
    """The empty file that holds a name while its run writes it (`.<stem>.reserved`)."""
    return Path(path).with_name(f".{Path(path).stem}.reserved")


def new_path(artifact: Artifact, ext: str) -> Output:
    """A name for `artifact` with a stamp no file of its name has yet. The name is reserved at once
    (created exclusively), so two runs ending in the same second cannot take the same name: the
    second waits for the next second."""
    directory = folder(KINDS[artifact.kind][0])
    directory.mkdir(parents=True, exist_ok=True)
    while True:
        stamped = dataclasses.replace(artifact, stamp=time.strftime(STAMP_FORMAT))
        path = directory / f"{stamped.stem()}.{ext}"
        if not any(directory.glob(f"{stamped.stem()}.*")) and _reserve(reservation(path)):
            return Output(path, stamped)
        time.sleep(0.2)


def _reserve(path: Path) -> bool:
    """Create `path` if no one has; False when another run did a moment ago."""
    import os

    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
    except FileExistsError:
        return False
    return True


@contextmanager
def all_or_none(directory: Path, name: str):
    """`with all_or_none(directory, name) as keep:` a phase that writes several files calls `keep(path, ...)`
    for each (a file, its sidecar, a folder) before making it. If the phase fails on the way (a full
    disk), they are removed again; if it is killed, the list it left (`directory/.<name>.incomplete`,
    locked while the phase runs) lets the next phase that writes there remove them. So a run's files
    are all there, or none of them."""
    import fcntl
    import os

    Path(directory).mkdir(parents=True, exist_ok=True)
    abandon_incomplete(directory)
    marker = Path(directory) / f".{name}.incomplete"
    handle = open(marker, "x", encoding="utf-8")
    fcntl.flock(handle, fcntl.LOCK_EX)

    def keep(*paths) -> None:
        handle.write("".join(f"{Path(p)}\n" for p in paths))
        handle.flush()
        os.fsync(handle.fileno())

    try:
        yield keep
    except BaseException:
        handle.flush()
        _remove_listed(marker)
        raise
    finally:
        marker.unlink(missing_ok=True)
        handle.close()


def abandon_incomplete(directory: Path) -> None:
    """Remove the files of runs that were killed while writing into `directory` (their list is not locked)."""
    import fcntl

    for marker in Path(directory).glob(".*.incomplete"):
        with open(marker, encoding="utf-8") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # a run writing now
            logger.warning("removing the files of an interrupted run listed in %s", marker)
            _remove_listed(marker)
            marker.unlink(missing_ok=True)


def _remove_listed(marker: Path) -> None:
    import shutil

    for line in reversed(marker.read_text(encoding="utf-8").splitlines()):
        path = Path(line)
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
        # A run killed inside atomic_write leaves its temporary (`.<name>.<random>.tmp`) beside the file.
        for temporary in path.parent.glob(f".{glob_escape(path.name)}.*.tmp"):
            temporary.unlink(missing_ok=True)


def identity(path: Path) -> Optional[Artifact]:
    """The artifact a file's sidecar records, or None (no sidecar, or one from before identities)."""
    from utils.provenance import read_meta

    return Artifact.from_meta((read_meta(path) or {}).get("artifact"))


def _matches(found: Artifact, kind: str, dataset: str, model: Optional[str], smoke: bool, run: Optional[str]) -> bool:
    return (found.kind == kind and found.dataset == dataset and found.smoke == smoke and found.part is None
            and (model is None or model in found.models) and (run is None or found.run == run))


def latest(kind: str, dataset: str, *, smoke: bool, model: Optional[str] = None, run: Optional[str] = None,
           also: tuple[str, ...] = (), within: Optional[str] = None) -> Path:
    """The newest file whose sidecar says it is a `kind` of `dataset` (holding `model`'s rewards, of
    `run`, when given); smoke outputs are only found for smoke runs and full outputs only for full
    runs. With no run given, files without an identity are looked for by their names too. `within`:
    a subfolder of the kind's folder (the original code's `effects.dataset_folder: typos`)."""
    directory = directory_of(kind, within)
    found = []
    for sidecar in directory.glob("*.meta.json") if directory.is_dir() else []:
        try:
            meta = json.loads(sidecar.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:  # ValueError: not JSON, or not UTF-8
            logger.warning("%s: unreadable sidecar, its file is not a candidate for 'latest' (%s)", sidecar, exc)
            continue
        artifact = Artifact.from_meta(meta.get("artifact"))
        # The file beside its sidecar, wherever PROJECT_DIR has moved since it was written.
        path = sidecar.parent / Path(meta.get("output") or "").name
        if artifact and _matches(artifact, kind, dataset, model, smoke, run) and path.is_file():
            found.append((artifact.stamp or "", path.stat().st_mtime_ns, path.name, path))
    if run is None:
        found += legacy_latest(kind, dataset, smoke, model, also, within)
    if found:
        return max(found)[-1]
    what = f"{'smoke-test ' if smoke else ''}{kind} file of '{dataset}'" + (f" with rewards of '{model}'" if model else "")
    maker = MAKERS.get(kind)
    hint = (f": run {maker} first, with the same config{' and --smoke_test=true' if smoke else ''}" if maker else "")
    raise RateError(f"no {what}{f' from run {run}' if run else ''} in {directory} for 'latest'{hint}")


# The phase whose output each kind is, for the error that says what to run when `latest` finds nothing.
MAKERS = {"rewrites": "create_dataset.py", "scored": "score_dataset.py", "effects": "treatment_effects.py",
          "table": "treatment_effects.py", "estimates": "visualize.py", "report": "visualize.py"}


def directory_of(kind: str, within: Optional[str] = None):
    return folder(KINDS[kind][0]) / within if within else folder(KINDS[kind][0])


def legacy_latest(kind: str, dataset: str, smoke: bool, model: Optional[str], also: tuple[str, ...] = (),
                  within: Optional[str] = None) -> list[tuple]:
    """Candidates among files whose sidecar holds no identity, read from the names their programs
    gave them: the original RATE code's (`<dataset>_dataset_<stamp>_smoke_test.json`,
    `<dataset>_<model>_smoke_test_scored_<stamp>.jsonl`, `<dataset>_<concept>_<score>_treatment_effects_<stamp>.json`)
    and this project's before identities (`<stem>_smoke_test_<stamp>`). `also`: other spellings of
    the dataset part (the original's `<dataset_name>_<concept>`)."""
    if kind not in ("rewrites", "scored", "effects"):
        return []
    directory = directory_of(kind, within)
    # A model name may hold underscores; without one asked for, any name stands in for it.
    model_re = re.escape(slug(model)) if model else r"[A-Za-z0-9.-][A-Za-z0-9_.-]*?"
    names = "|".join(re.escape(name) for name in (dataset, *also))
    prefix = rf"(?:{names})" + ("" if kind == "rewrites" else rf"_{model_re}")
    # The phase's word, after an optional reward key for effects; the smoke mark may stand before the
    # word, after it, or after the stamp.
    word = {"rewrites": "_dataset", "scored": "_scored", "effects": r"(?:_[A-Za-z0-9_.-]+)?_treatment_effects"}[kind]
    mark = re.escape(SMOKE_MARK)
    pattern = re.compile(rf"^{prefix}(?P<a>{mark})?{word}(?P<b>{mark})?_(?P<stamp>{STAMP_PATTERN})(?P<c>{mark})?"
                         rf"\.(?:jsonl|json)$")
    found = []
    for path in directory.glob("*.json*") if directory.is_dir() else []:
        match = pattern.match(path.name)
        if (match and not path.name.endswith(".meta.json") and bool(match.group("a") or match.group("b") or match.group("c")) == smoke
                and identity(path) is None):
            found.append((match.group("stamp"), path.stat().st_mtime_ns, path.name, path))
    return found


def resolve(kind: str, filename: str, key: str, cfg: Config, dataset: str, model: Optional[str] = None,
            also: tuple[str, ...] = (), within: Optional[str] = None) -> Path:
    """An input: `latest` (of this run when `run` is set) or a path (absolute, relative to the
    current directory, or to the kind's folder). Logs which file it took, and warns when `latest`
    took a file made with settings that differ from this run's (`differences`)."""
    if filename == "latest":
        try:
            path = latest(kind, dataset, smoke=cfg.smoke, model=model, run=cfg["run"], also=also, within=within)
        except RateError as exc:
            raise RateError(f"{cfg.source(key)}: {key}: {exc}") from None
        differing = differences(path, cfg)
        if differing and cfg["run"] is None:
            logger.warning("%s took %s, which was made with other settings than this run's: %s. Name the file you "
                           "mean with %s, or run the phases before this one again", key, path.name,
                           "; ".join(differing), key)
    else:
        candidates = [Path(filename), directory_of(kind, within) / filename]
        path = next((p for p in candidates if p.is_file()), None)
        if path is None:
            raise RateError(f"{cfg.source(key)}: {key}: no file '{filename}' (looked in . and "
                            f"{directory_of(kind, within)})")
    logger.info("%s resolved to %s", key, path)
    return path.resolve()


# The settings that decide what an upstream phase made, by the script that made it.
MADE_BY = {
    "create_dataset.py": ("rewrites.dataset_name", "rewrites.n_examples", "rewrites.smoke_test_examples",
                          "rewrites.seed", "rewrites.template_options", "rewrites.backend", "rewrites.model",
                          "rewrites.temperature", "judge.method", "judge.model"),
    "score_dataset.py": ("scoring.model", "scoring.models", "scoring.model_options"),
}


def _lookup(config: dict, dotted: str):
    node = config
    for part in dotted.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def differences(path: Path, cfg: Config) -> list[str]:
    """Settings of this run that differ from those the phases upstream of `path` ran with, as
    "key: theirs there, ours here" (the example count of the other kind of run is not compared)."""
    out = []
    for script, keys in MADE_BY.items():
        meta = upstream_meta(path, script)
        if not meta or meta is None or "config" not in meta:
            continue
        for dotted in keys:
            if dotted == ("rewrites.n_examples" if cfg.smoke else "rewrites.smoke_test_examples"):
                continue
            theirs, ours = _lookup(meta["config"], dotted), _lookup(cfg, dotted)
            if theirs != ours:
                out.append(f"{dotted} {theirs!r} there, {ours!r} here")
    return out


def lineage(path: Path) -> list[Path]:
    """The file, then its inputs, then theirs: the chain its sidecars record."""
    from utils.provenance import read_meta

    chain, queue = [], [Path(path)]
    while queue:
        current = queue.pop(0)
        if current in chain:
            continue
        chain.append(current)
        queue.extend(Path(item["path"]) for item in (read_meta(current) or {}).get("inputs", []))
    return chain


def upstream_meta(path: Path, script: str) -> Optional[dict]:
    """The sidecar of the nearest file of the lineage (the file itself included) that `script` wrote."""
    from utils.provenance import read_meta

    for item in lineage(path):
        meta = read_meta(item)
        if meta and meta.get("script") == script:
            return meta
    return None
