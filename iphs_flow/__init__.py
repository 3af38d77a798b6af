"""IPHS Flow: case management for a city's innovation work.

`flask --app iphs_flow` finds `create_app` here; the import is deferred so that the
engine and the CLI can be used without importing Flask.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"


def create_app(config: dict[str, Any] | None = None) -> Any:
    """Build the Flask application (see iphs_flow.web.app)."""
    from iphs_flow.web.app import create_app as _create_app

    return _create_app(config)
