"""User-facing errors: one clear sentence, caught by the CLI and turned into a non-zero exit."""


class HmcodecError(Exception):
    """Base class of every error that is the user's input rather than a bug."""

    exit_code = 2


class StreamError(HmcodecError):
    """A `.hmc` stream is truncated, corrupted, of an unknown version or for another model."""


class ModelError(HmcodecError):
    """A model file is missing, unreadable, or not an hmcodec model."""


class ImageError(HmcodecError):
    """An input image cannot be read or converted to RGB."""


class ConfigError(HmcodecError):
    """An experiment config is missing, malformed or names something unknown."""


class OutputError(HmcodecError, OSError):
    """An output file cannot be written: not a regular file, or the write itself failed.

    Also an :class:`OSError`, so code that handled the operating system's error still does.
    """
