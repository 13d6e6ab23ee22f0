"""Pure card model of the citizen card: MIFARE Classic 1K bytes in, typed
records out, and the card operations written against a reader protocol.

Nothing here does I/O; readers live in :mod:`hardware`.
"""
