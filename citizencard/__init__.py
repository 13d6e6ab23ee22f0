"""The ``citizencard`` command line: one command, a subcommand group per program."""
