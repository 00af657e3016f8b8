"""User mistakes that end a command with one line on stderr and exit status 2."""

from __future__ import annotations


class UsageError(Exception):
    """A mistake in how a command was called; the message says how to fix it."""
