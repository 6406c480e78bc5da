"""The HTTP face of Revline: signed webhook ingest and the operations API."""

from revline.api.app import create_app

__all__ = ["create_app"]
