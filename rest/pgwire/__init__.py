"""The PostgreSQL wire protocol (v3) in front of the engine: psql, psycopg, asyncpg, BI tools and
PgBouncer query our streams and tables with pull queries.

``PgServer(state, settings)`` listens in the REST server's event loop; ``serve`` runs it next to
uvicorn; ``pg_settings`` reads its ``ksql.pg.*`` settings.
"""

from rest.pgwire.server import DEFAULT_PORT, PgConfigError, PgServer, PgSettings, pg_settings, serve

__all__ = ["DEFAULT_PORT", "PgConfigError", "PgServer", "PgSettings", "pg_settings", "serve"]
