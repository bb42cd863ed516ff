"""The exceptions users see: each message is a complete, one-line explanation."""


class JaxvizError(Exception):
    """Bad input or environment; the command line prints the message alone and exits non-zero."""


class WriteError(JaxvizError):
    """The operating system refused a write (no space, quota, permission, read-only, a vanished folder).

    Raised only after the half-written file is removed, so a rerun resumes from what was complete.
    """


class Interrupted(JaxvizError):
    """The user stopped a run (Ctrl-C); what was finished is saved. A sweep stops too, not just that point."""
