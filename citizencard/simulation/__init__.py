"""The demo city's parts, each one thing: the field devices on simulated
antennas (:mod:`.fleet`), the card population issued through the registry
(:mod:`.riders`), the back office's setup and its web server
(:mod:`.backoffice`), the scripted morning (:mod:`.story`), the live traffic
(:mod:`.traffic`) and the end checks (:mod:`.checks`). ``citizencard demo``
(:mod:`citizencard.commands.demo`) puts them together."""
