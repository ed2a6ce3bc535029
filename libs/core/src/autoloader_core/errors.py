"""Error taxonomy shared by every service.

Every failure that crosses a boundary is either *terminal* (retrying cannot help: bad input,
missing object, wrong credentials) or *transient* (retrying later may help: network, throttling,
a lost race). Consumers use the class to decide between terminate and redeliver-with-backoff.
"""

from __future__ import annotations

from dataclasses import dataclass, field


class AutoloaderError(Exception):
    """Base of all errors raised by Autoloader code.

    Args:
        message: What went wrong and, where possible, what to do about it.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class TerminalError(AutoloaderError):
    """Retrying the same operation will fail the same way."""


class TransientError(AutoloaderError):
    """The operation may succeed if retried later."""


class NotFoundError(TerminalError):
    """The addressed resource does not exist (or belongs to another tenant)."""


class ConflictError(TerminalError):
    """The command does not fit the current state (optimistic-concurrency loss or a bad transition)."""


@dataclass(frozen=True)
class FieldError:
    """One invalid input field.

    Attributes:
        field: Dotted path of the field in the request body (``source.path``).
        message: What is wrong and what to send instead.
    """

    field: str
    message: str


@dataclass
class ValidationFailed(TerminalError):
    """Input failed validation; carries one entry per invalid field."""

    errors: list[FieldError] = field(default_factory=list)

    def __post_init__(self) -> None:
        summary = "; ".join(f"{e.field}: {e.message}" for e in self.errors)
        super().__init__(summary or "invalid input")


@dataclass
class ConfirmationRequired(ValidationFailed):
    """A destructive operation was asked for without ``confirm: true`` (HTTP 400)."""
