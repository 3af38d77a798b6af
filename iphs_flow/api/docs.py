"""/api/v1/docs: the OpenAPI document as a readable page, rendered on the server.

Swagger UI and ReDoc load their scripts from a CDN, which our Content-Security-Policy
(script-src 'self') forbids and which would make the docs depend on a third party, and
neither is installed from npm here. So the page is plain HTML made from the same spec
as /api/v1/openapi.json: nothing is written by hand twice, and it passes axe-core.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, render_template

from .common import PREFIX

bp = Blueprint("api_docs_page", __name__, url_prefix=PREFIX)

METHODS = ("get", "post", "put", "patch", "delete")


def _resolve(spec: dict[str, Any], item: dict[str, Any]) -> dict[str, Any]:
    ref = item.get("$ref")
    if not isinstance(ref, str) or not ref.startswith("#/"):
        return item
    node: Any = spec
    for part in ref[2:].split("/"):
        node = node.get(part, {}) if isinstance(node, dict) else {}
    return node if isinstance(node, dict) else {}


def _schema_name(content: dict[str, Any]) -> list[tuple[str, str]]:
    """(media type, schema name) for each media type of a body."""
    out = []
    for media, value in sorted(content.items()):
        schema = value.get("schema", {})
        if "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[-1]
        elif schema.get("type") == "array" and "$ref" in schema.get("items", {}):
            name = "[" + schema["items"]["$ref"].rsplit("/", 1)[-1] + "]"
        else:
            name = schema.get("type", "")
        out.append((media, name))
    return out


def operations(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """The spec's operations grouped by tag, in document order, with parameters and responses resolved."""
    tags: dict[str, dict[str, Any]] = {t["name"]: {"name": t["name"], "description": t.get("description", ""),
                                                   "operations": []} for t in spec.get("tags", [])}
    for path, item in spec.get("paths", {}).items():
        shared = item.get("parameters", [])
        for method in METHODS:
            op = item.get(method)
            if op is None:
                continue
            params = [_resolve(spec, p) for p in shared + op.get("parameters", [])]
            body = op.get("requestBody", {})
            responses = []
            for status, response in op.get("responses", {}).items():
                resolved = _resolve(spec, response)
                responses.append({"status": status, "description": resolved.get("description", ""),
                                  "bodies": _schema_name(resolved.get("content", {}))})
            tag = (op.get("tags") or ["api"])[0]
            group = tags.setdefault(tag, {"name": tag, "description": "", "operations": []})
            group["operations"].append({
                "id": f"{method}-{path}".replace("/", "-").replace("{", "").replace("}", "").strip("-"),
                "method": method.upper(), "path": path, "summary": op.get("summary", ""),
                "description": op.get("description", ""), "parameters": params,
                "body": _schema_name(body.get("content", {})), "responses": responses})
    return [group for group in tags.values() if group["operations"]]


def _type_text(spec: dict[str, Any]) -> str:
    """A field's type in a few characters: `string`, `Case`, `[Task]`, `string, null`."""
    if "$ref" in spec:
        text = spec["$ref"].rsplit("/", 1)[-1]
    elif spec.get("type") == "array":
        text = "[" + _type_text(spec.get("items", {})) + "]"
    else:
        text = str(spec.get("type", "any"))
        if spec.get("format"):
            text += f" ({spec['format']})"
    return f"{text}, null" if spec.get("nullable") else text


def data_types(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """The component schemas with one row per field."""
    types = []
    for name, schema in sorted(spec.get("components", {}).get("schemas", {}).items()):
        required = set(schema.get("required", []))
        fields = [{"name": field, "type": _type_text(value), "required": field in required,
                   "description": value.get("description", "")}
                  for field, value in sorted(schema.get("properties", {}).items())]
        types.append({"name": name, "fields": fields})
    return types


@bp.get("/docs")
def docs() -> Any:
    """Every operation of the API, listed from the OpenAPI document."""
    spec = current_app.extensions["iphs_api"].spec.to_dict()
    return render_template("api_docs.html", groups=operations(spec), types=data_types(spec),
                           title=spec.get("info", {}).get("title", "IPHS Flow"),
                           version=spec.get("info", {}).get("version", ""))
