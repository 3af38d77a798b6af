"""The request's surroundings: the app's context, whether it is an API call, the caller's address."""

from __future__ import annotations

from flask import current_app, request

from iphs_flow.bootstrap import AppContext

API_PREFIX = "/api/"


def app_context() -> AppContext:
    """The settings, unit of work and model cache this app was built with."""
    return current_app.extensions["iphs"]


def is_api_request() -> bool:
    return request.path.startswith(API_PREFIX)


def remote_addr() -> str | None:
    return request.remote_addr
