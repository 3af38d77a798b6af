"""The research export (issue 18.3): a valid data package with no person, contact or identity number in it."""

from __future__ import annotations

import csv
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import frictionless
import pytest
from sqlalchemy import insert, select

from iphs_flow.engine import clock
from iphs_flow.services import accounts, assignment
from iphs_flow.services import research_export as research
from iphs_flow.services.errors import Forbidden, InvalidInput
from iphs_flow.services.permissions import Actor
from iphs_flow.store.tables import ResearchExport, SecrecyMarking
from tests.integration.process_driver import (
    ASSIGN,
    CONCEPT,
    EVALUATION,
    G1_APPROVE,
    G2_APPROVE,
    G3_APPROVE,
    G4_REALISED,
    IMPLEMENTATION,
    LEAD,
    NEED,
    OWNER,
    PILOT,
    UNDERSTAND,
    Walk,
    shipped_context,
)
from tests.people import ADMIN
from tests.unit.test_text_scrub import pnr

RESEARCHER = Actor("rut", frozenset({"idea_owner", "researcher"}))
FULL_NAME = "Greta Garbo-Svensson"
EMAILS = ("greta.gs@stockholm.se", "anna.idé@edu.stockholm.se", "kontakt@foretaget.example.com")
PHONES = ("070-123 45 67", "+46 70 765 43 21", "08-123 456 78")
PNRS = (pnr("811218", "987"), "19" + pnr("701278", "123"))
PNR_WITH_DASH = PNRS[0][:6] + "-" + PNRS[0][6:]
SECRET_WORD = "Hemliginsiktsord"
PRIVATE_WORD = "Privatfältsord"


def planted(label: str) -> str:
    """A text with every kind of thing that must not leave, glued to words and punctuation."""
    return (f"{label}: ring {PHONES[0]}, mejla {EMAILS[0]} eller {FULL_NAME} ({PHONES[1]}). "
            f"Växel:{PHONES[2]}; pnr {PNR_WITH_DASH}, samordningsnr {PNRS[1]}. Skrivet av lena och bo. "
            f"Fråga {EMAILS[1]}/{EMAILS[2]}. Budget 250 000 kr, beslut 2026-04-01.")


@pytest.fixture
def shipped(db_url):
    context = shipped_context(db_url)
    accounts.add_user(context, "greta", FULL_NAME, email=EMAILS[0])
    accounts.add_user(context, "rut", "Rut Forskare", roles={"researcher"})
    clock.freeze(datetime(2026, 3, 30, 7, 0, tzinfo=timezone.utc))
    yield context
    context.close()
    clock.reset()


def walk_to_closure(ctx) -> Walk:
    """A case through every stage, with contact details, numbers and names planted in every kind of text."""
    walk = Walk.start(ctx)
    owner_field = f"{PRIVATE_WORD} {FULL_NAME}, {PHONES[0]}, {EMAILS[0]}, {PNR_WITH_DASH}"
    walk.complete("need", dict(NEED, need=planted("Behov"), need_owner=owner_field, agenda2030_goals=[3, 11]))
    assignment.claim_task(ctx, walk.task("assign_lead").id, LEAD)
    clock.freeze(datetime(2026, 3, 31, 8, 0, tzinfo=timezone.utc))
    walk.complete("assign_lead", ASSIGN)
    walk.complete("G1_decide", dict(G1_APPROVE, reason=planted("Motivering")))
    walk.complete("understand", dict(UNDERSTAND, insights=f"{SECRET_WORD} {planted('Insikt')}",
                                     users_involved=f"{PRIVATE_WORD} {planted('Användare')}"))
    walk.complete("concept", dict(CONCEPT, chosen_concept=planted("Koncept"), partners=planted("Partner")))
    walk.complete("G2_decide", G2_APPROVE)
    walk.complete("pilot", PILOT)
    walk.tick_at(datetime(2026, 9, 30, 0, 1, tzinfo=timezone.utc))
    walk.complete("evaluation", dict(EVALUATION, lessons_learned=planted("Lärdom"), user_feedback=planted("Feedback")))
    walk.complete("G3_decide", G3_APPROVE)
    walk.complete("implementation", IMPLEMENTATION)
    walk.advance_to_next_timer()
    walk.complete("G4_followup", G4_REALISED)
    walk.complete("closure", {"lessons_learned": planted("Avslut")})
    with ctx.uow.write() as tx:  # the insights are secret (OSL): shareable, but they must stay home
        tx.session.execute(insert(SecrecyMarking).values(
            case_id=walk.case_id, target_kind="field", target="insights", provision="OSL 31 kap. 16 §",
            marked_by="lena", marked_at=clock.now()))
        tx.commit()
    return walk


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def every_text(folder: Path) -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in sorted(folder.iterdir()))


def test_the_research_package_validates_and_no_planted_contact_number_or_name_appears(shipped, tmp_path):
    walk = walk_to_closure(shipped)
    Walk.start(shipped)  # a second case, still at its need
    out = tmp_path / "export"
    view = research.export_research(shipped, out, research.parse_filter(shipped, {}), RESEARCHER)

    report = frictionless.validate(str(out / "datapackage.json"))
    assert report.valid, report.flatten(["rowNumber", "fieldName", "type", "note"])
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["datapackage.json"] + [f"{name}.csv" for name in view.row_counts])

    text = every_text(out)
    for secret in (*EMAILS, *PHONES, *PNRS, PNR_WITH_DASH, FULL_NAME, "Garbo", SECRET_WORD, PRIVATE_WORD):
        assert secret.lower() not in text.lower(), secret
    assert not re.search(r"[\w.+-]+@[\w-]+\.[\w.]+", text)
    for username in ("anna", "lena", "bo", "greta", "dagny", "kim"):
        assert not re.search(rf"(?<![\w-]){username}(?![\w-])", text, re.IGNORECASE), username

    # The shareable texts are there, scrubbed; the personal fields and the secret one are not.
    texts = read_csv(out / "stage_texts.csv")
    need = next(r for r in texts if r["field"] == "need")
    assert "[telefon]" in need["text"] and "[e-post]" in need["text"] and "[personnummer]" in need["text"]
    assert "250 000 kr" in need["text"] and "2026-04-01" in need["text"]
    assert {r["field"] for r in texts} >= {"need", "chosen_concept", "user_feedback", "results[1].indicator"}
    assert not {"need_owner", "users_involved", "partners", "insights"} & {r["field"] for r in texts}
    lessons = read_csv(out / "lessons.csv")
    assert [(r["source"], r["field"]) for r in lessons] == [("evaluation", "lessons_learned"),
                                                             ("closure", "lessons_learned")]
    assert all(r["text"].startswith("Lärdom:") or r["text"].startswith("Avslut:") for r in lessons)

    cases = {int(r["case_id"]): r for r in read_csv(out / "cases.csv")}
    assert cases[walk.case_id]["status"] == "completed" and cases[walk.case_id]["title"] == "Tryggare skolvägar"
    decisions = [r for r in read_csv(out / "gate_decisions.csv") if int(r["case_id"]) == walk.case_id]
    assert [(d["gate"], d["outcome"]) for d in decisions] == [
        ("G1_decide", "approved"), ("G2_decide", "approved"), ("G3_decide", "approved"),
        ("G4_followup", "realised")]
    assert decisions[0]["reason"].startswith("Motivering:") and "[telefon]" in decisions[0]["reason"]
    goals = [(r["case_id"], r["goal"]) for r in read_csv(out / "goals.csv")]
    assert goals == [(str(walk.case_id), "3"), (str(walk.case_id), "11")]

    stages = [r for r in read_csv(out / "stage_transitions.csv") if int(r["case_id"]) == walk.case_id]
    assert [int(r["stage"]) for r in stages] == [0, 1, 2, 3, 4, 5, 6]
    assert all(r["left_at"] for r in stages)  # the case is closed: every stage was left
    assert stages[3]["stage_name"] == "Test & pilot" and float(stages[3]["days"]) > 150

    tasks = [r for r in read_csv(out / "tasks.csv") if int(r["case_id"]) == walk.case_id]
    lead_task = next(r for r in tasks if r["task_key"] == "assign_lead")
    assert lead_task["taken_at"] == "2026-03-30T07:00:00Z" and lead_task["waiting_days"] == "0.00"
    g1 = next(r for r in tasks if r["task_key"] == "G1_decide")
    assert g1["taken_at"] == "" and g1["waiting_working_days"] == "0"


def test_one_person_has_one_pseudonym_in_an_export_and_another_in_the_next(shipped, tmp_path):
    walk_to_closure(shipped)
    flt = research.parse_filter(shipped, {})
    first = research.export_research(shipped, tmp_path / "a", flt, RESEARCHER)
    second = research.export_research(shipped, tmp_path / "b", flt, RESEARCHER)

    def people(folder: Path) -> dict[str, set[str]]:
        return {"owner": {r["owner"] for r in read_csv(folder / "cases.csv")},
                "assignee": {r["assignee"] for r in read_csv(folder / "tasks.csv") if r["task_key"] == "need"},
                "lessons": {r["author"] for r in read_csv(folder / "lessons.csv") if r["source"] == "closure"},
                "decider": {r["decider"] for r in read_csv(folder / "gate_decisions.csv") if r["gate"] == "G1_decide"},
                "in_text": set(re.findall(r"P-[0-9a-f]{8}", next(
                    r["text"] for r in read_csv(folder / "lessons.csv") if r["source"] == "closure")))}

    a, b = people(first.path), people(second.path)
    anna_a = a["owner"]
    assert len(anna_a) == 1 and re.fullmatch(r"P-[0-9a-f]{8}", next(iter(anna_a)))
    assert a["assignee"] == anna_a  # the owner filled in the need: the same pseudonym in another file
    lena_a = a["decider"]
    assert lena_a <= a["in_text"]  # "lena" in the text became her pseudonym
    assert anna_a.isdisjoint(b["owner"]) and lena_a.isdisjoint(b["decider"])  # unlinkable across exports
    assert len(b["owner"]) == 1 and b["assignee"] == b["owner"]


def test_only_researchers_and_administrators_may_export_and_every_export_is_logged(shipped, tmp_path):
    Walk.start(shipped)
    flt = research.parse_filter(shipped, {"process_key": "innovation", "period_from": "2026-01-01",
                                          "period_to": "2026-12-31"})
    with pytest.raises(Forbidden):
        research.export_research(shipped, tmp_path / "owner", flt, OWNER)
    assert not (tmp_path / "owner").exists()
    mine = research.export_research(shipped, tmp_path / "r", flt, RESEARCHER)
    research.export_research(shipped, tmp_path / "adm", flt, ADMIN, channel="web")

    with shipped.uow.read() as tx:
        rows = tx.session.scalars(select(ResearchExport).order_by(ResearchExport.id)).all()
        logged = [(r.username, r.channel, r.filter, r.row_counts) for r in rows]
    assert logged[0] == ("rut", "cli", {"period_from": "2026-01-01", "period_to": "2026-12-31",
                                        "process_key": "innovation"}, mine.row_counts)
    assert mine.row_counts["cases"] == 1 and logged[1][:2] == ("adam", "web")
    assert [e.username for e in research.list_exports(shipped, RESEARCHER)] == ["rut"]
    assert [e.username for e in research.list_exports(shipped, ADMIN, everyone=True)] == ["adam", "rut"]
    with pytest.raises(Forbidden):
        research.list_exports(shipped, RESEARCHER, everyone=True)
    with pytest.raises(Forbidden):
        research.list_exports(shipped, OWNER)


def test_the_period_and_process_filter_choose_the_cases(shipped, tmp_path):
    early = Walk.start(shipped)
    clock.freeze(datetime(2026, 6, 1, 7, 0, tzinfo=timezone.utc))
    late = Walk.start(shipped)
    improvement = Walk.start(shipped, "improvement")

    def case_ids(raw: dict, name: str) -> set[int]:
        view = research.export_research(shipped, tmp_path / name, research.parse_filter(shipped, raw), RESEARCHER)
        return {int(r["case_id"]) for r in read_csv(view.path / "cases.csv")}

    assert case_ids({"period_to": "2026-04-30"}, "a") == {early.case_id}
    assert case_ids({"period_from": "2026-05-01"}, "b") == {early.case_id, late.case_id, improvement.case_id}
    assert case_ids({"process_key": "improvement"}, "c") == {improvement.case_id}
    assert case_ids({"period_from": (clock.now() + timedelta(days=400)).date().isoformat()}, "d") == {
        early.case_id, late.case_id, improvement.case_id}  # open cases are active in any later period


def test_a_bad_filter_is_refused_with_a_message_per_field(shipped, tmp_path):
    with pytest.raises(InvalidInput) as err:
        research.parse_filter(shipped, {"period_from": "1 maj", "process_key": "nope"})
    assert set(err.value.fields) == {"period_from", "process_key"}
    with pytest.raises(InvalidInput) as err:
        research.parse_filter(shipped, {"period_from": "2026-05-01", "period_to": "2026-04-01"})
    assert set(err.value.fields) == {"period_to"}
