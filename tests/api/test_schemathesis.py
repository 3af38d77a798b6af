"""Property-based tests of the whole API from its own OpenAPI document (schemathesis).

Every operation in /api/v1/openapi.json gets a bounded number of generated requests,
valid and invalid (derandomized, so a run is repeatable), sent in-process to the real app
signed in as an administrator with a session cookie and the CSRF header. A request may be
refused, but never with a 500, and every response must match the schema the document
promises for its status (errors: problem+json).
"""

from __future__ import annotations

import io
import time
import uuid
from collections import Counter

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from iphs_flow.engine.clock import now
from iphs_flow.store.tables import Notification
from tests.integration.api_world import Browser, build_api_world, case_at_gate, case_at_need, case_in_incident

MAX_EXAMPLES = 15


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def signed_in(request, tmp_path_factory):
    """A world with cases in every state, and an administrator's signed-in client."""
    folder = tmp_path_factory.mktemp("schemathesis")
    admin_engine = database = None
    if request.param == "sqlite":
        url = f"sqlite:///{folder / 'iphs.db'}"
    else:
        admin_url = request.getfixturevalue("postgres_admin")
        database = f"iphs_test_{uuid.uuid4().hex[:12]}"
        admin_engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin_engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{database}"'))
        url = make_url(admin_url).set(database=database).render_as_string(hide_password=False)
    ctx, app = build_api_world(url, folder / "files")
    case_at_need(ctx, "adam", "Administratörens behov")
    gate = case_at_gate(ctx, "adam", "Administratörens grind")
    case_in_incident(ctx, "adam")
    admin = Browser(app, "adam")
    admin.post(f"/api/v1/cases/{gate.id}/comments", {"body": "En kommentar"})
    admin.post(f"/api/v1/cases/{gate.id}/attachments", json=None, content_type="multipart/form-data",
               data={"file": (io.BytesIO("Mätpunkt;Bilar\n".encode()), "trafik.csv")})
    with ctx.uow.write() as tx:
        tx.notifications.add_once(Notification(key=f"st:{uuid.uuid4().hex}", username="adam", case_id=gate.id,
                                               template="reminder", subject="Påminnelse", body="Väntar",
                                               link="/inbox", created_at=now()))
        tx.outbox.add_for(f"st-failed-{uuid.uuid4().hex}", "mail", {"to": "eva@example.se", "subject": "S"},
                          recipient="eva", status="incident", due_at=now())
        tx.commit()
    yield app, admin
    ctx.close()
    if admin_engine is not None:
        with admin_engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        admin_engine.dispose()


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["valid", "invalid"])
def test_no_operation_answers_500_or_breaks_its_schema(signed_in, mode) -> None:
    """Every operation, MAX_EXAMPLES requests each; all failures are collected, then reported together.

    (The operations are looped here rather than with schemathesis' pytest parametrization,
    whose fixture-based loader does not work with the pytest this project runs.)
    """
    app, admin = signed_in
    api = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    failures: list[str] = []
    nothing_invalid: list[str] = []
    operations = 0
    sent = [0]
    statuses: Counter[int] = Counter()
    started = time.monotonic()
    for result in api.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=MAX_EXAMPLES, derandomize=True, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
        def run(case) -> None:
            sent[0] += 1
            response = case.call(session=admin.client, headers={"X-CSRFToken": admin.token})
            statuses[response.status_code] += 1
            case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])

        try:
            run()
        except Unsatisfiable:
            if mode is GenerationMode.POSITIVE:
                failures.append(f"{operation.label}: no valid request could be generated")
            else:
                nothing_invalid.append(operation.label)  # no parameters or body that could be wrong
        except Exception as err:  # noqa: BLE001 - collect every operation's failure, report them all
            failures.append(f"{operation.label}: {type(err).__name__}: {str(err)[:2000]}")
    print(f"schemathesis ({mode.value}): {operations} operations, {sent[0]} requests, "
          f"{time.monotonic() - started:.1f} s; no invalid input possible for {len(nothing_invalid)}")
    print(f"  statuses: {dict(sorted(statuses.items()))}")
    assert operations >= 30
    assert statuses[401] == 0, "the session did not hold; nothing behind the sign-in was tested"
    if mode is GenerationMode.POSITIVE:
        assert sum(n for code, n in statuses.items() if 200 <= code < 300) >= operations // 2
    assert failures == [], "\n\n".join(failures)
