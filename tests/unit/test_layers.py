"""The house plan is a contract: import-linter checks the layers of DESIGN.md on every run."""

from __future__ import annotations

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
