"""``python -m kb`` is the ``kb`` command."""

from kb.cli import app

app()
