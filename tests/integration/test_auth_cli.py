"""Roles and the access log from the command line: `iphs-flow users roles|deactivate|log`."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from iphs_flow.cli import cli
from tests.conftest import FIXTURES


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("IPHS_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("IPHS_FORMS_DIR", str(FIXTURES / "forms"))
    monkeypatch.delenv("IPHS_ACTOR", raising=False)
    run("db", "upgrade")
    run("users", "add", "eva", "--name", "Eva Ek", "--password", "correct horse battery")
    run("users", "add", "adam", "--name", "Adam Ek", "--password", "correct horse battery", "--role", "administrator")
    return tmp_path


def run(*args: str, ok: bool = True):
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    if ok:
        assert result.exit_code == 0, result.output
    return result


def test_an_administrator_changes_roles_and_the_change_is_in_the_log(env) -> None:
    out = run("users", "roles", "eva", "--role", "approver", "--group", "gate-deciders", "--as", "adam").output
    assert "eva: roles approver, idea_owner; groups gate-deciders" in out
    log = run("users", "log", "--event", "role_changed", "--as", "adam").output
    assert "role_changed\teva" in log and '"by": "adam"' in log and '"after": ["approver", "idea_owner"]' in log


def test_someone_who_is_not_an_administrator_cannot_change_roles_or_read_the_log(env) -> None:
    refused = run("users", "roles", "eva", "--role", "administrator", "--as", "eva", ok=False)
    assert refused.exit_code == 1 and "Forbidden" in refused.output and "administrator" in refused.output
    assert run("users", "log", "--as", "eva", ok=False).exit_code == 1
    assert "role_changed" not in run("users", "log").output  # the console operator reads it: nothing changed


def test_a_deactivated_user_cannot_be_used(env) -> None:
    run("users", "deactivate", "eva")
    result = run("show", "1", "--as", "eva", ok=False)
    assert result.exit_code == 1 and "no active user 'eva'" in result.output
    assert "user_deactivated\teva" in run("users", "log", "--user", "eva").output


def test_an_unknown_role_is_a_usage_error(env) -> None:
    result = run("users", "roles", "eva", "--role", "king", ok=False)
    assert result.exit_code == 2 and "king" in result.output


def test_an_operator_makes_a_token_for_an_integrations_service_account_and_revokes_it(env) -> None:
    from iphs_flow.app import create_app

    run("users", "add", "diariet", "--name", "Diariet (integration)", "--no-password")
    made = run("tokens", "create", "--as", "diariet", "--name", "diariet", "--scope", "write", "--days", "90")
    secret = made.stdout.splitlines()[1]
    assert secret.startswith("iphs_") and "only its hash is stored" in made.stderr
    app = create_app()
    api = app.test_client()
    bearer = {"Authorization": f"Bearer {secret}"}
    assert api.get("/api/v1/session", headers=bearer).get_json()["username"] == "diariet"
    listed = run("tokens", "list", "--user", "diariet").output
    assert "\tdiariet\twrite read\tactive\t" in listed or "\tdiariet\tread write\tactive\t" in listed
    assert secret not in listed
    token_id = listed.split("\t", 1)[0]
    assert run("tokens", "revoke", token_id, "--as", "eva", ok=False).exit_code == 1  # not hers
    assert "revoked" in run("tokens", "revoke", token_id, "--as", "adam").output
    assert api.get("/api/v1/session", headers=bearer).status_code == 401
    assert run("tokens", "list", ok=False).exit_code == 2
