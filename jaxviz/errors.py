"""The one exception type users see: its message is a complete, one-line explanation."""


class JaxvizError(Exception):
    """Bad input or environment; the command line prints the message alone and exits non-zero."""
