"""Drive cases of the shipped processes (bpmn/, forms/) through the service layer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from iphs_flow.engine import clock
from iphs_flow.engine.calendar import STOCKHOLM
from iphs_flow.services import accounts, cases, processes, timers
from iphs_flow.services.permissions import Actor
from iphs_flow.services.queries import tasks as task_queries
from iphs_flow.services.task_notices import HANDED_ON, OPENED
from iphs_flow.services.views import TaskView
from iphs_flow.store.tables import Outbox
from tests.conftest import ROOT, prepared_context
from tests.people import ADMIN, ANNA, CITY, DEPARTMENT, DESIGNER, LEAD, MANAGER

OWNER, UNIT_MANAGER = ANNA, MANAGER
TASK_NOTICES = (OPENED, HANDED_ON)
ACTORS = {a.username: a for a in (OWNER, LEAD, UNIT_MANAGER, DEPARTMENT, CITY)}
GROUP_ACTORS = {"innovation-leads": LEAD, "unit-managers": UNIT_MANAGER,
                "department-management": DEPARTMENT, "city-executive-office": CITY, "gate-deciders": UNIT_MANAGER}

NEED = {"title": "Tryggare skolvägar", "need": "Barn känner sig otrygga på väg till skolan i Skärholmen.",
        "target_group": "Elever i årskurs 1–6 och deras vårdnadshavare", "need_owner": "Skolchef Eva Ek"}
ASSIGN = {"innovation_lead": "lena"}
G1_APPROVE = {"decision": "approved", "within_remit": True, "need_owner_named": True, "not_duplicate": True}
UNDERSTAND = {"challenge_statement": "Otrygga korsningar", "users_involved": "30 elever, 12 föräldrar",
              "methods": ["interviews"], "insights": "Mörka passager upplevs farligast",
              "how_might_we": "Hur kan vi göra skolvägen trygg under mörka månader?"}
CONCEPT = {"chosen_concept": "Smart belysning vid passager",
           "expected_benefits": [{"indicator": "Andel elever som känner sig trygga", "baseline": 40, "target": 70,
                                  "unit": "procent"}],
           "pilot_budget": 300_000, "pilot_scope": "unit", "pilot_plan": "Tre passager under höstterminen"}
G2_APPROVE = {"decision": "approved", "need_verified_with_users": True, "measurable_benefit_hypothesis": True,
              "pilot_success_criteria": True, "funding_secured": True, "gdpr_screened": True}
PILOT = {"start_date": "2026-04-01", "end_date": "2026-09-30",
         "indicators": [{"indicator": "Andel elever som känner sig trygga", "target": 70}]}
EVALUATION = {"results": [{"indicator": "Andel elever som känner sig trygga", "target": 70, "actual": 76}],
              "user_feedback": "Positiv", "cost_benefit": "Låg kostnad per elev", "lessons_learned": "Involvera tidigt",
              "recommendation": "implement", "implementation_budget": 2_000_000,
              "implementation_scope": "department"}
G3_APPROVE = {"decision": "approved", "evidence_meets_targets": True, "operational_owner_named": True,
              "running_budget_secured": True, "security_gdpr_cleared": True}
IMPLEMENTATION = {"implementation_plan": "Alla skolor i förvaltningen 2027", "operational_owner": "Trafikkontoret",
                  "running_budget": 150_000}
G4_REALISED = {"decision": "realised", "followup_summary": "Målen nåddes efter sex månader"}


def local(moment: datetime | None) -> str:
    """A stored UTC time as Stockholm wall-clock time, for readable assertions."""
    assert moment is not None
    return moment.astimezone(STOCKHOLM).strftime("%Y-%m-%d %H:%M")


def _deploy_shipped_with_actors(ctx) -> None:
    processes.deploy_process(ctx, processes.read_model_files([ROOT / "bpmn"]), DESIGNER)
    for person in ACTORS.values():  # real accounts: person fields and group notices look people up
        accounts.add_user(ctx, person.username, person.username.title(), roles=set(person.roles),
                          groups=set(person.groups))


def shipped_context(url: str):
    """A context over the shipped processes, deployed, with the people who work on them."""
    return prepared_context(url, _deploy_shipped_with_actors, forms_dir=ROOT / "forms", bpmn_dir=ROOT / "bpmn")


@dataclass
class Walk:
    """One case of a shipped process, with the people who work on it."""

    ctx: object
    number: str
    case_id: int

    @classmethod
    def to_g1(cls, ctx) -> Walk:
        """An innovation case whose need is described and whose lead is named: it waits at G1."""
        walk = cls.start(ctx)
        walk.complete("need", NEED)
        walk.complete("assign_lead", ASSIGN)
        return walk

    @classmethod
    def start(cls, ctx, key: str = "innovation", owner: Actor = OWNER) -> Walk:
        view = cases.start_case(ctx, key, {}, owner)
        return cls(ctx, view.number, view.id)

    def open(self) -> list[TaskView]:
        return task_queries.list_tasks(self.ctx, ADMIN, self.number, everyone=True)

    def open_keys(self) -> list[str]:
        return sorted(t.task_key for t in self.open())

    def task(self, key: str) -> TaskView:
        found = [t for t in self.open() if t.task_key == key]
        assert len(found) == 1, f"expected one open {key}, open: {self.open_keys()}"
        return found[0]

    def worker(self, task: TaskView) -> Actor:
        if task.assignee:
            return ACTORS[task.assignee]
        return GROUP_ACTORS[task.candidate_group]

    def complete(self, key: str, data: dict, actor: Actor | None = None):
        task = self.task(key)
        return cases.complete_task(self.ctx, task.id, data, actor or self.worker(task))

    def case(self):
        return cases.get_case(self.ctx, self.number, ADMIN)

    def history(self) -> list[tuple[str, str | None]]:
        return [(e.kind, e.task_key) for e in self.case().history]

    def tick_at(self, moment: datetime) -> int:
        clock.freeze(moment)
        return timers.fire_due_timers(self.ctx).fired

    def advance_to_next_timer(self, plus: timedelta = timedelta(minutes=1)) -> datetime:
        due = self.case().case.next_timer_at
        assert due is not None, "the case waits for no timer"
        self.tick_at(due + plus)
        return due

    def all_notices(self) -> list[dict]:
        with self.ctx.uow.read() as tx:
            rows = tx.session.scalars(select(Outbox).where(Outbox.case_id == self.case_id,
                                                           Outbox.kind == "notification")
                                      .order_by(Outbox.id)).all()
            return [dict(r.payload, queued_at=local(r.due_at)) for r in rows]

    def mails(self) -> list[dict]:
        """What the model's notify tasks sent (receipts, reminders, decisions ...)."""
        return [m for m in self.all_notices() if m["template"] not in TASK_NOTICES]

    def task_notices(self) -> list[dict]:
        """The announcements of new and handed-on tasks (services/task_notices.py)."""
        return [m for m in self.all_notices() if m["template"] in TASK_NOTICES]
