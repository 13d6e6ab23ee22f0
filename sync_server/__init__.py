"""The back-office server: storage of what devices sync (:mod:`sync_server.store`
over :mod:`sync_server.db`), and, in later issues, the ingest worker, the
registry and the Flask back office. Imports :mod:`card_layout` and
:mod:`device.protocol` (whose list items are the devices' own
``device.denylist.DenyEntry`` and ``device.lists.PendingLoad``, so that both
sides check them alike); nothing imports it."""
