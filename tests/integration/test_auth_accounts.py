"""Account use cases behind sign-in, on SQLite and PostgreSQL: SSO users, roles, the access log."""

from __future__ import annotations

import pytest

from iphs_flow.services import accounts
from iphs_flow.services.errors import Conflict, Forbidden, InvalidInput, NotFound
from iphs_flow.services.permissions import Actor
from tests.conftest import ADMIN

ISSUER = "https://login.stad.example"


def _sso(ctx, sub="u-1", username="sara", roles=(), groups=()):
    return accounts.sso_login(ctx, sub, issuer=ISSUER, username=username, display_name="Sara Stad",
                              email="sara@stad.example", roles=set(roles), groups=set(groups), remote_addr="10.0.0.5")


def test_an_sso_user_is_created_once_and_found_again_by_subject_not_by_name(ctx) -> None:
    first = _sso(ctx, roles={"approver"}, groups={"gate-deciders"})
    assert first.username == "sara" and first.roles == {"approver", "idea_owner"}
    again = _sso(ctx, username="sara.renamed")  # the provider renamed her; she is the same person
    assert again.username == "sara" and again.roles == {"idea_owner"} and again.groups == frozenset()
    info = accounts.get_user(ctx, "sara")
    assert info.source == "oidc" and info.email == "sara@stad.example"
    events = [(e.event, e.username) for e in reversed(accounts.access_log(ctx, ADMIN))]
    assert events == [("user_created", "sara"), ("login", "sara"), ("role_changed", "sara"), ("login", "sara")]
    assert accounts.access_log(ctx, ADMIN, event="login")[0].remote_addr == "10.0.0.5"


def test_an_sso_login_with_a_role_we_do_not_know_is_refused(ctx) -> None:
    with pytest.raises(InvalidInput, match="king"):
        _sso(ctx, roles={"king"})
    with pytest.raises(NotFound):
        accounts.get_user(ctx, "sara")


def test_another_subject_with_a_taken_name_gets_a_distinct_account(ctx) -> None:
    accounts.add_user(ctx, "sara", "Lokala Sara", password="correct horse battery", roles={"administrator"})
    other = _sso(ctx, sub="u-2")
    assert other.username == "sara@sso" and "administrator" not in other.roles
    with pytest.raises(Conflict, match="taken"):
        _sso(ctx, sub="u-3")


def test_a_deactivated_sso_user_cannot_sign_in_and_the_attempt_is_logged(ctx) -> None:
    _sso(ctx)
    accounts.set_active(ctx, "sara", False, ADMIN)
    with pytest.raises(Forbidden, match="deactivated"):
        _sso(ctx)
    assert accounts.access_log(ctx, ADMIN, username="sara")[0].event == "login_failed"
    assert accounts.signed_in(ctx, "sara") is None


def test_role_changes_need_an_administrator_and_keep_idea_owner(ctx) -> None:
    accounts.add_user(ctx, "eva", "Eva", roles={"approver"}, groups={"gate-deciders"})
    with pytest.raises(Forbidden, match="administrator"):
        accounts.set_roles(ctx, "eva", {"administrator"}, Actor("eva", frozenset({"approver"})))
    info = accounts.set_roles(ctx, "eva", {"innovation_lead"}, ADMIN)
    assert info.roles == {"idea_owner", "innovation_lead"} and info.groups == {"gate-deciders"}  # groups kept
    with pytest.raises(NotFound):
        accounts.set_roles(ctx, "nobody", set(), ADMIN)
    with pytest.raises(InvalidInput):
        accounts.set_roles(ctx, "eva", {"king"}, ADMIN)
    entry = accounts.access_log(ctx, ADMIN, event="role_changed")[0]
    assert entry.detail == {"by": "adam", "before": ["approver", "idea_owner"],
                            "after": ["idea_owner", "innovation_lead"]}
