"""``raqib tag`` over many files: forked workers print what one process prints, in order."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from processors.pipeline import Pipeline
from processors.topics import load_topics
from processors.watchlist import load_watchlist
from raqib.cli import main
from raqib.tag_files import PARALLEL_MIN_FILES, load_numba_quietly, tag_line

REPO = Path(__file__).resolve().parents[3]
REVIEW = REPO / "tests" / "data" / "review"


def _texts() -> list[str]:
    """Real agency-style items: the review sets' texts."""
    return [
        case["text"]
        for path in sorted(REVIEW.glob("*.yaml"))
        for case in yaml.safe_load(path.read_text(encoding="utf-8"))["cases"]
    ]


def _files(directory: Path, count: int) -> list[str]:
    texts = _texts()
    paths = []
    for i in range(count):
        path = directory / f"{i:04d}.txt"
        path.write_text(texts[i % len(texts)], encoding="utf-8")
        paths.append(str(path))
    return paths


def test_a_line_is_what_json_dumps_writes() -> None:
    watchlist = load_watchlist()
    pipeline = Pipeline(watchlist, load_topics(None, watchlist))
    names = ["a.txt", "-", 'quote " and \\ and \n', "ملف.txt"]
    for i, text in enumerate(_texts()):
        tags, found = pipeline.tag_text(text, clean=True)
        entities = [
            {
                "id": t.id,
                "type": t.type,
                "name": t.name,
                "wikidata": t.wikidata,
                "surface": t.surface,
                "start": t.start,
                "end": t.end,
            }
            for t in tags
        ]
        name = names[i % len(names)]
        line = {"file": name, "entities": entities, "topics": [t.model_dump() for t in found]}
        assert tag_line(pipeline, name, text, clean=True) == json.dumps(line, ensure_ascii=False)


def test_workers_print_the_same_bytes_in_order(tmp_path: Path) -> None:
    paths = _files(tmp_path, PARALLEL_MIN_FILES + 37)
    runner = CliRunner()
    alone = runner.invoke(main, ["tag", "--jobs", "1", *paths])
    forked = runner.invoke(main, ["tag", "--jobs", "2", *paths])
    assert alone.exit_code == forked.exit_code == 0, forked.output
    assert forked.stdout_bytes == alone.stdout_bytes
    assert [json.loads(line)["file"] for line in forked.stdout.splitlines()] == paths


@pytest.mark.parametrize("at", [3, PARALLEL_MIN_FILES + 5])  # the parent's run, a worker's
def test_an_unreadable_file_stops_the_output_there(tmp_path: Path, at: int) -> None:
    paths = _files(tmp_path, PARALLEL_MIN_FILES + 40)
    Path(paths[at]).write_bytes(b"\xff\xfe not UTF-8")
    runner = CliRunner()
    alone = runner.invoke(main, ["tag", "--jobs", "1", *paths])
    forked = runner.invoke(main, ["tag", "--jobs", "2", *paths])
    assert alone.exit_code == forked.exit_code == 1
    assert forked.stdout_bytes == alone.stdout_bytes
    assert forked.stderr == alone.stderr
    assert f"Error: {paths[at]}: 'utf-8' codec can't decode" in forked.stderr
    assert len(forked.stdout.splitlines()) == at


def test_a_missing_file_is_reported_by_name(tmp_path: Path) -> None:
    paths = _files(tmp_path, PARALLEL_MIN_FILES + 1)
    missing = str(tmp_path / "missing.txt")
    result = CliRunner().invoke(main, ["tag", "--jobs", "2", *paths, missing])
    assert result.exit_code == 1
    assert f"Error: {missing}: [Errno 2] No such file or directory" in result.stderr
    assert len(result.stdout.splitlines()) == len(paths)


def test_numba_loads_without_the_blas_probe_and_scipy_stays_importable() -> None:
    load_numba_quietly()
    assert (
        "scipy.linalg.cython_blas" not in sys.modules
        or sys.modules["scipy.linalg.cython_blas"] is not None
    )
    import scipy.linalg

    assert scipy.linalg.cython_blas is not None
