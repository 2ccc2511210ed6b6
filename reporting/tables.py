"""The effects table of a run: markdown (printed, and written beside the CSV) and the tidy CSV."""

from __future__ import annotations

import csv

from estimation.results import ROW_KEYS
from reporting.render import p_value
import utils


def _cell(value, fmt: str) -> str:
    return "" if value is None else format(value, fmt)




def format_table(rows: list[dict], alpha: float) -> str:
    """A markdown table of `estimates` rows. Rows carrying `dataset` and `reward_key` (the table of a
    whole run) get those columns first; a bootstrap interval column appears when rows have one, a
    clusters column when any row was clustered. ATU (the effect on the untreated; other libraries say
    ATC) is labelled ATU here as everywhere. "p (Holm)" is adjusted across the run's family (estimation/contrasts.py);
    "breakdown delta" is RATE's (estimation/sensitivity.py)."""
    level = f"{100 * (1 - alpha):g}%"
    context = bool(rows) and "dataset" in rows[0]
    boot = any("boot_ci_low" in row for row in rows)
    clustered = any(row.get("clusters") for row in rows)
    head = (["dataset", "reward key"] if context else []) + [
        "estimator", "estimand", "estimate", "SE", f"{level} CI", "p", "p (Holm)", "n1", "n0"]
    head += ["clusters"] if clustered else []
    head += ["estimate/sd", f"{level} CI/sd", "breakdown delta", "truth"]
    head += [f"bootstrap {level} CI"] if boot else []
    align = (["---"] * 2 if context else []) + ["---", "---"] + ["---:"] * 2 + ["---"] + ["---:"] * 4
    align += ["---:"] if clustered else []
    align += ["---:", "---", "---:", "---:"] + (["---"] if boot else [])
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(align) + "|"]
    for row in rows:
        cells = [row["dataset"], row["reward_key"]] if context else []
        cells += [row["estimator"], row["estimand"],
                  _cell(row["estimate"], "+.4f"), _cell(row["se"], ".4f"),
                  f"[{_cell(row['ci_low'], '+.4f')}, {_cell(row['ci_high'], '+.4f')}]", p_value(row.get("p")),
                  p_value(row.get("p_holm")), str(row.get("n1", "")), str(row.get("n0", ""))]
        cells += [_cell(row.get("clusters"), "d")] if clustered else []
        norm = "" if row.get("norm_ci_low") is None else \
            f"[{_cell(row['norm_ci_low'], '+.3f')}, {_cell(row['norm_ci_high'], '+.3f')}]"
        cells += [_cell(row.get("norm_estimate"), "+.3f"), norm, _cell(row.get("breakdown_delta"), "+.4f"),
                  _cell(row.get("truth"), "+.4f")]
        if boot:
            low, high = row.get("boot_ci_low"), row.get("boot_ci_high")
            cells.append("" if low is None else f"[{low:+.4f}, {high:+.4f}]")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_run_tables(rows: list[dict], alpha: float, artifact, keep, **meta) -> tuple:
    """The tidy CSV and the markdown table of every (file, reward key) of the run, sharing one stem
    and one sidecar (`meta`: utils.write_meta's arguments), written before them; `keep` (of
    utils.artifacts.all_or_none) is told every path first."""
    csv_path, artifact = utils.artifacts.new_path(artifact, "csv")
    md_path = csv_path.with_suffix(".md")
    keep(csv_path, md_path, utils.meta_path(csv_path), csv_path.with_name(f".{csv_path.stem}.reserved"))
    columns = ["dataset", "reward_key", *ROW_KEYS] + (["boot_ci_low", "boot_ci_high"] if any(
        "boot_ci_low" in row for row in rows) else [])

    def write_csv(handle):
        writer = csv.DictWriter(handle, fieldnames=columns, lineterminator="\n", extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({key: "" if row.get(key) is None else row[key] for key in columns})

    def write_both(path):
        utils.atomic_write(md_path, lambda handle: handle.write(format_table(rows, alpha) + "\n"))
        try:
            utils.atomic_write(path, write_csv)
        except BaseException:
            md_path.unlink(missing_ok=True)
            raise

    utils.write_output(csv_path, write_both, artifact=artifact,
                       **{**meta, "counts": {**meta.get("counts", {}), "tables": [str(csv_path), str(md_path)]}})
    return csv_path, md_path
