"""CLI commands (registered on import)."""

from __future__ import annotations

from .app import app  # noqa: F401
