#!/usr/bin/env python3
"""Drive a new innovation case through IPHS Flow's REST API until it waits at gate G1.

This is the script an integrator would write (only `requests` is needed): it starts a
case of the process `innovation`, lists the case's open tasks, completes the ones it
can, and stops when the gate decision G1 is the next step. It prints the case number
and stage.

    IPHS_URL=https://iphs.example IPHS_TOKEN=iphs_... python drive_to_first_gate.py

The token is a personal API token with the write scope (the page "API-nycklar"). In
`innovation` an innovation lead must be appointed before G1 (the task `assign_lead`);
pass that person's token as --lead-token (IPHS_LEAD_TOKEN) and the script does that
step too, otherwise it stops, exit code 3, and says whom the case waits for.

Every write carries an Idempotency-Key; a retry after a timeout or a 5xx/429 sends the
same key again, so the server does the work once even when the first answer was lost. A
503 (the database is unreachable) or a 429 is retried after the server's Retry-After.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from typing import Any

import requests

PROCESS = "innovation"
GATE = "G1_decide"
# What this integration fills in for each task it knows (see forms/<task>.schema.json).
NEED = {"title": "Tryggare skolvägar",
        "need": "Barn känner sig otrygga på väg till skolan i Skärholmen, särskilt under mörka månader.",
        "target_group": "Elever i årskurs 1–6 och deras vårdnadshavare",
        "need_owner": "Skolchef Eva Ek, grundskoleavdelningen"}
ATTEMPTS = 4
TIMEOUT_SECONDS = 30


class ApiError(Exception):
    """The API refused a request; the message carries its problem details."""


class Client:
    """A small client: bearer token, problem+json errors, retries with the same Idempotency-Key."""

    def __init__(self, base_url: str, token: str) -> None:
        self.base = base_url.rstrip("/") + "/api/v1"
        self.http = requests.Session()
        self.http.headers.update({"Authorization": f"Bearer {token}", "Accept": "application/json"})

    def call(self, method: str, path: str, body: Any = None, *, params: dict[str, Any] | None = None) -> Any:
        headers = {"Idempotency-Key": str(uuid.uuid4())} if method != "GET" else {}
        for attempt in range(1, ATTEMPTS + 1):
            try:
                response = self.http.request(method, self.base + path, json=body, params=params, headers=headers,
                                             timeout=TIMEOUT_SECONDS)
            except (requests.ConnectionError, requests.Timeout):
                if attempt == ATTEMPTS:
                    raise
                time.sleep(2 ** attempt)
                continue
            if (response.status_code == 429 or response.status_code >= 500) and attempt < ATTEMPTS:
                time.sleep(retry_after(response))
                continue
            if response.status_code >= 400:
                try:
                    problem = response.json()
                except ValueError:
                    problem = {"detail": response.text[:300]}
                errors = problem.get("errors")
                raise ApiError(f"{method} {path}: {response.status_code} {problem.get('detail', '')}"
                               + (f" {errors}" if errors else ""))
            return response.json() if response.content else None
        raise ApiError(f"{method} {path}: no answer after {ATTEMPTS} attempts")


def retry_after(response: requests.Response) -> int:
    """Seconds to wait before a retry: the server's Retry-After (in seconds), at most a minute."""
    try:
        return max(1, min(int(response.headers.get("Retry-After", "5")), 60))
    except ValueError:
        return 5


def data_for(task: dict[str, Any], lead_username: str | None) -> dict[str, Any] | None:
    """The form data this integration sends for a task, or None for a task it leaves to people."""
    if task["task_key"] == "need":
        return NEED
    if task["task_key"] == "assign_lead" and lead_username:
        return {"innovation_lead": lead_username}
    return None


def drive(url: str, token: str, lead_token: str | None, title: str) -> int:
    owner = Client(url, token)
    lead = Client(url, lead_token) if lead_token else None
    lead_username = lead.call("GET", "/session")["username"] if lead else None

    case = owner.call("POST", "/cases", {"process": PROCESS, "title": title, "data": {}})
    print(f"Started {case['number']} ({case['title']})")
    for _ in range(20):  # the innovation process reaches G1 in a few steps; this bounds a surprise loop
        case = owner.call("GET", f"/cases/{case['id']}")["case"]
        open_keys = [t["task_key"] for t in case["open_tasks"]]
        print(f"  {case['number']}: stage {case['stage']}, open: {', '.join(open_keys) or '(none)'}")
        if GATE in open_keys:
            print(f"{case['number']} waits at gate G1 (stage {case['stage']})")
            return 0
        progressed = False
        for client in [c for c in (owner, lead) if c is not None]:
            for task in client.call("GET", "/tasks", params={"case": str(case["id"])}):
                data = data_for(task, lead_username)
                if data is None:
                    continue
                case = client.call("POST", f"/tasks/{task['id']}/complete", {"data": data, "version": case["version"]})
                print(f"  completed {task['task_key']} ({task['name']})")
                progressed = True
                break
            if progressed:
                break
        if not progressed:
            waiting = ", ".join(f"{t['task_key']} ({t.get('assignee') or t.get('candidate_group')})"
                                for t in case["open_tasks"])
            print(f"{case['number']} waits for someone else: {waiting}; stage {case['stage']}")
            return 3
    print(f"{case['number']} did not reach G1", file=sys.stderr)
    return 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=os.environ.get("IPHS_URL", "http://127.0.0.1:5000"))
    parser.add_argument("--token", default=os.environ.get("IPHS_TOKEN"), help="the idea owner's API token")
    parser.add_argument("--lead-token", default=os.environ.get("IPHS_LEAD_TOKEN"),
                        help="an innovation lead's API token, to appoint the lead before G1")
    parser.add_argument("--title", default=NEED["title"])
    args = parser.parse_args(argv)
    if not args.token:
        parser.error("give the API token with --token or IPHS_TOKEN")
    try:
        return drive(args.url, args.token, args.lead_token, args.title)
    except ApiError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
