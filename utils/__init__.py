"""Plumbing shared by the four RATE scripts: config, paths, JSONL records, `latest`, provenance.

Nothing here knows about rewriting, scoring or statistics; each phase keeps its own logic.
Importing has no side effects (no directories, no logging set-up, no `.env` read).

  utils/schema.py      every config key with its default and type
  utils/config.py      loading, overrides, errors, finding templates by file name
  utils/files.py       PROJECT_DIR folders, atomic writes, reading and writing records
  utils/record.py      what a record holds: its completion keys, request ids, W, verdicts, validation
  utils/artifacts.py   what an output is: its identity, name, `latest`, lineage
  utils/provenance.py  `.meta.json` sidecars, logging set-up, the script entry wrapper
"""

from utils.config import (REPO_DIR, SMOKE_MARK, Config, RateError, build_from_module, build_module, check_value,
                          config_from_argv, dataset_key, find_module, original_names, load_config, merge_options, parse_cli,
                          redact, redact_url, scored_model, slug, smoke_mark, template_names)
from utils.files import (STAMP_FORMAT, STAMP_PATTERN, SUBDIRS, atomic_write, exclusive, folder, load_env,
                         project_dir, read_json, read_records, write_json, write_jsonl)
from utils.record import ORACLE, record_w
from utils import artifacts, record
from utils.provenance import (git_state, library_versions, log_config, meta_path, now, read_meta, run_cli,
                              log_summary, run_phase, setup_logging, sha256, start, write_meta, write_output)
from utils.errors import ConfigError
from utils.schema import SCHEMA

__all__ = [
    "REPO_DIR", "SMOKE_MARK", "Config", "RateError", "build_from_module", "build_module", "check_value", "config_from_argv",
    "dataset_key", "find_module", "original_names", "load_config", "merge_options", "parse_cli", "redact", "redact_url", "scored_model", "slug", "smoke_mark",
    "template_names", "ORACLE", "STAMP_FORMAT", "STAMP_PATTERN", "SUBDIRS", "atomic_write", "exclusive", "folder", "load_env",
    "project_dir", "read_json", "read_records", "record_w", "write_json", "write_jsonl", "artifacts", "record", "git_state",
    "library_versions", "log_config", "meta_path", "now", "read_meta", "run_cli", "run_phase", "log_summary", "setup_logging", "sha256", "start",
    "write_meta", "write_output", "SCHEMA", "ConfigError",
]
