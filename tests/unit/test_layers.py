"""The house plan is a contract: import-linter checks the layers of DESIGN.md on every run."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run([str(LINT_IMPORTS), "--config", str(root / "pyproject.toml"), "--no-cache"],
                          cwd=root, env=env, capture_output=True, text=True, timeout=300)


def test_every_import_contract_of_the_house_plan_is_kept() -> None:
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_a_web_module_that_imports_the_api_breaks_the_contract(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "iphs_flow", tmp_path / "iphs_flow",
                    ignore=shutil.ignore_patterns("__pycache__", "translations", "static", "templates"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    (tmp_path / "iphs_flow" / "web" / "shortcut.py").write_text("from iphs_flow.api import common\n")
    (tmp_path / "iphs_flow" / "engine" / "shortcut.py").write_text("import flask\n")
    result = _lint(tmp_path)
    assert result.returncode != 0
    assert "iphs_flow.web.shortcut -> iphs_flow.api.common" in result.stdout
    assert "iphs_flow.engine.shortcut -> flask" in result.stdout


# Imports of the project made inside a function, and why each may be: not to dodge a circle.
LATE_IMPORTS_ALLOWED = {
    # `flask --app iphs_flow` builds the app; importing the package must not import Flask.
    ("iphs_flow/__init__.py", "iphs_flow.app"),
    ("iphs_flow/__init__.py", "iphs_flow.cli"),
    # gunicorn forks its workers first; each builds its own app (its own pools) after the fork.
    ("iphs_flow/serving.py", "iphs_flow.app"),
}


def _imports_inside_functions(path: Path) -> list[tuple[str, int]]:
    """(imported module, line) of every project import in a function body of `path`."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for func in ast.walk(tree):
        if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for node in ast.walk(func):
            if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("iphs_flow")):
                found.append(("." * node.level + (node.module or ""), node.lineno))
            elif isinstance(node, ast.Import):
                found += [(alias.name, node.lineno) for alias in node.names if alias.name.startswith("iphs_flow")]
    return found


def test_no_module_of_the_project_is_imported_inside_a_function_to_dodge_a_circle() -> None:
    late = []
    for path in sorted((ROOT / "iphs_flow").rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        if "/migrations/" in relative:
            continue  # Alembic revisions read the services they replay when they run, by design
        late += [f"{relative}:{line} imports {module}" for module, line in _imports_inside_functions(path)
                 if (relative, module) not in LATE_IMPORTS_ALLOWED]
    assert late == []


def test_an_import_inside_a_function_is_found(tmp_path: Path) -> None:
    module = tmp_path / "late.py"
    module.write_text("def f():\n    from .search import x\n    import iphs_flow.engine\n    import json\n")
    assert _imports_inside_functions(module) == [(".search", 2), ("iphs_flow.engine", 3)]
