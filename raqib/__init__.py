"""raqib (رقيب, "watcher"): the contract shared by producers, processors and alerts.

This package holds the message schemas, the settings, the YAML config loader, the
embedded servers used by ``raqib demo`` and the tests, and the ``raqib`` command line.
It imports none of the three stages at module level; the CLI loads a stage only inside
the command that runs it.
"""

from __future__ import annotations

__version__ = "0.1.0"
