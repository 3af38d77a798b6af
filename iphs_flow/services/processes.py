"""Deploy process models and read what is deployed."""

from __future__ import annotations

import json
from dataclasses import replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from iphs_flow.bootstrap import AppContext
from iphs_flow.engine import model_checks, sandbox
from iphs_flow.engine.errors import InvalidModel, UnsafeXML
from iphs_flow.engine.models import Deployable, ProcessModel, check_deployment, content_hash
from iphs_flow.store.tables import ProcessVersion

from .errors import Forbidden, InvalidProcess, NotFound
from .form_patterns import pattern_problems
from .permissions import ADMINISTRATOR, PROCESS_DESIGNER, Actor
from .shareable import shareable_problems
from .staffing import empty_group_warnings
from .views import DeployOutcome, ProcessInfo

MODEL_SUFFIXES = (".bpmn", ".dmn")


def read_model_files(paths: list[Path]) -> dict[str, bytes]:
    """Collect .bpmn/.dmn files from files and folders given on the command line."""
    files: dict[str, bytes] = {}
    for path in paths:
        candidates = sorted(p for p in path.rglob("*") if p.suffix in MODEL_SUFFIXES) if path.is_dir() else [path]
        for candidate in candidates:
            if candidate.name in files:
                raise InvalidProcess(f"two files are named {candidate.name}", file_name=str(candidate))
            files[candidate.name] = candidate.read_bytes()
    return files


@lru_cache(maxsize=512)
def _schema_problem(schema_json: str) -> str | None:
    """Where and why a schema breaks the Draft 2020-12 meta-schema, or None.

    Checking against the meta-schema costs ~0.1 s a form; a deploy checks every form its
    models name, and the same forms are deployed again and again (each new version, each
    test), so the answer is kept per content.
    """
    try:
        Draft202012Validator.check_schema(json.loads(schema_json))
    except SchemaError as err:
        path = "/".join(str(p) for p in err.path) or "(root)"
        return f"{path}: {err.message}"
    return None


def check_form(key: str, schema: Any, ui: Any, file_name: str | None = None) -> dict[str, Any]:
    """Check one form: a Draft 2020-12 JSON Schema of an object whose field names scripts may use.

    Used for forms read from forms/ at deploy and for forms edited in the browser, so both
    are refused for the same reasons.
    """
    where = file_name or key
    if not isinstance(key, str) or not key or "/" in key or "\\" in key or key.startswith("."):
        raise InvalidProcess(f"the form name '{key}' is not allowed", file_name=where)
    if not isinstance(schema, dict):
        raise InvalidProcess(f"the form '{key}' must be a JSON object", file_name=where)
    if ui is not None and not isinstance(ui, dict):
        raise InvalidProcess(f"the layout (ui) of the form '{key}' must be a JSON object", file_name=where)
    problem = _schema_problem(json.dumps(schema, sort_keys=True, ensure_ascii=False))
    if problem is not None:
        raise InvalidProcess(f"the form '{key}' is not a valid JSON Schema at {problem}", file_name=where)
    if schema.get("type") != "object":
        raise InvalidProcess(f"the form '{key}' must describe an object (\"type\": \"object\")",
                             file_name=where)
    unsafe = pattern_problems(schema)
    if unsafe:
        path, pattern, reason = unsafe[0]
        raise InvalidProcess(f"the form '{key}' has a pattern at {path} that cannot be checked in linear time "
                             f"(RE2: {reason}): {pattern!r}; backreferences and lookaround are not supported",
                             file_name=where)
    marks = shareable_problems(schema)
    if marks:
        path, message = marks[0]
        raise InvalidProcess(f"the form '{key}' at {path}: {message}", file_name=where)
    clashes = sorted(name for name in schema.get("properties", {})
                     if name in sandbox.RESERVED_NAMES or name.startswith("_"))
    if clashes:
        raise InvalidProcess(
            f"the form '{key}' uses field names that scripts reserve: {', '.join(clashes)}; rename them",
            file_name=where)
    return {"schema": schema, "ui": ui or {}}


def load_forms(forms_dir: Path, form_keys: set[str],
               given: dict[str, dict[str, Any]] | None = None) -> dict[str, dict[str, Any]]:
    """Read and check the forms a model references: each must exist and be a valid schema.

    `given` holds forms edited in memory (a designer's draft); they win over forms_dir.
    """
    forms: dict[str, dict[str, Any]] = {}
    for key in sorted(form_keys):
        if "/" in key or "\\" in key or key.startswith("."):
            raise InvalidProcess(f"the form name '{key}' is not allowed", file_name=key)
        if given is not None and key in given:
            form = given[key]
            forms[key] = check_form(key, form.get("schema"), form.get("ui"))
            continue
        schema_path = forms_dir / f"{key}.schema.json"
        ui_path = forms_dir / f"{key}.ui.json"
        if not schema_path.is_file():
            raise InvalidProcess(f"the form '{key}' does not exist ({schema_path} is missing)",
                                 file_name=str(schema_path))
        try:
            schema = json.loads(schema_path.read_text(encoding="utf-8"))
            ui = json.loads(ui_path.read_text(encoding="utf-8")) if ui_path.is_file() else {}
        except json.JSONDecodeError as err:
            raise InvalidProcess(f"the form '{key}' is not valid JSON: {err}", file_name=key) from None
        forms[key] = check_form(key, schema, ui, str(schema_path))
    return forms


def check_models(ctx: AppContext, files: dict[str, bytes],
                 forms: dict[str, dict[str, Any]] | None = None) -> dict[str, tuple[Deployable, dict]]:
    """Parse, check and attach forms; raise InvalidProcess pointing at the problem.

    `forms` (form key -> {"schema", "ui"}) are forms edited in memory; a form not among
    them is read from the forms folder. The checks and the parse compile the model's code,
    so both run in an engine worker (engine/isolation.py), never in this process.
    """
    problems = [p for p in model_checks.check_files(files, ctx.settings.lane_groups) if p.severity == "error"]
    if problems:
        first = problems[0]
        raise InvalidProcess(first.message, file_name=first.file_name, element_id=first.element_id,
                             line=first.line)
    try:
        models = check_deployment(files)
    except (InvalidModel, UnsafeXML) as err:
        if isinstance(err, InvalidModel):
            raise InvalidProcess(err.message, file_name=err.file_name, element_id=err.element_id,
                                 line=err.line) from None
        raise InvalidProcess(str(err)) from None
    result = {}
    for key, model in models.items():  # lanes were checked by model_checks (one rule set)
        result[key] = (model, load_forms(ctx.settings.forms_dir, model.form_keys, forms))
    return result


def deploy_process(ctx: AppContext, files: dict[str, bytes], actor: Actor,
                   forms: dict[str, dict[str, Any]] | None = None) -> list[DeployOutcome]:
    """Deploy BPMN/DMN files: a new version for each process whose content changed.

    The content of a version is its model files plus the forms they reference, so a
    changed form also makes a new version; running cases keep the version they started on.
    """
    if not (actor.has(PROCESS_DESIGNER) or actor.has(ADMINISTRATOR)):
        raise Forbidden("only process designers may deploy processes")
    checked = check_models(ctx, files, forms)
    with ctx.uow.write() as tx:
        outcomes = store_versions(tx, checked, actor)
        tx.commit()
    return with_warnings(ctx, outcomes, files)


def with_warnings(ctx: AppContext, outcomes: list[DeployOutcome], files: dict[str, bytes]) -> list[DeployOutcome]:
    """The outcomes of a deploy, each with the warnings about groups nobody is in."""
    warnings = tuple(w.message for w in empty_group_warnings(ctx, files))
    return [replace(o, warnings=warnings) for o in outcomes] if warnings else outcomes


def store_versions(tx: Any, checked: dict[str, tuple[Deployable, dict]], actor: Actor) -> list[DeployOutcome]:
    """Add a version for each checked process whose content changed, inside the caller's transaction."""
    outcomes = []
    for key, (model, forms) in sorted(checked.items()):
        digest = content_hash({**model.files, **{f"form:{k}": json.dumps(v, sort_keys=True)
                                                 for k, v in forms.items()}})
        latest = tx.processes.latest(key)
        if latest is not None and latest.content_hash == digest:
            outcomes.append(DeployOutcome(key, latest.name, latest.version, created=False))
            continue
        version = ProcessVersion(
            process_key=key, version=(latest.version + 1) if latest else 1, name=model.name,
            content_hash=digest, files=model.files, forms=forms, deployed_by=actor.username,
        )
        tx.processes.add(version)
        outcomes.append(DeployOutcome(key, model.name, version.version, created=True))
    return outcomes


def list_processes(ctx: AppContext) -> list[ProcessInfo]:
    with ctx.uow.read() as tx:
        return [_info(v) for v in tx.processes.latest_versions()]


def get_process(ctx: AppContext, key: str) -> ProcessInfo:
    with ctx.uow.read() as tx:
        version = tx.processes.latest(key)
        if version is None:
            raise NotFound(f"no process '{key}' is deployed")
        return _info(version)


def _info(version: ProcessVersion) -> ProcessInfo:
    return ProcessInfo(key=version.process_key, name=version.name, version=version.version,
                       version_id=version.id, deployed_at=version.deployed_at,
                       deployed_by=version.deployed_by, form_keys=sorted(version.forms))


def model_for(ctx: AppContext, version: ProcessVersion) -> ProcessModel:
    """The parsed model of a stored version, from the cache when it was parsed before."""
    return ctx.models.get(version.process_key, version.files)
