"""``raqib watch DIR``: publish each new or changed ``.txt``, ``.json`` or ``.jsonl`` file once.

What was sent is remembered in a small JSON state file (by default under
``RAQIB_DATA_DIR``, one per watched directory), written only after the broker has
acknowledged the file's articles: a restart sends nothing twice and loses nothing.

* ``.txt``: one article, the text as its body, its first line as the title (when the
  text has more than one line), ``source`` from ``--source``;
* ``.json``: one article object;
* ``.jsonl``: one article a line; a file that grew by appended lines sends only the new
  ones, a file rewritten otherwise is sent again (duplicates are then suppressed).

A file modified less than ``settle_s`` ago is left for the next scan: it may still be
being written (write to a temporary name and rename to be safe).

Example::

    watcher = Watcher(Path("inbox"), sink, WatchState.load(state_path(data_dir, inbox)))
    watcher.scan()
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from producers.exceptions import ProducerError
from producers.sink import Sink
from raqib.exceptions import InvalidArticle

SUFFIXES = frozenset({".txt", ".json", ".jsonl"})


@dataclass(frozen=True, slots=True)
class FileState:
    """A file as last sent: its hash, and for JSON lines how many bytes of it were sent."""

    sha256: str
    sent_bytes: int = 0
    sent_sha256: str = ""


def state_path(data_dir: Path, directory: Path) -> Path:
    """The default state file of a watched directory: one per directory, in the data dir."""
    digest = hashlib.sha256(str(directory.resolve()).encode()).hexdigest()[:12]
    return data_dir / f"watch-{digest}.json"


class WatchState:
    """What was sent from one directory, by relative file name, kept in a JSON file."""

    def __init__(self, path: Path, files: dict[str, FileState] | None = None) -> None:
        self.path = path
        self.files = files or {}

    @classmethod
    def load(cls, path: Path) -> WatchState:
        if not path.exists():
            return cls(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            files = {name: FileState(**entry) for name, entry in data["files"].items()}
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ProducerError(
                f"{path}: unreadable watch state ({exc}); delete it to send every file again"
            ) from exc
        return cls(path, files)

    def save(self) -> None:
        """Write atomically: a crash mid-write leaves the previous state, never half of one."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        data = {"files": {name: asdict(state) for name, state in sorted(self.files.items())}}
        tmp.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
        os.replace(tmp, self.path)


@dataclass(slots=True)
class Scanned:
    """What one scan did."""

    files: int = 0
    sent: int = 0
    duplicates: int = 0
    errors: list[str] = field(default_factory=list)

    def line(self) -> str:
        return (
            f"{self.files} files: sent {self.sent} articles, {self.duplicates} duplicates "
            f"suppressed, {len(self.errors)} errors"
        )


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def text_article(text: str, source: str) -> dict[str, Any]:
    """A ``.txt`` file as an article: the text as body, its first line as title."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return {"source": source, "title": lines[0] if len(lines) > 1 else "", "body": text}


class Watcher:
    """Scans one directory (recursively, hidden files skipped) and sends what is new."""

    def __init__(
        self,
        directory: Path,
        sink: Sink,
        state: WatchState,
        *,
        source: str = "",
        settle_s: float = 1.0,
        clock: Callable[[], float] = time.time,
        on_error: Callable[[str], None] = lambda message: None,
    ) -> None:
        self.directory = directory
        self.sink = sink
        self.state = state
        self.source = source
        self.settle_s = settle_s
        self.clock = clock
        self.on_error = on_error

    def _files(self) -> Iterator[Path]:
        for path in sorted(self.directory.rglob("*")):
            relative = path.relative_to(self.directory)
            if path.suffix in SUFFIXES and path.is_file():
                if not any(part.startswith(".") for part in relative.parts):
                    yield path

    def scan(self) -> Scanned:
        """Send every new or changed file that has settled; save the state after each."""
        done = Scanned()
        for path in self._files():
            name = path.relative_to(self.directory).as_posix()
            try:
                if self.clock() - path.stat().st_mtime < self.settle_s:
                    continue
                data = path.read_bytes()
            except OSError as exc:  # removed or unreadable since the listing
                self._error(done, f"{name}: {exc}")
                continue
            previous = self.state.files.get(name)
            if previous is not None and previous.sha256 == _sha(data):
                continue
            done.files += 1
            start = 0
            if path.suffix == ".jsonl" and previous is not None and previous.sent_bytes:
                if _sha(data[: previous.sent_bytes]) == previous.sent_sha256:
                    start = previous.sent_bytes  # appended to: only the new lines
            sent_bytes = self._send(name, path.suffix, data, start, done)
            self.sink.flush()
            self.state.files[name] = FileState(_sha(data), sent_bytes, _sha(data[:sent_bytes]))
            self.state.save()
        return done

    def _send(self, name: str, suffix: str, data: bytes, start: int, done: Scanned) -> int:
        """Offer the file's articles from byte ``start``; return the bytes sent (a JSON
        lines file's last line, without its newline yet, waits for the next scan)."""
        if suffix != ".jsonl":
            self._offer(done, name, lambda: self._whole(suffix, data))
            return len(data)
        end = data.rfind(b"\n") + 1
        number = data[:start].count(b"\n")
        for line in data[start:end].splitlines():
            number += 1
            if line.strip():
                self._offer(done, f"{name}:{number}", functools.partial(bytes, line))
        return end

    def _whole(self, suffix: str, data: bytes) -> bytes:
        if suffix == ".json":
            return data
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidArticle(f"not UTF-8: {exc.reason} at byte {exc.start}") from None
        return json.dumps(text_article(text, self.source), ensure_ascii=False).encode()

    def _offer(self, done: Scanned, where: str, raw: Callable[[], bytes]) -> None:
        try:
            offered = self.sink.offer_raw(raw())
        except InvalidArticle as exc:
            self._error(done, f"{where}: {exc.reason}")
            return
        if offered.sent:
            done.sent += 1
        else:
            done.duplicates += 1

    def _error(self, done: Scanned, message: str) -> None:
        done.errors.append(message)
        self.on_error(message)

    def run(self, interval_s: float, *, once: bool = False) -> Scanned:
        """Scan every ``interval_s`` until interrupted (SIGTERM, Ctrl-C), or once."""
        total = Scanned()
        while True:
            scanned = self.scan()
            total.files += scanned.files
            total.sent += scanned.sent
            total.duplicates += scanned.duplicates
            total.errors += scanned.errors
            if once:
                return total
            time.sleep(interval_s)
