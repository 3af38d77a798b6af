"""The one reading of secrecy markings that every outlet asks (services/secrecy.py)."""

from __future__ import annotations

import pytest
from sqlalchemy import insert

from iphs_flow.services.secrecy import NOTHING_SECRET, Secrets, redact, secrets_of
from iphs_flow.store.tables import SecrecyMarking
from tests.integration.api_world import build_world, case_at_need


@pytest.fixture
def ctx(db_url):
    context, _app = build_world(db_url)
    yield context
    context.close()


def test_marked_fields_and_attachments_are_read_per_case(ctx):
    case_id = case_at_need(ctx).id
    with ctx.uow.write() as tx:
        tx.session.execute(insert(SecrecyMarking), [
            {"case_id": case_id, "target_kind": "field", "target": "budget_details",
             "provision": "OSL 31 kap. 16 §", "marked_by": "lena"},
            {"case_id": case_id, "target_kind": "attachment", "target": "7",
             "provision": "OSL 31 kap. 16 §", "marked_by": "lena"}])
        tx.session.commit()
    with ctx.uow.read() as tx:
        found = secrets_of(tx.session, [case_id, case_id + 1000])
    assert found[case_id].hides("budget_details") and not found[case_id].hides("need")
    assert found[case_id].hides_attachment(7) and not found[case_id].hides_attachment(8)
    assert found[case_id + 1000] is NOTHING_SECRET and not found[case_id + 1000]


def test_redacting_leaves_out_only_the_marked_fields():
    secrets = Secrets(frozenset({"reason"}), frozenset())
    assert redact({"reason": "affärshemlighet", "outcome": "rejected"}, secrets) == {"outcome": "rejected"}
    assert secrets.hides_reason
    assert redact({"a": 1}, NOTHING_SECRET) == {"a": 1}
