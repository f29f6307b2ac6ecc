"""``python -m raqib`` is the ``raqib`` command."""

from raqib.cli import main

main()
