"""The two errors a user can fix, each reported by the scripts as one line and exit code 2."""

from __future__ import annotations


class RateError(Exception):
    """A problem the user can fix (bad config, missing input)."""


class ConfigError(RateError):
    """A value one config key may not hold; `key` names it, `problem` says what is wrong. Where the key
    was set is known to the config (utils/config.py: `check_value`, `build_from_module`), which adds the
    file to the message. `text`, when given, is the whole message, for a rule whose sentence names the
    key inside it ("key 'judge.method' must be one of ...")."""

    def __init__(self, key: str, problem: str, text: str | None = None):
        super().__init__(text or f"{key}: {problem}")
        self.key, self.problem = key, problem
