"""Typed warmstart errors; the CLI renders them once, as one line, with a non-zero exit."""


class WarmstartError(Exception):
    """Base of every error warmstart expects and explains to the user."""

    exit_code = 1


class ConfigError(WarmstartError):
    """A config file or option is invalid (bad YAML, unknown key, value out of range)."""

    exit_code = 2


class InputError(WarmstartError):
    """A data file or table is unusable: missing, malformed, wrong columns, empty."""

    exit_code = 3

    def __init__(self, message: str, *, path=None, line=None, field=None):
        where = ""
        if path is not None:
            where = str(path)
            if line is not None:
                where += f":{line}"
            where += ": "
        if field is not None:
            message = f"field '{field}': {message}"
        super().__init__(where + message)
        self.path, self.line, self.field = path, line, field


class LakeError(WarmstartError):
    """The lake refused an operation (read-only, bad SQL, locked, missing table)."""

    exit_code = 4


class SplitError(WarmstartError):
    """A split is unknown, of the wrong kind for the trainer, or empty."""

    exit_code = 5


class ModelError(WarmstartError):
    """A model name or path cannot be resolved or loaded."""

    exit_code = 6


class DeviceError(WarmstartError):
    """The requested device is not available (e.g. --device cuda without CUDA)."""

    exit_code = 7
