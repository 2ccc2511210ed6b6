"""`custom`: the user's own responses and attribute, configured entirely under
`rewrites.template_options` (docs/bring-your-own.md walks through it).

Rows come from `path` (JSONL, a JSON array, CSV, or parquet; a relative path is looked for under
PROJECT_DIR, then in the folder the command runs in) or from `hf_dataset`/`hf_split`. Each row gives
its prompt (`question_field`) and response (`completion_field`); both are dotted paths into the row,
where a number indexes a list (`messages.-1.content`: the last message's content). `id_field` names
the example (default: its row number), and `cluster_field` groups responses to one prompt, whose
effects are then estimated with cluster-robust standard errors.

W comes from `w_field` when it is set: true/false (or 1/0, "true"/"false") as it stands, or, with
`w_true_values`, W = 1 for those values; with `w_false_values` too, W = 0 only for those. Without a
`w_field`, the attribute judge (`judge.method: llm`) decides W of each sampled original from the
`w_strings` question; the examples it leaves undecided are skipped and counted (phases/create_dataset.py).

`w_strings` describes both values of W (`w=1`, `w=0`), each phrased to complete "so that it ...":
they fill the rewrite prompt and the judge's question. The rewrite prompt holds `{original_completion}`
and `{w_counterfactual_string}`; the default asks for that change and nothing else.

Every row is checked when the rows are read, before anything is sent: a missing field, a W that is
neither value, an empty text or a repeated id is one line naming the option, the file and the row.
"""

from __future__ import annotations

import csv
import logging
from pathlib import Path

from dataset_templates import DatasetTemplate, _sources
from utils import RateError, project_dir
from utils.errors import ConfigError
from utils.schema import AT_LEAST_1

logger = logging.getLogger(__name__)

PREFIX = "rewrites.template_options"
DEFAULT_PROMPT = ("{original_completion}\n\nRewrite the response above so that it {w_counterfactual_string}, but "
                  "change *nothing* else. Give only the rewritten response, with no acknowledgement of this request "
                  "and no other context.")
OPTIONS = {
    "path": None,
    "hf_dataset": None,
    "hf_split": "train",
    "hf_cache_dir": None,
    "question_field": "prompt",
    "completion_field": "response",
    "id_field": None,
    "cluster_field": None,
    "w_field": None,
    "w_true_values": None,
    "w_false_values": None,
    "w_strings": None,
    "rewrite_prompt": DEFAULT_PROMPT,
    "n_examples": 1000,
}
CHECKS = {"n_examples": AT_LEAST_1}
# The conformance test's stand-ins (tests/dataset_fixtures.py): the file, and the fields it holds.
FIXTURE = {"path": "custom.jsonl"}
FIXTURE_OPTIONS = {"w_field": "has_list", "id_field": "id", "cluster_field": "question_id",
                   "w_strings": {"w=1": "uses a bulleted list", "w=0": "does not use a bulleted list"}}
# W as written in a field without w_true_values (True == 1 and False == 0 as dict keys).
PLAIN_BOOLEANS = {True: True, False: False, "true": True, "false": False, "1": True, "0": False}
NAMES = ("path", "hf_dataset", "hf_split", "hf_cache_dir", "question_field", "completion_field", "id_field",
         "cluster_field", "w_field")


def field(row, dotted: str):
    """The value at a dotted path into a row; a number indexes a list. KeyError when it is not there."""
    value = row
    for part in dotted.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.lstrip("-").isdigit() and -len(value) <= int(part) < len(value):
            value = value[int(part)]
        else:
            raise KeyError(dotted)
    return value


def locate(path: str) -> Path:
    """`path` as given, or under PROJECT_DIR, or from the folder the command runs in, in that order."""
    given = Path(path).expanduser()
    if given.is_absolute():
        return given
    for candidate in (project_dir() / given, Path.cwd() / given):
        if candidate.exists():
            return candidate.resolve()
    raise RateError(f"{PREFIX}.path: {path} is neither under PROJECT_DIR ({project_dir()}) nor in {Path.cwd()}")


def read_table(options: dict):
    """The raw rows and a description of where they came from."""
    if options["path"]:
        path = locate(options["path"])
        if path.suffix == ".csv":
            try:
                with open(path, newline="", encoding="utf-8") as handle:
                    return list(csv.DictReader(handle)), str(path)
            except UnicodeDecodeError as err:
                raise RateError(f"{PREFIX}.path: {path} is not UTF-8 text (byte {err.start})") from None
        return _sources.load_table({**options, "local_path": str(path)}, "custom"), str(path)
    return _sources.load_table({**options, "local_path": None}, "custom"), _sources.describe(options)


def w_rule(options: dict):
    """row value -> W, or raise ValueError naming why it is neither."""
    true_values, false_values = options["w_true_values"], options["w_false_values"]
    if true_values is None:
        def plain(value):
            key = value.strip().lower() if isinstance(value, str) else value
            if isinstance(key, (bool, int, str)) and key in PLAIN_BOOLEANS:
                return PLAIN_BOOLEANS[key]
            raise ValueError(f"is {value!r}, neither true nor false (set {PREFIX}.w_true_values for other labels)")
        return plain

    def listed(value):
        if value in true_values:
            return True
        if false_values is None or value in false_values:
            return False
        raise ValueError(f"is {value!r}, in neither w_true_values {true_values} nor w_false_values {false_values}")
    return listed


def checked_rows(options: dict) -> list[dict]:
    """Every row as {"id", "question", "completion", "w", "cluster"}, each checked (module docstring)."""
    table, where = read_table(options)
    to_w = w_rule(options) if options["w_field"] else None
    wanted = {"question_field": options["question_field"], "completion_field": options["completion_field"],
              **{key: options[key] for key in ("id_field", "cluster_field", "w_field") if options[key]}}
    rows, seen = [], {}
    for number, raw in enumerate(table, 1):
        if not isinstance(raw, dict):
            raise RateError(f"{PREFIX}.path: row {number} of {where} is {type(raw).__name__}, not a row of named fields")
        found = {}
        for key, dotted in wanted.items():
            try:
                found[key] = field(raw, dotted)
            except KeyError:
                raise RateError(f"{PREFIX}.{key}: row {number} of {where} has no field '{dotted}' (it has "
                                f"{sorted(raw)[:12]})") from None
        for key in ("question_field", "completion_field"):
            if not isinstance(found[key], str) or (key == "completion_field" and not found[key].strip()):
                problem = "an empty text" if isinstance(found[key], str) else f"{type(found[key]).__name__}, not text"
                raise RateError(f"{PREFIX}.{key}: row {number} of {where}: '{wanted[key]}' is {problem}")
        example_id = str(found["id_field"]) if "id_field" in found else f"row-{number}"
        if example_id in seen:
            raise RateError(f"{PREFIX}.id_field: rows {seen[example_id]} and {number} of {where} share the id "
                            f"{example_id!r}")
        seen[example_id] = number
        w = None
        if to_w is not None:
            try:
                w = to_w(found["w_field"])
            except (ValueError, TypeError) as err:
                raise RateError(f"{PREFIX}.w_field: row {number} of {where}: '{wanted['w_field']}' {err}") from None
        cluster = found.get("cluster_field")
        rows.append({"id": example_id, "question": found["question_field"], "completion": found["completion_field"],
                     "w": w, "cluster": None if cluster is None else str(cluster)})
    if not rows:
        raise RateError(f"{PREFIX}.path: {where} holds no rows")
    logger.info("custom: %d rows from %s", len(rows), where)
    return rows


def check_options(options: dict) -> None:
    for key in NAMES:
        if options[key] is not None and not (isinstance(options[key], str) and options[key]):
            raise ConfigError(f"{PREFIX}.{key}", f"must be a non-empty string, got {options[key]!r}")
    if not options["path"] and not options["hf_dataset"]:
        raise ConfigError(f"{PREFIX}.path", "the custom template needs path (a JSONL, JSON, CSV or parquet file) "
                                            "or hf_dataset")
    if options["path"]:
        try:
            locate(options["path"])  # only looked up here: the rows wait for load_rows
        except RateError as err:
            raise ConfigError(f"{PREFIX}.path", str(err).removeprefix(f"{PREFIX}.path: ")) from None
    strings = options["w_strings"]
    if not (isinstance(strings, dict) and set(strings) == {"w=1", "w=0"}
            and all(isinstance(v, str) and v.strip() for v in strings.values())):
        raise ConfigError(f"{PREFIX}.w_strings", "must describe both values of W, e.g. {w=1: uses a bulleted list, "
                                                 f"w=0: does not use a bulleted list}}, got {strings!r}")
    prompt = options["rewrite_prompt"]
    missing = [p for p in ("{original_completion}", "{w_counterfactual_string}") if p not in (prompt or "")]
    if missing:
        raise ConfigError(f"{PREFIX}.rewrite_prompt", f"must hold {' and '.join(missing)}")
    try:
        prompt.format(original_completion="", w_counterfactual_string="")
    except (KeyError, IndexError, ValueError) as err:
        raise ConfigError(f"{PREFIX}.rewrite_prompt", f"holds a brace that is no placeholder ({err!r}); write a "
                                                      "literal brace as {{ or }}") from None
    for key in ("w_true_values", "w_false_values"):
        if options[key] is not None and not (isinstance(options[key], list) and options[key]):
            raise ConfigError(f"{PREFIX}.{key}", f"must be a non-empty list of values, got {options[key]!r}")
    if options["w_false_values"] is not None and options["w_true_values"] is None:
        raise ConfigError(f"{PREFIX}.w_false_values", "needs w_true_values beside it")
    if not options["w_field"] and (options["w_true_values"] or options["w_false_values"]):
        raise ConfigError(f"{PREFIX}.w_true_values", "needs w_field: the values are those of a field")


def build(options: dict) -> DatasetTemplate:
    check_options(options)
    by_judge = not options["w_field"]
    return DatasetTemplate(
        name="custom",
        description=f"your responses from {options['path'] or options['hf_dataset']}; W "
                    + ("decided by the attribute judge" if by_judge else f"from the field '{options['w_field']}'"),
        load_rows=lambda: checked_rows(options),
        n_examples=options["n_examples"],
        w_strings=dict(options["w_strings"]),
        w_classifier=lambda row: row["w"],
        get_reward_question=lambda row: row["question"],
        get_original_completion=lambda row: row["completion"],
        get_id=lambda row, index: row["id"],
        get_cluster=(lambda row: row["cluster"]) if options["cluster_field"] else None,
        rewrite_prompt=options["rewrite_prompt"],
        w_from_judge=by_judge,
        extra={"source": options["path"] or _sources.describe(options)},
    )
