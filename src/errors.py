"""User-facing error types. Each is a ValueError so callers may catch the standard type; entry scripts print
the message (no traceback) and exit non-zero."""


class ConfigError(ValueError):
    """A bad configuration key or value."""


class DataError(ValueError):
    """A missing, empty or corrupt data set."""


class CheckpointError(ValueError):
    """A checkpoint that is unreadable or does not fit the network."""


class OutputError(ValueError):
    """An output that cannot be written: a full disk, a read-only or locked output folder."""
