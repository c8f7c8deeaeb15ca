"""``python -m stracker.cli``: the same as the ``stracker`` command."""

from stracker.cli.main import main

main()
