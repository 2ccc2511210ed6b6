"""The two errors a user can fix, each reported by the scripts as one line and exit code 2."""

from __future__ import annotations


class RateError(Exception):
    """A problem the user can fix (bad config, missing input)."""


class ConfigError(RateError):
    """A value one config key may not hold; `key` names it. Where the key was set is known to the
    config (utils/config.py: `check_value`, `build_from_module`), which adds the file to the message."""

    def __init__(self, key: str, problem: str):
        super().__init__(f"{key}: {problem}")
        self.key, self.problem = key, problem
