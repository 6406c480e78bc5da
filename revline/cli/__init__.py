"""The ``revline`` command (console script ``revline = "revline.cli:app"``)."""

from __future__ import annotations

from revline.cli.main import app

__all__ = ["app"]
