"""`iphs-flow export research --out DIR`: the package on disk (and as a ZIP), a progress bar, the log (issue 18.3)."""

from __future__ import annotations

import zipfile

import frictionless
from click.testing import CliRunner

from iphs_flow.cli import cli
from tests.conftest import FIXTURES


def run(*args: str, code: int = 0):
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result


def test_the_console_writes_a_valid_package_with_a_progress_bar_and_logs_it(tmp_path, monkeypatch):
    monkeypatch.setenv("IPHS_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("IPHS_FORMS_DIR", str(FIXTURES / "forms"))
    monkeypatch.delenv("IPHS_ACTOR", raising=False)
    run("db", "upgrade")
    run("users", "demo")
    run("users", "add", "rut", "--name", "Rut Forskare", "--role", "researcher", "--no-password")
    run("deploy", str(FIXTURES / "bpmn" / "review_loop.bpmn"), "--as", "dora")
    run("start", "review_loop", "--data", '{"title": "Solceller på skoltak"}', "--as", "anna")

    out = run("export", "research", "--out", str(tmp_path / "pkg"), "--zip", "--as", "rut")
    assert "cases.csv\t1 rows" in out.stdout and "Exporterar" in out.stderr  # the bar goes to stderr
    assert frictionless.validate(str(tmp_path / "pkg" / "datapackage.json")).valid
    with zipfile.ZipFile(tmp_path / "pkg.zip") as archive:
        assert "pkg/datapackage.json" in archive.namelist()

    refused = run("export", "research", "--out", str(tmp_path / "x"), "--from", "31/12", "--as", "rut", code=2)
    assert "period_from" in refused.output and not (tmp_path / "x").exists()
    assert run("export", "research", "--out", str(tmp_path / "y"), "--as", "anna", code=1).exit_code == 1
    again = run("export", "research", "--out", str(tmp_path / "pkg"), "--as", "rut", code=2)
    assert "not empty" in again.output

    log = run("export", "log").output.splitlines()
    assert len(log) == 1 and "\trut\tcli\t" in log[0] and "cases 1" in log[0]
    assert run("export", "log", "--as", "rut", code=1).exit_code == 1  # only administrators read the log
