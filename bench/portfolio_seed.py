"""Seed a database with a portfolio's worth of case histories by direct SQL inserts (for benches).

    from bench.portfolio_seed import seed_portfolio
    seed_portfolio(ctx, cases=20_000, events=200_000, lessons=10_000)

Each case walks the innovation process the way the services would have recorded it:
`case_started`, a `stage_entered` event per stage, the human tasks of each stage (opened
and completed, with due dates; one task left open, often overdue), stage records (the need
with its unit and Agenda 2030 goals, the concept's pilot budget, the pilot's granted
budget, the evaluation's implementation budget, the closure's lessons learned) and a gate
decision per gate (approved, rejected with a reason, on hold ...). Filler history rows
(notifications, claims) bring the total to `events`. The first `lessons` cases get a
`lessons` search document (the knowledge base as search sees it); closed cases also record
`lessons_learned` at closure. Dates spread over two years before now. Owners and groups vary,
so the visibility rule has work to do.
"""

from __future__ import annotations

import random
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import insert, text

from iphs_flow.engine.clock import now
from iphs_flow.services.text_analysis import analysed
from iphs_flow.store.tables import Case, CaseEvent, GateDecision, HumanTask, SearchDocument, StageRecord

UNITS = [f"Enhet {name}" for name in ("Skärholmen", "Rinkeby", "Kista", "Södermalm", "Hägersten", "Farsta",
                                      "Spånga", "Bromma", "Enskede", "Norrmalm", "Östermalm", "Älvsjö")]
GROUPS = [f"group-{i}" for i in range(8)]
GATES = {0: ("G1_decide", "Behovsprövning (G1)"), 2: ("G2_decide", "Beslut om pilot (G2)"),
         4: ("G3_decide", "Beslut om implementering (G3)"), 5: ("G4_followup", "Uppföljning (G4)")}
STAGE_TASKS = {0: ("need", "Beskriv behovet"), 1: ("understand", "Förstå behovet"), 2: ("concept", "Idé och koncept"),
               3: ("pilot", "Planera och starta piloten"), 4: ("evaluation", "Utvärdera piloten"),
               5: ("implementation", "Implementera och sprid"), 6: ("closure", "Avsluta ärendet")}
LESSON = "Involvera användarna tidigt och mät före och efter."
REASONS = ("Ligger utanför stadens uppdrag", "Finns redan en lösning", "Saknar finansiering", "Inte prioriterat i år")


def _outcome(rng: random.Random, stage: int) -> str:
    if stage == 5:
        return rng.choice(("realised", "realised", "not_realised", "keep_following"))
    roll = rng.random()
    if roll < 0.62:
        return "approved" if roll < 0.55 else "approved_with_conditions"
    if roll < 0.85:
        return "rejected"
    return rng.choice(("on_hold", "more_info", "referred"))


class _Ids:
    def __init__(self, conn: Any, tables: list[str]) -> None:
        self.next = {t: int(conn.execute(text(f'SELECT COALESCE(MAX(id), 0) FROM "{t}"')).scalar_one()) + 1
                     for t in tables}

    def take(self, table: str) -> int:
        value = self.next[table]
        self.next[table] += 1
        return value


def seed_portfolio(ctx: Any, cases: int = 20_000, events: int = 200_000, lessons: int = 10_000,
                   seed: int = 17, batch: int = 1000) -> dict[str, int]:
    """Insert `cases` case histories with `events` history rows in all; returns the row counts written."""
    rng = random.Random(seed)
    engine = ctx.uow.engine
    with ctx.uow.read() as tx:
        version = tx.processes.latest("innovation")
        assert version is not None, "deploy the shipped processes first"
        version_id = version.id
    end = now()
    counts = {"case": 0, "case_event": 0, "human_task": 0, "stage_record": 0, "gate_decision": 0,
              "search_document": 0}
    lesson_budget = lessons
    filler_per_case = 0.0
    with engine.begin() as conn:
        ids = _Ids(conn, list(counts))
        base_events = 0
        for first in range(0, cases, batch):
            rows: dict[str, list[dict[str, Any]]] = {k: [] for k in counts}
            for i in range(first, min(cases, first + batch)):
                case_id = ids.take("case")
                at = end - timedelta(days=rng.uniform(20, 730))
                owner = "anna" if i % 100 == 0 else f"user{i % 500}"
                goals = sorted(rng.sample(range(1, 18), rng.randint(0, 3)))
                unit = rng.choice(UNITS)

                def event(kind: str, when: Any, data: dict[str, Any] | None = None, task_key: str | None = None,
                          actor: str = "system", case_id: int = case_id, rows: dict = rows) -> int:
                    event_id = ids.take("case_event")
                    rows["case_event"].append({"id": event_id, "case_id": case_id, "at": when, "actor": actor,
                                               "kind": kind, "task_key": task_key, "task_name": None,
                                               "data": data or {}})
                    return event_id

                def task(key: str, name: str, stage: int, opened: Any, closed: Any | None, group: str | None,
                         case_id: int = case_id, rows: dict = rows, owner: str = owner) -> int:
                    task_id = ids.take("human_task")
                    rows["human_task"].append({
                        "id": task_id, "case_id": case_id, "spiff_task_id": str(uuid.UUID(int=rng.getrandbits(128))),
                        "task_key": key, "name": name, "process_id": "innovation", "candidate_group": group,
                        "assignee": None if group else owner, "form_key": key, "stage": stage,
                        "due_at": opened + timedelta(days=14), "state": "open" if closed is None else "completed",
                        "created_at": opened, "closed_at": closed, "closed_by": None if closed is None else owner})
                    return task_id

                event("case_started", at, {"process": "innovation", "version": 1, "data": {}}, actor=owner)
                stage, status, closed_at, t = 0, "running", None, at
                rounds: dict[str, int] = {}
                while True:
                    event("stage_entered", t, {"stage": stage, "from": None if stage == 0 else stage - 1})
                    key, name = STAGE_TASKS[stage]
                    step = timedelta(days=rng.uniform(1, 40))
                    if t + step > end:  # still working in this stage: its task is open (maybe overdue)
                        task(key, name, stage, t, None, rng.choice(GROUPS))
                        event("task_opened", t, {}, key)
                        break
                    group = rng.choice(GROUPS)
                    task_id = task(key, name, stage, t, t + step, group)
                    event("task_opened", t, {}, key)
                    t += step
                    done = event("task_completed", t, {"data": {}}, key, owner)
                    data: dict[str, Any] = {}
                    if stage == 0:
                        data = {"need_owner": unit, "agenda2030_goals": goals}
                    elif stage == 2:
                        data = {"pilot_budget": rng.randrange(50_000, 900_000, 10_000)}
                    elif stage == 3:
                        data = {"budget_granted": rng.randrange(50_000, 900_000, 10_000)}
                    elif stage == 4:
                        data = {"implementation_budget": rng.randrange(200_000, 5_000_000, 50_000)}
                    elif stage == 6:
                        data = {"lessons_learned": LESSON}
                    rounds[key] = rounds.get(key, 0) + 1
                    rows["stage_record"].append({"id": ids.take("stage_record"), "case_id": case_id,
                                                 "task_id": task_id, "event_id": done, "stage": stage,
                                                 "task_key": key, "task_name": name, "form_key": key,
                                                 "round": rounds[key], "data": data, "actor": owner, "at": t})
                    if stage == 6:
                        status, closed_at = "completed", t
                        break
                    if stage in GATES:
                        gate, gate_name = GATES[stage]
                        wait = timedelta(days=rng.uniform(1, 25))
                        if t + wait > end:
                            task(gate, gate_name, stage, t, None, "innovation-leads")
                            event("task_opened", t, {}, gate)
                            break
                        gate_task = task(gate, gate_name, stage, t, t + wait, "innovation-leads")
                        event("task_opened", t, {}, gate)
                        t += wait
                        outcome = _outcome(rng, stage)
                        decided = event("task_completed", t, {"data": {"decision": outcome}}, gate, "lena")
                        reason = rng.choice(REASONS) if outcome in ("rejected", "referred", "not_realised") else None
                        rounds[gate] = rounds.get(gate, 0) + 1
                        rows["gate_decision"].append({
                            "id": ids.take("gate_decision"), "case_id": case_id, "task_id": gate_task,
                            "event_id": decided, "stage": stage, "gate": gate, "gate_name": gate_name,
                            "form_key": None, "round": rounds[gate], "outcome": outcome, "reason": reason,
                            "conditions": [], "resume_date": None, "data": {"decision": outcome}, "decider": "lena",
                            "at": t})
                        if outcome in ("rejected", "referred", "not_realised"):
                            status, closed_at = "completed", t
                            event("case_closed", t)
                            break
                        if outcome not in ("approved", "approved_with_conditions", "realised", "keep_following"):
                            break  # on hold or waiting for a supplement: stays at this gate
                    stage += 1
                rows["case"].append({"id": case_id, "number": f"BENCH {case_id}", "title": f"Behov {case_id}",
                                     "process_version_id": version_id, "process_key": "innovation", "stage": stage,
                                     "status": status, "owner": owner, "state": "{}", "created_at": at,
                                     "updated_at": t, "closed_at": closed_at, "version": 1})
                if lesson_budget > 0:  # the knowledge base: a lessons document for search
                    lesson_budget -= 1
                    rows["search_document"].append({"id": ids.take("search_document"), "case_id": case_id,
                                                    "field": "lessons", "body": LESSON, "updated_at": t})
            base_events += len(rows["case_event"])
            # Filler history (notices, claims) so the whole history reaches `events` rows.
            if not filler_per_case:
                filler_per_case = max(0.0, events / cases - base_events / max(1, len(rows["case"])))
            wanted = int(round(filler_per_case * len(rows["case"])))
            case_rows = rows["case"]
            for _ in range(wanted):
                c = rng.choice(case_rows)
                rows["case_event"].append({"id": ids.take("case_event"), "case_id": c["id"],
                                           "at": c["created_at"] + timedelta(hours=rng.uniform(1, 200)),
                                           "actor": "system", "kind": rng.choice(("notification", "task_claimed")),
                                           "task_key": None, "task_name": None, "data": {}})
            for table, model in (("case", Case), ("human_task", HumanTask), ("case_event", CaseEvent),
                                 ("stage_record", StageRecord), ("gate_decision", GateDecision),
                                 ("search_document", SearchDocument)):
                if rows[table]:
                    conn.execute(insert(model), rows[table])
                    counts[table] += len(rows[table])
            if engine.dialect.name == "sqlite" and rows["search_document"]:
                sv, en = analysed(LESSON)
                conn.execute(text("INSERT INTO search_fts (rowid, sv, en) VALUES (:id, :sv, :en)"),
                             [{"id": r["id"], "sv": sv, "en": en} for r in rows["search_document"]])
        if engine.dialect.name == "postgresql":
            for table in counts:
                conn.execute(text(f"SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), "
                                  f"(SELECT MAX(id) FROM \"{table}\"))"))
            conn.execute(text('ANALYZE "case"; ANALYZE human_task; ANALYZE case_event; ANALYZE stage_record; '
                              'ANALYZE gate_decision'))
        else:
            conn.execute(text("ANALYZE"))
    return counts
