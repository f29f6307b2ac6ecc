"""Errors of the producers.

ProducerError (a RaqibError)
├── DedupeUnavailable   Redis, which remembers what was sent, cannot be reached
├── PublishFailed       the broker did not acknowledge some messages (how many, why)
└── FeedsFailed         ``raqib poll --once``: every feed failed (each one's error)
"""

from __future__ import annotations

from raqib.exceptions import RaqibError


class ProducerError(RaqibError):
    """Base of the errors a producer raises on purpose."""


class DedupeUnavailable(ProducerError):
    """Redis cannot be reached: without it duplicates cannot be told apart."""


class PublishFailed(ProducerError):
    """The broker refused or never acknowledged ``failed`` messages."""

    def __init__(self, failed: int, cause: BaseException) -> None:
        self.failed = failed
        self.cause = cause
        super().__init__(f"{failed} message(s) not acknowledged: {type(cause).__name__}: {cause}")


class FeedsFailed(ProducerError):
    """No feed could be read; ``errors`` maps each feed to why."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = errors
        lines = "; ".join(f"{name}: {why}" for name, why in errors.items())
        super().__init__(f"every feed failed ({len(errors)}): {lines}")
