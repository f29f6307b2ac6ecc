"""Plain text of an HTML fragment (a feed's ``content:encoded`` or summary), paragraphs kept.

>>> html_to_text("<p>وصل الوزير إلى <b>دمشق</b>.</p><script>x()</script><p>ثم غادر&nbsp;اليوم</p>")
'وصل الوزير إلى دمشق.\\n\\nثم غادر اليوم'
>>> html_to_text("plain text, no markup")
'plain text, no markup'
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

BLOCK_TAGS = frozenset(
    "p div br li ul ol h1 h2 h3 h4 h5 h6 blockquote pre table tr section article figure"
    " figcaption header footer hr".split()
)
SKIPPED_TAGS = frozenset({"script", "style", "noscript", "template", "iframe"})
_SPACES_RE = re.compile(r"[ \t\r\f\v\u00a0]+")
_BREAKS_RE = re.compile(r"\n{2,}")  # lines are stripped first: only line feeds remain
INPUT_PATTERNS = (_SPACES_RE, _BREAKS_RE)
"""Every pattern this module applies to text (timed by test_regex_linear.py)."""


class _TextParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in SKIPPED_TAGS:
            self._skipping += 1
        elif tag in BLOCK_TAGS:
            self.parts.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in SKIPPED_TAGS:
            self._skipping = max(self._skipping - 1, 0)
        elif tag in BLOCK_TAGS:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    """Tags dropped, entities decoded, one blank line between blocks, spaces collapsed."""
    parser = _TextParser()
    parser.feed(html)
    parser.close()
    text = _SPACES_RE.sub(" ", "".join(parser.parts))
    lines = "\n".join(line.strip() for line in text.split("\n"))
    return _BREAKS_RE.sub("\n\n", lines).strip()
