"""Search benchmark: search and similar cases with 20,000 cases and 10,000 lessons, SQLite and PostgreSQL.

    python -m bench.search [--cases N] [--events N] [--lessons N] [--queries N] [--skip-postgres] [--recall-only]

Seeds a throwaway database per back end: the shipped processes are deployed, N cases are
bulk-inserted with an open task each (so the permission rule has rows to check) and
their search documents (title, need and, for some, concept, results and decisions) are
written in bulk from a Zipf-distributed Swedish vocabulary; 200,000 history events are
spread over them; 10,000 of them get a lesson record (services/lessons.py) with its own
search document, one in twenty of those internal. Then the 76 needs of
tests/fixtures/similar_needs.json are described through the real services (start a case,
submit the need form) among those cases.

Prints first recall@5 on the 76 test needs alone (as the test asserts), then per back end:
p50/p95 of `search` (cases and lessons) as an innovation lead (sees all) and as an idea
owner (filtered by the case-page rule), of the lessons library's search, of `similar_cases`,
and recall@5 of the true pair of each paired need among all the cases (a harder figure: the synthetic cases are
written from a vocabulary that includes the test needs' words). Target: p95 <= 100 ms, recall >= 0.8.
The machines are noisy: compare within one run.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import insert, text

from bench.databases import postgres_database, sqlite_database
from iphs_flow.bootstrap import build
from iphs_flow.config import Settings
from iphs_flow.engine.clock import now
from iphs_flow.services import cases, processes
from iphs_flow.services.permissions import Actor
from iphs_flow.services.queries.lessons import list_lessons
from iphs_flow.services.queries.search import search, similar_cases
from iphs_flow.services.text_analysis import analysed, words
from iphs_flow.store.migrate import upgrade
from iphs_flow.store.tables import Case, CaseEvent, HumanTask, Lesson, SearchDocument

ROOT = Path(__file__).resolve().parent.parent
NEEDS_FILE = ROOT / "tests" / "fixtures" / "similar_needs.json"
DESIGNER = Actor("dora", frozenset({"process_designer"}))
LEAD = Actor("lena", frozenset({"idea_owner", "innovation_lead"}), frozenset({"innovation-leads"}))
OWNER = Actor("anna", frozenset({"idea_owner"}), frozenset({"group-3"}))
GROUPS = [f"group-{i}" for i in range(8)]
PREFIXES = ("skol", "äldre", "park", "trafik", "bygg", "miljö", "energi", "förskole", "kultur", "idrotts", "vatten",
            "avfalls", "gång", "cykel", "bostads", "hemtjänst", "social", "digital", "kontakt", "arbets", "fritids",
            "biblioteks", "vård", "stads", "närings", "integrations", "trygghets", "klimat", "buss", "ungdoms")
SUFFIXES = ("lokal", "plan", "väg", "tjänst", "område", "frågor", "stöd", "arbete", "projekt", "personal", "budget",
            "mål", "insats", "verksamhet", "kostnad", "system", "miljö", "förvaltning", "enhet", "utveckling",
            "samverkan", "tid", "plats", "rutin", "service", "kö", "behov", "material", "avtal", "uppföljning")
ENDINGS = ("", "en", "erna", "er", "et", "ens", "ar", "arna")
FILLER = ("och", "i", "att", "det", "som", "på", "för", "med", "är", "till", "av", "inte", "vi", "de", "har")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


# ---------------------------------------------------------------- recall (also asserted by the tests)


def recall_at(ctx: Any, needs: Sequence[dict[str, Any]], case_ids: Sequence[int], actor: Actor,
              k: int = 5) -> tuple[float, list[str]]:
    """The share of paired needs whose partner is among the `k` cases most similar to them.

    `case_ids[i]` is the case that describes `needs[i]`; each need is looked up as the text
    someone is typing (title and need), its own case left out.
    """
    hits, total, misses = 0, 0, []
    for i, need in enumerate(needs):
        if need["pair"] is None:
            continue
        partner = next(case_ids[j] for j, other in enumerate(needs) if other["pair"] == need["pair"] and j != i)
        found = similar_cases(ctx, f"{need['title']} {need['text']}", actor, k, exclude_case_id=case_ids[i])
        total += 1
        if partner in [f.case_id for f in found]:
            hits += 1
        else:
            misses.append(need["title"])
    return (hits / total if total else 0.0), misses


def describe_needs(ctx: Any, needs: Sequence[dict[str, Any]], owner: Actor) -> list[int]:
    """Each need through the real services: start an innovation case and submit its need form."""
    ids = []
    for need in needs:
        view = cases.start_case(ctx, "innovation", {}, owner)
        task = next(t for t in view.open_tasks if t.task_key == "need")
        cases.complete_task(ctx, task.id, {"title": need["title"], "need": need["text"], "target_group": "Invånare",
                                           "need_owner": "Enhetschef"}, owner)
        ids.append(view.id)
    return ids


# ---------------------------------------------------------------- seeding


def vocabulary(rng: random.Random, needs: Sequence[dict[str, Any]]) -> tuple[list[str], list[float]]:
    found = {w for n in needs for w in words(n["title"] + " " + n["text"]) if len(w) > 3}
    for prefix in PREFIXES:
        for suffix in SUFFIXES:
            for ending in rng.sample(ENDINGS, 3):
                found.add(prefix + suffix + ending)
    vocab = sorted(found)
    rng.shuffle(vocab)
    # Zipf-like with a flattened head: the commonest content word is in about one document in six,
    # as "skola" might be in a city's cases (stop words are the FILLER words, not searched for).
    weights = [1.0 / (rank + 50) for rank in range(len(vocab))]
    return vocab, weights


def sentence(rng: random.Random, vocab: list[str], weights: list[float], n: int) -> str:
    picked = rng.choices(vocab, weights=weights, k=n)
    out = []
    for word in picked:
        out.append(word)
        if rng.random() < 0.5:
            out.append(rng.choice(FILLER))
    return " ".join(out).capitalize() + "."


def seed(ctx: Any, n_cases: int, n_lessons: int, rng: random.Random, vocab: list[str], weights: list[float],
         n_events: int = 200_000) -> None:
    engine = ctx.uow.engine
    sqlite = engine.dialect.name == "sqlite"
    with ctx.uow.read() as tx:
        version = tx.processes.latest("innovation")
        assert version is not None
        version_id = version.id
    at = now()
    statuses = ["running"] * 6 + ["completed", "terminated", "suspended"]
    lesson_cases = set(rng.sample(range(n_cases), min(n_lessons, n_cases)))
    batch = 2000
    with engine.begin() as conn:
        start = int(conn.execute(text('SELECT COALESCE(MAX(id), 0) FROM "case"')).scalar_one()) + 1
        doc_id = int(conn.execute(text("SELECT COALESCE(MAX(id), 0) FROM search_document")).scalar_one()) + 1
        lesson_id = int(conn.execute(text("SELECT COALESCE(MAX(id), 0) FROM lesson")).scalar_one()) + 1
        per_case = n_events // max(1, n_cases)
        for first in range(0, n_cases, batch):
            case_rows, task_rows, doc_rows, lesson_rows, event_rows = [], [], [], [], []
            for i in range(first, min(n_cases, first + batch)):
                case_id = start + i
                title = sentence(rng, vocab, weights, rng.randint(2, 4)).rstrip(".")
                owner = "anna" if i % 100 == 0 else f"user{i % 500}"
                case_rows.append({"id": case_id, "number": f"BENCH {case_id}", "title": title[:300],
                                  "process_version_id": version_id, "process_key": "innovation",
                                  "stage": rng.randint(0, 6), "status": rng.choice(statuses), "owner": owner,
                                  "state": "{}", "created_at": at, "updated_at": at, "version": 1})
                task_rows.append({"case_id": case_id, "spiff_task_id": str(uuid.UUID(int=rng.getrandbits(128))),
                                  "task_key": "understand", "name": "Förstå behovet", "process_id": "innovation",
                                  "candidate_group": rng.choice(GROUPS), "assignee": None, "form_key": "understand",
                                  "stage": 1, "state": "open", "created_at": at})
                fields = [("title", title), ("need", sentence(rng, vocab, weights, rng.randint(20, 60)))]
                for field, chance, size in (("concept", 0.5, 40), ("results", 0.3, 40), ("decisions", 0.4, 15)):
                    if rng.random() < chance:
                        fields.append((field, sentence(rng, vocab, weights, size)))
                for n in range(per_case + (1 if i < n_events % max(1, n_cases) else 0)):
                    event_rows.append({"case_id": case_id, "actor": owner, "kind": "task_completed" if n else
                                       "case_started", "task_key": "need", "task_name": "Beskriv behovet",
                                       "data": {"data": {"note": f"händelse {n}"}}, "at": at})
                lesson = None
                if i in lesson_cases:
                    worked = sentence(rng, vocab, weights, rng.randint(5, 15))
                    reusable = sentence(rng, vocab, weights, rng.randint(10, 25))
                    fields.append(("lessons", f"{worked}\n{reusable}"))
                    lesson = lesson_id
                    lesson_rows.append({"id": lesson_id, "case_id": case_id, "source": rng.choice(
                        ("evaluation", "closure", "rejection", "stop")), "round": 1, "stage": rng.randint(0, 6),
                        "outcome": rng.choice(("implement", "rejected", "realised", "terminated")),
                        "unit": f"Förvaltning {i % 14}", "goals": rng.sample(range(1, 18), 2),
                        "year": 2020 + i % 7, "worked": worked, "not_worked": None, "reusable": reusable,
                        "author": owner, "at": at, "internal": i % 20 == 0})
                    lesson_id += 1
                for field, body in fields:
                    doc_rows.append({"id": doc_id, "case_id": case_id, "field": field, "body": body,
                                     "updated_at": at, "lesson_id": None})
                    doc_id += 1
                if lesson is not None:
                    doc_rows.append({"id": doc_id, "case_id": case_id, "field": "lesson",
                                     "body": f"{worked}\n{reusable}", "updated_at": at, "lesson_id": lesson})
                    doc_id += 1
            conn.execute(insert(Case), case_rows)
            conn.execute(insert(HumanTask), task_rows)
            if lesson_rows:
                conn.execute(insert(Lesson), lesson_rows)
            conn.execute(insert(SearchDocument), doc_rows)
            conn.execute(insert(CaseEvent), event_rows)
            if sqlite:
                fts = []
                for row in doc_rows:
                    sv, en = analysed(row["body"])
                    fts.append({"id": row["id"], "sv": sv, "en": en})
                conn.execute(text("INSERT INTO search_fts (rowid, sv, en) VALUES (:id, :sv, :en)"), fts)
        if not sqlite:
            for table in ("case", "human_task", "search_document", "lesson", "case_event"):
                conn.execute(text(f"SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), "
                                  f"(SELECT MAX(id) FROM \"{table}\"))"))
            conn.execute(text('ANALYZE "case"; ANALYZE human_task; ANALYZE search_document; ANALYZE lesson; '
                              'ANALYZE case_event'))
        else:
            conn.execute(text("ANALYZE"))


def timed(call: Any, runs: Sequence[Any]) -> list[float]:
    out = []
    for args in runs:
        started = time.perf_counter()
        call(*args)
        out.append((time.perf_counter() - started) * 1000)
    return out


def clean_recall(url: str) -> tuple[float, list[str]]:
    """recall@5 with only the test set's 76 needs in the database (what the test asserts)."""
    needs = json.loads(NEEDS_FILE.read_text(encoding="utf-8"))["needs"]
    ctx = build(Settings(database_url=url, forms_dir=ROOT / "forms", bpmn_dir=ROOT / "bpmn"))
    try:
        upgrade(ctx.uow.engine)
        processes.deploy_process(ctx, processes.read_model_files([ROOT / "bpmn"]), DESIGNER)
        case_ids = describe_needs(ctx, needs, Actor("anna", frozenset({"idea_owner"})))
        return recall_at(ctx, needs, case_ids, LEAD, k=5)
    finally:
        ctx.close()


def run_backend(label: str, url: str, n_cases: int, n_lessons: int, n_queries: int, n_events: int) -> None:
    rng = random.Random(17)
    needs = json.loads(NEEDS_FILE.read_text(encoding="utf-8"))["needs"]
    ctx = build(Settings(database_url=url, forms_dir=ROOT / "forms", bpmn_dir=ROOT / "bpmn"))
    try:
        upgrade(ctx.uow.engine)
        processes.deploy_process(ctx, processes.read_model_files([ROOT / "bpmn"]), DESIGNER)
        vocab, weights = vocabulary(rng, needs)
        started = time.perf_counter()
        seed(ctx, n_cases, n_lessons, rng, vocab, weights, n_events)
        seeded = time.perf_counter() - started
        started = time.perf_counter()
        case_ids = describe_needs(ctx, needs, Actor("anna", frozenset({"idea_owner"})))
        described = time.perf_counter() - started
        queries = [" ".join(rng.choices(vocab, weights=weights, k=rng.choice((1, 1, 2))))
                   for _ in range(n_queries)]
        texts = [f"{n['title']} {n['text']}" for n in rng.choices(needs, k=max(10, n_queries // 2))]
        for q in queries[:5]:  # warm caches and connections
            search(ctx, q, LEAD)
        load_before = os.getloadavg()[0]
        lead = timed(lambda q: search(ctx, q, LEAD), [(q,) for q in queries])
        owner = timed(lambda q: search(ctx, q, OWNER), [(q,) for q in queries])
        library = timed(lambda q: list_lessons(ctx, OWNER, q=q), [(q,) for q in queries])
        similar = timed(lambda t: similar_cases(ctx, t, LEAD, 5), [(t,) for t in texts])
        similar_owner = timed(lambda t: similar_cases(ctx, t, OWNER, 5), [(t,) for t in texts])
        load_after = os.getloadavg()[0]
        totals = [search(ctx, q, LEAD).total for q in queries[:50]]
        recall, misses = recall_at(ctx, needs, case_ids, LEAD, k=5)
        with ctx.uow.read() as tx:
            events = tx.session.execute(text("SELECT COUNT(*) FROM case_event")).scalar_one()
            lesson_count = tx.session.execute(text("SELECT COUNT(*) FROM lesson")).scalar_one()
        print(f"\n{label}: {n_cases} cases (+{len(needs)} described through the services), {events} history "
              f"events, {lesson_count} lessons; "
              f"seeded in {seeded:.0f} s, needs described in {described:.0f} s")
        print(f"  matching cases per search: median {statistics.median(totals):.0f}, max {max(totals)}; "
              f"load (1 min) {load_before:.2f} before the timings, {load_after:.2f} after")
        for name, values in (("search, innovation lead", lead), ("search, idea owner (filtered)", owner),
                             ("lessons library search, idea owner", library),
                             ("similar cases, innovation lead", similar),
                             ("similar cases, idea owner (filtered)", similar_owner)):
            print(f"  {name:38s} p50 {statistics.median(values):6.1f} ms   p95 {pct(values, 0.95):6.1f} ms"
                  f"   (n={len(values)})")
        print(f"  recall@5 of the true pair among all {n_cases + len(needs)} cases: {recall:.3f} "
              f"({len(misses)} missed: {', '.join(misses)})")
    finally:
        ctx.close()


def main() -> None:
    print(f"uptime: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f} (load 1, 5, 15 min)")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=20_000)
    parser.add_argument("--lessons", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--recall-only", action="store_true", help="only recall@5 on the test set")
    args = parser.parse_args()
    for label, database in (("SQLite", sqlite_database), ("PostgreSQL", postgres_database)):
        if label == "PostgreSQL" and args.skip_postgres:
            continue
        with database() as url:
            recall, misses = clean_recall(url)
        print(f"{label}: recall@5 of the true pair among the 76 test needs alone: {recall:.3f} "
              f"({len(misses)} missed: {', '.join(misses)})")
    if args.recall_only:
        return
    with sqlite_database() as url:
        run_backend("SQLite (FTS5, Snowball stems)", url, args.cases, args.lessons, args.queries, args.events)
    if not args.skip_postgres:
        with postgres_database() as url:
            run_backend("PostgreSQL (swedish + english full text)", url, args.cases, args.lessons, args.queries,
                        args.events)


if __name__ == "__main__":
    main()
