"""The benchmarks run as scripts (``python tests/bench/bench_latency.py``), with this folder
on ``sys.path`` so that they share ``benchkit``; pytest, which imports them for their
doctests, sees the same path."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
