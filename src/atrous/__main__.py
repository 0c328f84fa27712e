"""``python -m atrous`` is the ``atrous`` command."""

from atrous.cli.main import run

run()
