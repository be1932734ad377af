"""The ksqlDB-compatible REST server: ``create_app`` builds the ASGI app, ``rest.server.main`` runs it."""

from rest.app import create_app

__all__ = ["create_app"]
