"""The one exception hierarchy of barpipe; every layer raises these, with the bad value."""


class BarpipeError(Exception):
    """Base class: anything barpipe reports to a user as a one-line error."""


class ParameterError(BarpipeError, ValueError):
    """An indicator, strategy, backtest or metric parameter is missing or out of range."""


class ConfigError(BarpipeError, ValueError):
    """A configuration key or value is unknown or invalid."""


class DataError(BarpipeError):
    """Input data cannot be used: missing, unreadable, or of the wrong shape or type."""


class StorageError(BarpipeError):
    """Outputs cannot be written, published, or read back."""
