"""examples/drive_to_first_gate.py, run as an integrator would, against the real app served over HTTP."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest
from werkzeug.serving import make_server

from iphs_flow.app import create_app
from iphs_flow.services import api_tokens, cases
from iphs_flow.services.queries import case_lists
from iphs_flow.services.queries import tasks as task_queries
from tests.conftest import ADMIN, ROOT
from tests.integration.api_world import actor
from tests.integration.web_world import shipped_web_context

SCRIPT = ROOT / "examples" / "drive_to_first_gate.py"


@pytest.fixture
def served(tmp_path):
    ctx = shipped_web_context(f"sqlite:///{tmp_path / 'iphs.db'}")
    httpd = make_server("127.0.0.1", 0, create_app(context=ctx), threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}", ctx
    httpd.shutdown()
    ctx.close()


def run(url: str, *args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("IPHS_")}
    environment.update(IPHS_URL=url, **env)
    return subprocess.run([sys.executable, str(SCRIPT), *args], env=environment, capture_output=True, text=True,
                          timeout=120, check=False)


def test_the_example_client_drives_a_new_case_to_gate_g1(served) -> None:
    url, ctx = served
    owner = api_tokens.create_token(ctx, actor(ctx, "anna"), "Exempelklienten", ["write"])
    lead = api_tokens.create_token(ctx, actor(ctx, "lena"), "Exempelklienten", ["write"])
    done = run(url, "--lead-token", lead.secret, IPHS_TOKEN=owner.secret)
    assert done.returncode == 0, done.stdout + done.stderr
    [mine] = case_lists.search_cases(ctx, actor(ctx, "anna")).items
    assert f"{mine.number} waits at gate G1" in done.stdout
    assert "completed need" in done.stdout and "completed assign_lead" in done.stdout
    open_tasks = task_queries.list_tasks(ctx, ADMIN, mine.number, everyone=True)
    assert [t.task_key for t in open_tasks] == ["G1_decide"]
    data = cases.get_case(ctx, mine.number, ADMIN).data
    assert data["need_owner"].startswith("Skolchef") and data["innovation_lead"] == "lena"


def test_without_a_lead_the_example_client_says_whom_the_case_waits_for(served) -> None:
    url, ctx = served
    owner = api_tokens.create_token(ctx, actor(ctx, "anna"), "Exempelklienten", ["write"])
    stuck = run(url, "--token", owner.secret)
    assert stuck.returncode == 3, stuck.stdout + stuck.stderr
    assert "waits for someone else: assign_lead (innovation-leads)" in stuck.stdout


def test_the_example_client_reports_a_read_only_token_clearly(served) -> None:
    url, ctx = served
    reader = api_tokens.create_token(ctx, actor(ctx, "anna"), "Bara läsa", ["read"])
    refused = run(url, IPHS_TOKEN=reader.secret)
    assert refused.returncode == 2 and "403" in refused.stderr and "Traceback" not in refused.stderr
