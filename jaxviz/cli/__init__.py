"""The command lines: one module per command, their shared flags and the one-line error contract."""
