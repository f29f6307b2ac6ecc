"""What an HTTP status means to a channel, and how errors are scrubbed of secrets."""

from __future__ import annotations

import pytest

from alerts.channels.http import Poster, Reply, retryable_status


@pytest.mark.parametrize(
    ("status", "retryable"),
    [
        (408, True),
        (425, True),
        (429, True),
        (500, True),
        (599, True),
        (400, False),
        (403, False),
        (404, False),
        (409, False),
        (301, False),
    ],
)
def test_retryable_statuses(status: int, retryable: bool) -> None:
    assert retryable_status(status) is retryable


def test_scrub_masks_every_secret_longest_first() -> None:
    poster = Poster("duty", 5.0, secrets=["abc", "abcdef", ""])
    assert poster.scrub("key abcdef and abc") == "key *** and ***"


def test_scrub_also_masks_url_passwords() -> None:
    poster = Poster("duty", 5.0)
    assert poster.scrub("http://user:pw@host/x") == "http://user:***@host/x"


def test_a_failure_carries_status_retry_after_and_a_scrubbed_snippet() -> None:
    poster = Poster("duty", 5.0, secrets=["s3cret"])
    reply = Reply(429, {"Retry-After": "12"}, b"slow down, s3cret\n" + b"x" * 1000)
    error = poster.failure(reply, "webhook duty: POST")
    assert error.retryable
    assert str(error).startswith("webhook duty: POST: HTTP 429 (Retry-After: 12): slow down, ***")
    assert len(str(error)) < 300
