"""IPHS Flow: case management for a city's innovation work.

`flask --app iphs_flow` finds `create_app` here: the app of iphs_flow/app.py with the
`iphs-flow` commands (iphs_flow/cli.py) added to `flask`. The two are imported when the
app is built, not when the package is, so that the engine and the store can be used
without importing Flask.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"


def create_app(config: dict[str, Any] | None = None) -> Any:
    """Build the Flask application with the operator's commands under `flask`."""
    from iphs_flow.app import create_app as build_app
    from iphs_flow.cli import cli

    app = build_app(config)
    for name, command in cli.commands.items():
        app.cli.add_command(command, name)
    return app
