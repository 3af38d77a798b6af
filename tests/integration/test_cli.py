"""The `iphs-flow` command drives the same use cases, with clear refusals and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from iphs_flow.cli import cli
from tests.conftest import FIXTURES, ROOT


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("IPHS_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("IPHS_FORMS_DIR", str(FIXTURES / "forms"))
    monkeypatch.delenv("IPHS_ACTOR", raising=False)
    return tmp_path


def run(*args: str, ok: bool = True):
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    if ok:
        assert result.exit_code == 0, result.output
    return result


def test_a_case_from_deploy_to_completion_on_the_command_line(env) -> None:
    run("db", "upgrade")
    demo = run("users", "demo").output
    assert "anna" in demo and "lena" in demo
    assert "exist already" in run("users", "demo").output
    out = run("deploy", str(FIXTURES / "bpmn" / "review_loop.bpmn"), "--as", "dora").output
    assert "review_loop\tversion 1\tdeployed" in out
    assert "review_loop\tversion 1\tunchanged" in run("deploy", str(FIXTURES / "bpmn" / "review_loop.bpmn")).output
    assert "review_loop\tversion 1\tGranskning med omarbetning" in run("processes").output
    out = run("start", "review_loop", "--data", '{"title": "Solceller på skoltak"}', "--as", "anna").output
    assert "Started IPHS " in out and "Solceller på skoltak" in out
    assert "task 1\t" in run("tasks", "--as", "anna").output
    assert "No open tasks" in run("tasks", "--as", "bo").output
    out = run("complete", "1", "--data", '{"text": "Utkast"}', "--as", "anna").output
    assert "running, stage 2" in out and "Granska utkast" in out
    refused = run("complete", "2", "--data", '{"approved": true}', "--as", "anna", ok=False)
    assert refused.exit_code == 1 and "Forbidden" in refused.output
    run("complete", "2", "--data", '{"approved": true}', "--as", "lena")
    hidden = run("show", "1", "--as", "dora", ok=False)  # no task, no group, nobody's manager in this case
    assert hidden.exit_code == 1 and "NotFound" in hidden.output
    shown = json.loads(run("show", "1", "--json", "--as", "anna").output)
    assert shown["status"] == "completed" and shown["data"]["text"] == "Utkast"
    assert [e["kind"] for e in shown["history"]][-1] == "case_closed"
    assert "0 case(s) fired" in run("tick").output


def test_bad_input_is_refused_with_a_message_and_an_exit_code(env) -> None:
    run("db", "upgrade")
    unknown = run("start", "review_loop", "--as", "nobody", ok=False)
    assert unknown.exit_code == 1 and "no active user 'nobody'" in unknown.output
    run("deploy", str(FIXTURES / "bpmn" / "review_loop.bpmn"))
    run("start", "review_loop")
    bad_json = run("complete", "1", "--data", "{nope", ok=False)
    assert bad_json.exit_code == 2 and "not valid JSON" in bad_json.output
    not_object = run("complete", "1", "--data", "[1]", ok=False)
    assert not_object.exit_code == 2 and "JSON object" in not_object.output
    schema = run("complete", "1", "--data", '{"text": 1}', ok=False)
    assert schema.exit_code == 2 and "text: 1 is not of type 'string'" in schema.output
    missing = run("complete", "42", "--data", "{}", ok=False)
    assert missing.exit_code == 1 and "NotFound: there is no task 42" in missing.output
    run("complete", "1", "--data", '{"text": "ok"}')
    twice = run("complete", "1", "--data", '{"text": "ok"}', ok=False)
    assert twice.exit_code == 1 and "Conflict" in twice.output


def test_a_malicious_model_is_refused_by_deploy(env, tmp_path) -> None:
    run("db", "upgrade")
    evil = tmp_path / "evil.bpmn"
    evil.write_bytes((FIXTURES / "bpmn" / "review_loop.bpmn").read_bytes().replace(
        b"<bpmn:definitions", b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><bpmn:definitions', 1))
    result = run("deploy", str(evil), ok=False)
    assert result.exit_code == 2 and "DOCTYPE" in result.output
    assert run("processes").output == ""


def test_the_installed_command_and_flask_cli_both_work(env) -> None:
    exe = [sys.executable, "-m", "iphs_flow.cli"]
    done = subprocess.run([*exe, "db", "upgrade"], capture_output=True, text=True, cwd=ROOT, check=False)
    assert done.returncode == 0, done.stderr
    flask = subprocess.run([sys.executable, "-m", "flask", "--app", "iphs_flow", "processes"],
                           capture_output=True, text=True, cwd=ROOT, check=False)
    assert flask.returncode == 0, flask.stderr


def test_versions_diff_and_migration_on_the_command_line(env, tmp_path) -> None:
    run("db", "upgrade")
    run("users", "demo")
    original = FIXTURES / "bpmn" / "review_loop.bpmn"
    run("deploy", str(original))
    run("start", "review_loop", "--as", "anna")
    changed = tmp_path / "review_loop.bpmn"
    changed.write_text(original.read_text().replace("Skriv utkast", "Skriv ett utkast"))
    run("deploy", str(changed))
    assert "version 1" in run("versions", "review_loop").output
    assert "changed \tuserTask\tdraft\tSkriv ett utkast" in run("diff", "review_loop", "1", "2").output
    preview = run("migrate", "1", "--preview").output
    assert "Changed: Skriv utkast (draft)" in preview
    assert "now runs version 2" in run("migrate", "1").output
    assert "Skriv ett utkast" in run("tasks").output
    assert "suspended" in run("suspend", "1", "--reason", "Utreds").output
    assert "running" in run("resume", "1").output
    assert "terminated" in run("terminate", "1", "--reason", "Dubblett").output
