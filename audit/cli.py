"""`make audit`: many attributes x many reward models in one run, and one audit card.

Each attribute of `audit.attributes` (a dataset template) is rewritten once, scored by every model of
`audit.models` (a scoring template) and estimated, through the four phases' scripts. The card puts
RATE's effect size of every attribute x model in one matrix, with p-values adjusted across the
whole audit (Holm and Benjamini-Hochberg), the naive estimate beside each, the paired contrasts
between models on the same examples, each attribute's rewrite checks (judge efficacy, off-target
asymmetry, breakdown delta) and links to every file. What the audit already holds is not redone
(audit/steps.py): adding a model to `audit.models` scores only that model.

Usage:
    python run_audit.py --config configs/audits/offline.yaml [--smoke_test=true] [--rewrites.n_examples=300]
    python run_audit.py --config configs/audits/offline.yaml --plan    # the steps it would run, and no more
    python run_audit.py --config configs/audits/paper.yaml --dry-run   # each rewrite step's requests, tokens
                                                                       # and cost; nothing sent or written
    python run_audit.py --config configs/audits/offline.yaml --card    # only the card, from the audit's files
    python run_audit.py --config configs/audits/offline.yaml --slurm   # the steps as a chain of SLURM jobs
                                                              # (make audit with PARTITION set)

Writes PROJECT_DIR/audits/<audit>_audit[_smoke_test]_<stamp>.html (and .md, .tex and the matrix as
.csv, under one .meta.json sidecar); the phases' files are those of the pipeline run audit-<audit>, where each phase
writes them.
"""

from __future__ import annotations

import logging
import os
import sys

import utils

logger = logging.getLogger(__name__)
MODES = ("--plan", "--dry-run", "--card", "--slurm")


def submit(step_script: str, config: str, args: list[str], after: list[str], model: str | None = None) -> str:
    """One SLURM job (slurm/submit.sh) running `step_script` with `args`, after the jobs `after`; its id.
    A scoring job asks for the GPUs its `model` needs (scoring/gpus.py, GPUS from make)."""
    import subprocess

    from scoring import gpus

    phase = step_script.removesuffix(".py")
    flags = os.environ.get(f"SBATCH_{phase}", "")
    if model:
        flags += " " + gpus.flags([model], os.environ.get("GPUS", "auto"))
    env = {**os.environ, "SBATCH_FLAGS": flags, "DEPENDENCY": ":".join(after)}
    done = subprocess.run([str(utils.REPO_DIR / "slurm" / "submit.sh"), phase, config, *args], env=env,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise utils.RateError(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"sbatch refused {phase}")
    return done.stdout.strip()


def write_card(cfg: utils.Config, name: str, run: str, started: str) -> None:
    from audit import card

    audit = card.collect(cfg, name, run)
    reserved = utils.artifacts.new_path(utils.artifacts.of(cfg, "audit", utils.slug(name)), "html")
    html_path, where = reserved.path, reserved.path.parent
    inputs = [a["table"] for a in audit["attributes"]] + [c["effects"] for *_, c in card.provenance(audit)]
    with utils.artifacts.all_or_none(where, f"audit_{os.getpid()}") as keep:
        keep(*reserved.files(".md", ".tex", ".csv"))
        card.write_csv(html_path.with_suffix(".csv"), audit)
        utils.atomic_write(html_path.with_suffix(".md"), lambda h: h.write(card.to_markdown(audit, where)))
        utils.atomic_write(html_path.with_suffix(".tex"), lambda h: h.write(card.to_latex(audit)))
        utils.write_output(html_path, lambda p: utils.atomic_write(p, lambda h: h.write(card.to_html(audit, where))),
                           script="run_audit.py", cfg=cfg, started_at=started, inputs=inputs, artifact=reserved.artifact,
                           counts={"attributes": len(audit["attributes"]), "models": len(audit["models"])})
    print("\n".join(card.headline(audit)))
    print(f"\n{card.to_markdown(audit, where).split('## Paired')[0].split('## RATE')[1].strip()}\n")
    for path in (html_path, *(html_path.with_suffix(ext) for ext in (".md", ".tex", ".csv"))):
        print(path)


def split_modes(argv: list[str]) -> tuple[str | None, list[str]]:
    """The one mode flag the command line gives (or None), and the rest of it."""
    modes = {arg for arg in argv if arg in MODES}
    if len(modes) > 1:
        raise utils.RateError(f"command line: {' and '.join(sorted(modes))} exclude each other; give one")
    return (modes.pop() if modes else None), [arg for arg in argv if arg not in MODES]


def print_plan(plan: list, path: str) -> None:
    for step in plan:
        print(f"{step.describe()}: {step.script} --config {path} " + " ".join(f"--{k}={v}" for k, v in step.overrides))


def dry_run(plan: list, path: str, name: str) -> None:
    for step in (s for s in plan if s.script == "create_dataset.py"):
        utils.run_phase(step.script, path, step.overrides + [("rewrites.dry_run", "true")],
                        f"audit {name}, {step.describe()}, dry run")


def submit_chain(plan: list, path: str, given: list[tuple[str, str]]) -> None:
    """Each attribute's steps as a chain of SLURM jobs, and the card after all of them."""
    last: dict[str, str] = {}
    for step in plan:
        job = submit(step.script, path, [f"--{k}={v}" for k, v in step.overrides],
                     [last[step.attribute]] if step.attribute in last else [], step.model)
        last[step.attribute] = job
        print(f"{step.describe()}: job {job}")
    job = submit("run_audit.py", path, ["--card", *(f"--{k}={v}" for k, v in given)], list(last.values()))
    print(f"audit card: job {job}")


def main(argv: list[str] | None = None) -> None:
    from audit import steps

    mode, rest = split_modes(sys.argv[1:] if argv is None else argv)
    cfg, started = utils.start(rest, __doc__)
    path, given = utils.parse_cli(rest)
    steps.check(cfg)
    name, run = steps.name_of(cfg), steps.run_of(cfg)
    logger.info("audit %s (run %s): %d attributes x %d models", name, run, len(cfg["audit"]["attributes"]),
                len(cfg["audit"]["models"]))
    if mode == "--card":
        return write_card(cfg, name, run, started)
    plan = steps.plan(cfg, [(k, v) for k, v in given if k != "run"])
    if mode == "--plan":
        return print_plan(plan, path)
    if mode == "--dry-run":
        return dry_run(plan, path, name)
    if mode == "--slurm":
        return submit_chain(plan, path, given)
    for number, step in enumerate(plan, 1):
        logger.info("step %d of %d: %s", number, len(plan), step.describe())
        utils.run_phase(step.script, path, step.overrides, f"audit {name}, {step.describe()}")
    return write_card(cfg, name, run, started)
