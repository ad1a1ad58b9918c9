"""Typed errors. Each one is a single paragraph that says what to do next.

The entry points catch `GenlabError`, print its message and exit with `exit_code`, so a
user sees one paragraph instead of a traceback (set HYDRA_FULL_ERROR=1 for the traceback).
"""


class GenlabError(Exception):
    """Base class of the errors genlab reports to the user without a traceback."""

    exit_code = 1


class GenlabWarning(UserWarning):
    """Base class of genlab's own warnings: the commands print them as one `genlab warning:`
    paragraph, without the source line Python's default format adds
    (genlab/runtime/environment.py)."""


class ConfigError(GenlabError, ValueError):
    """A config key holds a value that is not allowed."""

    exit_code = 2

    def __init__(self, key: str, value: object, allowed: str, hint: str = "") -> None:
        self.key, self.value, self.allowed, self.hint = key, value, allowed, hint
        message = f"Invalid config: `{key}` = {value!r}; allowed: {allowed}."
        if hint:
            message += f" {hint}"
        super().__init__(message)


class ParameterError(ConfigError):
    """A class refused one of its own arguments: `key` starts as the parameter's name, and
    the code that built the class from a config node puts the node's key in front
    (genlab.config.instantiate), so the error names `model.decoder.channels` wherever the
    class was configured, without the class knowing where that is."""

    def under(self, node_key: str) -> "ParameterError":
        return type(self)(f"{node_key}.{self.key}", self.value, self.allowed, self.hint)


class RefusedConfigError(ConfigError):
    """A library (Lightning, torch) refused a config value when genlab built its object."""

    def __init__(self, key: str, library_message: str, hint: str = "") -> None:
        self.key, self.value, self.allowed, self.hint = key, None, library_message, hint
        message = f"Invalid config under `{key}`: {library_message.rstrip('.')}."
        if hint:
            message += f" {hint}"
        GenlabError.__init__(self, message)


class DataNotFoundError(GenlabError, FileNotFoundError):
    """A dataset is missing from disk (and downloading was not asked for)."""


class DataFormatError(GenlabError, ValueError):
    """A dataset file exists but cannot be read as the expected format."""


class NonFiniteError(GenlabError, ArithmeticError):
    """A loss or the weights became NaN/inf during training."""


class CheckpointError(GenlabError, ValueError):
    """A checkpoint is missing, truncated, corrupted or carries executable payload."""


class CacheError(GenlabError, RuntimeError):
    """A cache entry (metric judge, reference statistics, Inception weights) is broken and
    could not be rebuilt."""


class OutputNotWritableError(GenlabError, PermissionError):
    """An output or cache directory cannot be written."""


class RankLostError(GenlabError, RuntimeError):
    """A rank of a distributed run died or stopped answering (its node lost, killed)."""

    def __init__(self, lost: list[dict], world_size: int, reason: str,
                 checkpoint: object, run_name: str) -> None:
        self.lost = lost
        who = ", ".join(f"rank {r['rank']} (host {r['host']}, {r['addr']}, pid {r['pid']})"
                        for r in lost)
        what = (f"{who} of {world_size} was lost" if len(lost) == 1 else
                f"one of {who} (of {world_size}) stopped answering")
        where = f"newest checkpoint {checkpoint}" if checkpoint else "no checkpoint yet"
        super().__init__(
            f"Distributed run: {what} ({reason}). This rank stopped too. The run directory "
            f"has {where}: run the same command again with run_id={run_name} resume=auto to "
            "continue from it.")


class WriteFailedError(GenlabError, OSError):
    """A file could not be written (no space left, quota, read-only file system,
    permission); nothing was left half-written under its name."""


class RunDirLockedError(GenlabError, RuntimeError):
    """Another process writes to this run (or sweep) directory."""


class InterruptedRunError(GenlabError):
    """The run was stopped by SIGINT (Ctrl-C) or SIGTERM; exit 128 + the signal number."""

    def __init__(self, message: str, signum: int) -> None:
        self.signum = signum
        self.exit_code = 128 + signum
        super().__init__(message)
