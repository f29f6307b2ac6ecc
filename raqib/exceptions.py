"""Errors of the contract package.

RaqibError
├── ConfigError          a YAML file is unreadable or invalid (file, line, cause)
├── InvalidArticle       an input message is not a valid article (reason)
├── BrokerUnavailable    the Kafka brokers cannot be reached or refuse us (which, how)
└── EmbeddedServerError  a child broker or Redis did not start
"""

from __future__ import annotations


class RaqibError(Exception):
    """Base of every error raqib raises on purpose."""


class ConfigError(RaqibError):
    """A configuration file is malformed; carries where and why."""

    def __init__(self, path: str, line: int | None, cause: str) -> None:
        self.path = path
        self.line = line
        self.cause = cause
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: {cause}")


class InvalidArticle(RaqibError):
    """An input message cannot be read as an article; ``reason`` goes to the dead-letter topic."""

    def __init__(self, reason: str, kind: str = "invalid") -> None:
        self.reason = reason
        self.kind = kind  # a short, bounded category for metric labels
        super().__init__(reason)


class BrokerUnavailable(RaqibError):
    """The Kafka bootstrap servers did not answer, or did not let us in."""


class EmbeddedServerError(RaqibError):
    """A child server (broker or Redis) failed to start or answer."""
