"""Stable article ids: the same story gets the same id whichever way it arrives — from a
producer of raqib's, or published to ``articles`` without one (the worker names it alike).

An article with a URL is named by its normalized URL — scheme folded to https, host in
lower case, default port, fragment and tracking parameters (``utm_*``, fbclid, gclid …)
dropped — so a link shared from a newsletter and the feed's own link are one article.
Without a URL, by a hash of source, title and body.

>>> normalize_url("HTTP://Www.Example.ORG:80/news/1?utm_source=x&id=7&fbclid=abc#top")
'https://www.example.org/news/1?id=7'
>>> article_id("", "https://example.org/news/1?utm_medium=rss") == article_id(
...     "", "https://EXAMPLE.org/news/1")
True
"""

from __future__ import annotations

import hashlib
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

TRACKING_PARAMS = frozenset(
    {
        "fbclid",  # Facebook
        "gclid",  # Google Ads
        "gclsrc",
        "dclid",  # Google Display
        "gbraid",
        "wbraid",
        "msclkid",  # Microsoft Ads
        "yclid",  # Yandex
        "twclid",  # X / Twitter
        "igshid",  # Instagram
        "mc_cid",  # Mailchimp
        "mc_eid",
        "_ga",
        "_gl",
        "ocid",
        "cmpid",
    }
)
TRACKING_PREFIXES = ("utm_",)
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _tracking(name: str) -> bool:
    lowered = name.lower()
    return lowered in TRACKING_PARAMS or lowered.startswith(TRACKING_PREFIXES)


def normalize_url(url: str) -> str:
    """The URL that names an article: the same page however it was linked (one that does
    not parse, such as ``http://[::1``, as written).

    >>> normalize_url(" http://[::1 ")
    'http://[::1'
    """
    try:
        parts = urlsplit(url.strip())
    except ValueError:  # an unbalanced IPv6 bracket: input, never a reason to stop
        return url.strip()
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    try:
        port = parts.port
    except ValueError:  # a malformed port: keep the URL's own spelling
        port = None
    if port is not None and port != _DEFAULT_PORTS.get(scheme):
        host = f"{host}:{port}"
    if scheme == "http":  # one page whether linked over http or https
        scheme = "https"
    query = urlencode(
        [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _tracking(k)]
    )
    return urlunsplit((scheme, host, parts.path or "/", query, ""))


def article_id(source: str, url: str, title: str = "", body: str = "") -> str:
    """``u-`` + a hash of the normalized URL, else ``h-`` + a hash of the content."""
    if url.strip():
        return "u-" + hashlib.sha256(normalize_url(url).encode()).hexdigest()[:20]
    content = f"{source}\n{title}\n{body}"
    return "h-" + hashlib.sha256(content.encode()).hexdigest()[:20]
