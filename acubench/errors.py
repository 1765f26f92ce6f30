"""The root of acubench's errors: what the command line turns into one line and exit status 2.

Every error the library raises on purpose (bad input, a missing dataset or
checkpoint, an unusable option) derives from :class:`AcubenchError`, besides
the standard class that says what kind of mistake it is (``ValueError``,
``KeyError``, ``FileNotFoundError``), so ``except ValueError`` keeps working.
Anything else that escapes is a bug and keeps its traceback.
"""

from __future__ import annotations


class AcubenchError(Exception):
    """Base of every error acubench raises on purpose; its message names the problem and the fix."""


class OptionError(AcubenchError, ValueError):
    """An option value acubench cannot use: an unknown config, probe or protocol, a count out of range."""


class PathNotFound(AcubenchError, FileNotFoundError):
    """A file or folder the user named does not exist."""


class RecordError(AcubenchError, ValueError):
    """A result record or predictions file that does not follow the schema."""
