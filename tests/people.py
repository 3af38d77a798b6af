"""The test people, defined once: who acts in service tests, and the accounts of the HTTP tests.

Service tests act as these Actors directly; the web and API tests create accounts from
the two tables below (the fixture processes' people and the shipped processes' people)
and sign in through the real login form with PASSWORD.
"""

from __future__ import annotations

from iphs_flow.services.permissions import Actor

PASSWORD = "correct horse battery"

ANNA = Actor("anna", frozenset({"idea_owner"}))
BERTIL = Actor("bertil", frozenset({"idea_owner"}))
LEAD = Actor("lena", frozenset({"idea_owner", "innovation_lead"}), frozenset({"innovation-leads"}))
MANAGER = Actor("bo", frozenset({"idea_owner", "approver"}), frozenset({"unit-managers", "gate-deciders"}))
DEPARTMENT = Actor("dagny", frozenset({"idea_owner", "approver"}), frozenset({"department-management"}))
CITY = Actor("kim", frozenset({"idea_owner", "approver"}), frozenset({"city-executive-office"}))
DESIGNER = Actor("dora", frozenset({"idea_owner", "process_designer"}))
ADMIN = Actor("adam", frozenset({"idea_owner", "administrator"}), frozenset({"administrators"}))

# username -> (display name, roles, groups): the accounts over the fixture processes (tests/fixtures/bpmn).
PEOPLE = {
    "anna": ("Anna Andersson", set(), set()),
    "bertil": ("Bertil Berg", set(), set()),
    "bo": ("Bo Beslut", {"approver"}, {"gate-deciders"}),
    "lena": ("Lena Lind", {"innovation_lead"}, {"innovation-leads"}),
    "lars": ("Lars Lund", {"innovation_lead"}, {"innovation-leads"}),
    "dora": ("Dora Dahl", {"process_designer"}, set()),
    "adam": ("Adam Ek", {"administrator"}, {"administrators"}),
}

# The accounts over the shipped processes (bpmn/): a person in each lane of the innovation process.
SHIPPED_PROCESS_PEOPLE = {
    "anna": ("Anna Idéägare", {"idea_owner"}, set()),
    "lena": ("Lena Innovationsledare", {"idea_owner", "innovation_lead"}, {"innovation-leads"}),
    "bo": ("Bo Chef", {"idea_owner", "approver"}, {"unit-managers", "gate-deciders"}),
    "dagny": ("Dagny Förvaltningsledning", {"idea_owner", "approver"}, {"department-management"}),
    "kim": ("Kim Stadsledning", {"idea_owner", "approver"}, {"city-executive-office"}),
    "erik": ("Erik Utomstående", {"idea_owner"}, set()),
}
