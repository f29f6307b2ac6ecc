"""How ``POST /articles`` splits a body into records."""

from __future__ import annotations

from producers.ingest_http import split_records


def test_one_article_even_pretty_printed_is_one_record() -> None:
    body = '{\n  "source": "سانا",\n  "body": "حلب"\n}\n'.encode()
    assert split_records(body, "application/json") == [(1, body.strip())]


def test_json_lines_are_one_record_per_non_blank_line() -> None:
    body = b'{"body": "a"}\n\n{"body": "b"}\nnot json\n'
    assert split_records(body) == [(1, b'{"body": "a"}'), (3, b'{"body": "b"}'), (4, b"not json")]
    one = b'{"body": "a"}'
    assert split_records(one, "application/x-ndjson") == [(1, one)]
