"""Typed errors. A collection error carries the `reason` label it is counted under."""

from __future__ import annotations

from typing import Literal, get_args

Reason = Literal[
    "timeout",  # the store did not answer within its timeout
    "connect",  # could not reach the server or open the file
    "auth",  # credentials refused
    "missing",  # the file or database does not exist
    "permission",  # the OS or the database refused access
    "locked",  # a lock held by a writer outlasted the timeout
    "schema",  # a table or column the preset needs is not there
    "query",  # a query failed for another reason
    "config",  # the spec could not be turned into a working source (e.g. an unset env var)
    "internal",  # a bug in memwatch: anything not classified above
]

# every reason, in the order above (exported from the start at 0, so rate() works at once)
REASONS: tuple[Reason, ...] = get_args(Reason)


class MemwatchError(Exception):
    """Base class for errors memwatch reports to the user."""


class SpecError(MemwatchError):
    """The spec is invalid; the message names the key path and the line."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class UnknownStoreError(MemwatchError):
    """`--store` names a store the spec does not have."""


class SecretError(MemwatchError):
    """A secret reference (env:VAR or a *_file path) cannot be resolved."""


class CollectionError(MemwatchError):
    """A store could not be collected; `reason` becomes the error counter's label."""

    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(message)
        self.reason: Reason = reason
