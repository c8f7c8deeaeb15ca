"""The ``stracker`` command line: a click group (:mod:`stracker.cli.main`) with one module per command.

Shared options and helpers are in :mod:`stracker.cli.options`; a new command is a module here with a
``click.command`` that :mod:`stracker.cli.main` adds to the group.
"""

from stracker.cli.main import cli, main

__all__ = ["cli", "main"]
