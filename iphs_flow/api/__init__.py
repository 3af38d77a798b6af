"""The REST API under /api/v1 (flask-smorest + marshmallow), with RFC 9457 problem details.

The API calls the same use cases as the web pages, so permissions, validation and
conflicts are decided once, in the service layer. Errors are `application/problem+json`
(written by iphs_flow/http/problems.py): ServiceError subclasses map to 404/403/409/422
(`errors` carries the field messages of a 422); bad JSON or a body that breaks its schema
is a 422 too, never a 500. Who is calling (session, token, JWT) is iphs_flow/http/.
"""

from __future__ import annotations

from flask import Flask
from flask_smorest.spec.plugins import integerconverter2paramschema

from iphs_flow.http.bearer import limit_api
from iphs_flow.http.errors import service_problem
from iphs_flow.http.problems import PROBLEM, problem

from .common import PREFIX
from .docs import bp as docs_blueprint
from .framework import BoundedIntegerConverter, ProblemApi, refuse_nul_characters
from .resources import blueprints
from .tokens import blueprint as tokens_blueprint


def init_api(app: Flask) -> ProblemApi:
    app.config.setdefault("API_TITLE", "IPHS Flow")
    app.config.setdefault("API_VERSION", "v1")
    app.config.setdefault("OPENAPI_VERSION", "3.0.3")
    app.config.setdefault("OPENAPI_URL_PREFIX", PREFIX)
    app.config.setdefault("OPENAPI_JSON_PATH", "openapi.json")
    # `<int:...>` in every route registered from here on stays within BIGINT: a huge number
    # in a path is an unknown id (404), never a database overflow (500).
    app.url_map.converters["int"] = BoundedIntegerConverter
    api = ProblemApi(app)
    api.register_converter(BoundedIntegerConverter, integerconverter2paramschema)
    app.before_request(refuse_nul_characters)
    for blueprint in blueprints():
        api.register_blueprint(blueprint)
    app.register_blueprint(docs_blueprint)
    api.register_blueprint(tokens_blueprint)
    api.spec.components.security_scheme("bearer", {
        "type": "http", "scheme": "bearer",
        "description": "a personal API token (iphs_…) or a JWT from the city's identity provider; "
                       "a browser session cookie works too, with X-CSRFToken on writes"})
    limit_api(app)  # every /api/ blueprint above (and the OpenAPI document) shares IPHS_API_RATE
    app.extensions["iphs_api"] = api
    return api


__all__ = ["PREFIX", "PROBLEM", "init_api", "problem", "service_problem"]
