"""Hide passwords in text that is about to be printed or logged.

Connection URLs carry credentials (``redis://user:secret@host:6379/0``) and so can the
errors that quote them. Everything raqib prints about a server goes through :func:`redact`.

>>> redact("cannot read counts from redis://raqib:s3cret@cache:6379/0: refused")
'cannot read counts from redis://raqib:***@cache:6379/0: refused'
>>> redact("rediss://:s3cret@cache:6380/1")
'rediss://:***@cache:6380/1'
>>> redact("sasl_plain_password='s3cret', sasl_plain_username='raqib'")
"sasl_plain_password='***', sasl_plain_username='raqib'"
"""

from __future__ import annotations

import logging
import re

MASK = "***"

# scheme://user:password@host — the password is everything up to the netloc's last "@",
# as urllib.parse reads it, so a raw "@" in a password does not leave a tail behind
_URL_PASSWORD = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^:@/?#\s]*:)[^/?#\s]*@")
# ?password=... in a query string (redis-py reads unix:// passwords there)
_QUERY_PASSWORD = re.compile(r"(?P<head>[?&;]password=)[^&#\s]*", re.IGNORECASE)
# password=..., "password": "...", sasl_plain_password='...', RAQIB_REDIS_PASSWORD=...
_KEY_PASSWORD = re.compile(
    r"""(?P<head>\b\w*password["']?\s*[:=]\s*)(?P<value>'[^']*'|"[^"]*"|\w+\([^)]*\)|[^\s,;&)}\]]+)""",
    re.IGNORECASE,
)


def _mask_value(match: re.Match[str]) -> str:
    value = match["value"]
    quote = value[0] if value[:1] in ("'", '"') and value[-1:] == value[:1] else ""
    return f"{match['head']}{quote}{MASK}{quote}"


def redact(text: object) -> str:
    """``text`` (a URL, a message, an exception) with every password replaced by ``***``."""
    out = _URL_PASSWORD.sub(lambda m: f"{m['head']}{MASK}@", str(text))
    out = _QUERY_PASSWORD.sub(lambda m: f"{m['head']}{MASK}", out)
    return _KEY_PASSWORD.sub(_mask_value, out)


class RedactingFilter(logging.Filter):
    """Redacts the records of a logger that prints its configuration, password included
    (kafka-python's admin client does, at debug level)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        return True


def redact_logger(name: str) -> None:
    """Redact every record logged on ``name`` from now on (once, however often called)."""
    logger = logging.getLogger(name)
    if not any(isinstance(f, RedactingFilter) for f in logger.filters):
        logger.addFilter(RedactingFilter())
