"""The one exception type users see: its message is a complete, one-line explanation."""


class JaxvizError(Exception):
    """Bad input or environment; the command line prints the message alone and exits non-zero."""


class Interrupted(JaxvizError):
    """The user stopped a run (Ctrl-C); what was finished is saved. A sweep stops too, not just that point."""
