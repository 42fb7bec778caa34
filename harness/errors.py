"""Errors a user can cause. The CLI prints them as one line and exits non-zero."""

from corpora import CorpusError
from workloads import WorkloadError

__all__ = ["USER_ERRORS", "UserError"]


class UserError(ValueError):
    """Bad input from the user: a message naming the problem, never a traceback."""


USER_ERRORS: tuple[type[Exception], ...] = (UserError, CorpusError, WorkloadError)
