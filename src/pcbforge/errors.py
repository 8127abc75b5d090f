"""Errors a user can cause and fix: the CLI prints them as one line and exits 2."""


class PcbforgeError(Exception):
    """A user-facing error: bad params, missing input, malformed file.

    The message must say what was wrong, where (path, file:line, URL) and, when it
    helps, what to do. The CLI prints it without a traceback and exits with code 2.
    """


class ConfigError(PcbforgeError):
    """params.yaml is missing, unreadable or invalid."""


class InputError(PcbforgeError):
    """A stage input (directory, manifest, label file) is missing or malformed."""
