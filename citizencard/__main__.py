"""``python -m citizencard``: the same as the ``citizencard`` command."""

from .cli import main

main()
