"""Errors a user can act on.

Every error raised for a user mistake derives from :class:`GpfFlowError`; the CLI prints its
message (never a traceback) and exits with its ``exit_code``.
"""

from __future__ import annotations

EXIT_INVALID = 1  # invalid workflow, failed run, failed upload...
EXIT_USAGE = 2  # bad command-line usage
EXIT_INTERRUPTED = 130


class GpfFlowError(Exception):
    """Base of all user-facing errors: the message says what is wrong and how to fix it."""

    exit_code = EXIT_INVALID

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  hint: {self.hint}"


class UsageError(GpfFlowError):
    """Bad command-line usage (unknown step name in --step, conflicting flags...)."""

    exit_code = EXIT_USAGE


class WorkflowError(GpfFlowError):
    """The workflow file is invalid or a step failed."""


class StoreError(GpfFlowError):
    """An operation on a store failed. ``status`` mirrors the HTTP status the API would give."""

    status = 500

    def __init__(self, message: str, *, hint: str | None = None, status: int | None = None) -> None:
        super().__init__(message, hint=hint)
        if status is not None:
            self.status = status


class BadRequestError(StoreError):
    """The request body or parameters are invalid (HTTP 400)."""

    status = 400


class AuthError(StoreError):
    """Missing, invalid or expired credentials (HTTP 401)."""

    status = 401


class ForbiddenError(StoreError):
    """The user may not do this (HTTP 403)."""

    status = 403


class NotFoundError(StoreError):
    """The entity does not exist (HTTP 404)."""

    status = 404


class ConflictError(StoreError):
    """The operation conflicts with the entity's state (HTTP 409)."""

    status = 409


class Interrupted(GpfFlowError):
    """The user pressed Ctrl-C; running work was aborted."""

    exit_code = EXIT_INTERRUPTED
