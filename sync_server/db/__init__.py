"""The sync server's database: the engine (:mod:`.engine`), column types that
mean the same on SQLite and PostgreSQL (:mod:`.types`), the tables
(:mod:`.models`) and their Alembic migrations (:mod:`.migrate`)."""
