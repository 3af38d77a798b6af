"""HTTP benchmark: complete cases of a two-task process through the REST API, as deployed.

    python -m bench.http [--seconds S] [--clients N] [--workers N] [--rounds N]
                         [--backends sqlite,postgres] [--baseline PATH]

Starts the app as the README's production command does (`iphs-flow serve`: gunicorn with
threaded workers, the scheduler beside it) on a fresh database, once on SQLite (the
embedded default) and once on PostgreSQL. N client threads (keep-alive connections, one
API token) each start a case and complete its two tasks, again and again, for a fixed
time; then one client alone does the same. Printed per server: complete cases per second,
p50/p95 per endpoint, the CPU the server's processes (gunicorn, engine workers,
scheduler) spent per case, and - measured in the checkout's own code on the same
database, through the same Flask app - SQL statements and commits per request and the
service layer's own p50 for the same calls, timed in a few cases after each one-client
HTTP slice (about a second long) so that both see the same machine (so the HTTP layer's
share shows).

With `--baseline PATH` (a git worktree of any commit, e.g. `git worktree add /work/wt/base
main`) the same load runs against that checkout too, in the same run, interleaved in
`--rounds` slices (the one-client phase in one-second slices) so both see the same machine
load, and the ratio is printed. The machines are noisy: compare within one run.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
PROCESS_KEY = "bench_two_tasks"
SCHEDULER = " scheduler "  # in the command line of the scheduler process beside gunicorn
# Two user tasks in the idea owner's lane: whoever starts the case holds both.
MODEL = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  id="bench_defs" targetNamespace="http://iphs-flow.se/bench">
  <bpmn:collaboration id="bench_collab">
    <bpmn:participant id="bench_pool" name="Bänk" processRef="bench_two_tasks" />
  </bpmn:collaboration>
  <bpmn:process id="bench_two_tasks" name="Två uppgifter" isExecutable="true">
    <bpmn:laneSet id="lanes">
      <bpmn:lane id="lane_owner" name="Idéägare">
        <bpmn:flowNodeRef>start</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>first</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>second</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>done</bpmn:flowNodeRef>
      </bpmn:lane>
    </bpmn:laneSet>
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="first" name="Beskriv">
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing></bpmn:userTask>
    <bpmn:userTask id="second" name="Bekräfta">
      <bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing></bpmn:userTask>
    <bpmn:endEvent id="done"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="first" />
    <bpmn:sequenceFlow id="f2" sourceRef="first" targetRef="second" />
    <bpmn:sequenceFlow id="f3" sourceRef="second" targetRef="done" />
  </bpmn:process>
</bpmn:definitions>
"""
TASK_DATA = ({"text": "Ett behov beskrivet"}, {"confirmed": True})

# Run inside the checkout under test (its own code, whatever commit): prepare the database,
# then measure statements, commits and the service layer's cost through that code.
SETUP = r"""
import json, sys, time
from iphs_flow.bootstrap import build
from iphs_flow.config import Settings
from iphs_flow.services import accounts, api_tokens, cases, processes
from iphs_flow.services.permissions import Actor
from iphs_flow.store.migrate import upgrade
model, key, task_data = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
ctx = build(Settings.from_env())
upgrade(ctx.uow.engine)
accounts.add_user(ctx, "bench", "Bänk Person")
processes.deploy_process(ctx, {key + ".bpmn": model.encode()}, Actor("bench-designer", frozenset({"process_designer"})))
actor = accounts.actor_for(ctx, "bench")
token = api_tokens.create_token(ctx, actor, "bench", ["write"]).secret

# Statements and commits per request, through the same Flask app the server runs.
from sqlalchemy import event
from iphs_flow.app import create_app
app = create_app(context=ctx)
client = app.test_client()
counts = {"statements": 0, "commits": 0, "checkouts": 0}
def on_statement(*_args): counts["statements"] += 1
def on_commit(*_args): counts["commits"] += 1
def on_checkout(*_args): counts["checkouts"] += 1
event.listen(ctx.uow.engine, "before_cursor_execute", on_statement)
event.listen(ctx.uow.engine, "commit", on_commit)
event.listen(ctx.uow.engine.pool, "checkout", on_checkout)
headers = {"Authorization": "Bearer " + token}
per_request = {"start": [], "complete": []}
for n in range(3):
    for k in counts: counts[k] = 0
    answer = client.post("/api/v1/cases", json={"process": key, "data": {}, "title": f"Räknat {n}"}, headers=headers)
    assert answer.status_code == 201, answer.get_data(as_text=True)
    per_request["start"].append(dict(counts))
    for data in task_data:
        for k in counts: counts[k] = 0
        task_id = answer.get_json()["open_tasks"][0]["id"]
        answer = client.post(f"/api/v1/tasks/{task_id}/complete", json={"data": data}, headers=headers)
        assert answer.status_code == 200, answer.get_data(as_text=True)
        per_request["complete"].append(dict(counts))
    assert answer.get_json()["status"] == "completed"
for name, listener in (("before_cursor_execute", on_statement), ("commit", on_commit)):
    event.remove(ctx.uow.engine, name, listener)
event.remove(ctx.uow.engine.pool, "checkout", on_checkout)
print(json.dumps({"token": token, "per_request": {k: v[-1] for k, v in per_request.items()}}), flush=True)

# Then, on request, the same cases through the service layer alone (what the HTTP layer adds
# to is this), in slices between the one-client HTTP slices, so both see the same machine.
# Each call holds one connection, as a request does (where the checkout has one_connection).
from contextlib import nullcontext
held = getattr(ctx.uow, "one_connection", nullcontext)
for line in sys.stdin:
    count = int(line)
    service = {"start": [], "complete": []}
    for n in range(count):
        t0 = time.perf_counter()
        with held():
            view = cases.start_case(ctx, key, {}, actor, title=f"Service {n}")
        service["start"].append(time.perf_counter() - t0)
        for data in task_data:
            t0 = time.perf_counter()
            with held():
                view = cases.complete_task(ctx, view.open_tasks[0].id, data, actor)
            service["complete"].append(time.perf_counter() - t0)
    print(json.dumps(service), flush=True)
ctx.close()
"""


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def database(backend: str):
    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            yield f"sqlite:///{folder}/bench.db"
        return
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin_url = make_url(PG_ADMIN).set(drivername="postgresql+psycopg")
    name = f"iphs_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as found:
            return found.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _process_tree_cpu(pid: int, leave_out: str | None = None) -> float:
    """CPU seconds (user + system) of `pid` and every process below it, as /proc tells; without the
    children of `pid` whose command line holds `leave_out` (and theirs)."""
    tick = os.sysconf("SC_CLK_TCK")
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry)] = int(fields[1])
        times[int(entry)] = (int(fields[11]) + int(fields[12])) / tick
    total, wanted = 0.0, {pid}
    skipped = {child for child, parent in parents.items()
               if leave_out and parent == pid and leave_out in _cmdline(child)}
    changed = True
    while changed:
        changed = False
        for child, parent in parents.items():
            if parent in wanted and child not in wanted and child not in skipped:
                wanted.add(child)
                changed = True
    for member in wanted:
        total += times.get(member, 0.0)
    return total


@dataclass
class Server:
    """One checkout served by `iphs-flow serve` on one database."""

    label: str
    tree: Path
    url: str
    workers: int
    port: int = field(default_factory=free_port)
    token: str = ""
    probe: dict = field(default_factory=dict)
    process: subprocess.Popen | None = None
    service: subprocess.Popen | None = None  # the checkout's service layer, on the same database
    service_times: dict[str, list[float]] = field(default_factory=lambda: {"start": [], "complete": []})
    service_cpu: float = 0.0  # CPU seconds of the service-layer process (and its engine workers) in its slices
    service_cases: int = 0

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("IPHS_")}
        env.update({
            "PYTHONPATH": str(self.tree), "IPHS_DATABASE_URL": self.url, "IPHS_WORKERS": str(self.workers),
            "IPHS_PORT": str(self.port), "IPHS_HOST": "127.0.0.1", "IPHS_SECRET_KEY": uuid.uuid4().hex,
            # The benchmark's one person makes thousands of calls a minute: lift the API limit.
            "IPHS_API_RATE": "10000000/minute", "IPHS_LOG_LEVEL": "WARNING",
        })
        if os.environ.get("IPHS_SCHEMAS_DIR"):
            env["IPHS_SCHEMAS_DIR"] = os.environ["IPHS_SCHEMAS_DIR"]
        return env

    def prepare(self) -> None:
        """Seed the database and count statements per request; the process stays for service slices."""
        self.service = subprocess.Popen([sys.executable, "-c", SETUP, MODEL, PROCESS_KEY, json.dumps(TASK_DATA)],
                                        cwd=self.tree, env=self.env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True)
        self.probe = self._answer()
        self.token = self.probe["token"]

    def _answer(self) -> dict:
        line = self.service.stdout.readline()
        if not line:
            raise SystemExit(f"{self.label}: the service-layer probe stopped:\n{self.service.stderr.read()[-3000:]}")
        return json.loads(line)

    def service_slice(self, cases: int) -> None:
        """`cases` whole cases through the service layer alone, in the checkout's own process."""
        cpu = _process_tree_cpu(self.service.pid)
        self.service.stdin.write(f"{cases}\n")
        self.service.stdin.flush()
        for key, values in self._answer().items():
            self.service_times[key].extend(values)
        self.service_cpu += _process_tree_cpu(self.service.pid) - cpu
        self.service_cases += cases

    def start(self) -> None:
        self.process = subprocess.Popen([sys.executable, "-m", "iphs_flow", "serve"], cwd=self.tree, env=self.env(),
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"{self.label}: the server stopped:\n{self.process.stderr.read().decode()[-3000:]}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    conn.close()
                    break
            except OSError:
                time.sleep(0.3)
        else:
            raise SystemExit(f"{self.label}: the server did not answer within 90 s")
        load(self, 2, 3.0, Tally())  # warm every worker, its engine workers and caches

    def settle(self, quiet: float = 0.05, longest: float = 60.0) -> None:
        """Wait until the server's processes are all but idle (at most `longest` seconds)."""
        deadline = time.monotonic() + longest
        before = self.cpu()
        while time.monotonic() < deadline:
            time.sleep(1.0)
            after = self.cpu()
            if after - before <= quiet:
                return
            before = after

    def cpu(self, leave_out: str | None = None) -> float:
        return _process_tree_cpu(self.process.pid, leave_out) if self.process else 0.0

    def stop(self) -> None:
        if self.service and self.service.poll() is None:
            self.service.stdin.close()
            self.service.wait(60)
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, 15)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, 9)


@dataclass
class Tally:
    cases: int = 0
    seconds: float = 0.0
    cpu: float = 0.0
    web_cpu: float = 0.0  # without the scheduler, which also does the service-layer cases' outbox jobs
    errors: int = 0
    times: dict[str, list[float]] = field(default_factory=lambda: {"start": [], "complete": []})


def _call(conn: http.client.HTTPConnection, path: str, body: dict, token: str) -> tuple[int, dict]:
    conn.request("POST", path, body=json.dumps(body), headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    answer = conn.getresponse()
    payload = answer.read()
    return answer.status, (json.loads(payload) if payload else {})


def load(server: Server, clients: int, seconds: float, tally: Tally) -> None:
    """`clients` threads completing whole cases against `server` for `seconds`."""
    stop_at = time.monotonic() + seconds
    lock = threading.Lock()

    def client(n: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        times: dict[str, list[float]] = {"start": [], "complete": []}
        done = errors = 0
        while time.monotonic() < stop_at:
            t0 = time.perf_counter()
            status, case = _call(conn, "/api/v1/cases", {"process": PROCESS_KEY, "data": {},
                                                         "title": f"Last {n}"}, server.token)
            times["start"].append(time.perf_counter() - t0)
            if status != 201:
                errors += 1
                continue
            for data in TASK_DATA:
                t0 = time.perf_counter()
                status, case = _call(conn, f"/api/v1/tasks/{case['open_tasks'][0]['id']}/complete",
                                     {"data": data}, server.token)
                times["complete"].append(time.perf_counter() - t0)
                if status != 200:
                    errors += 1
                    break
            else:
                done += case.get("status") == "completed"
        conn.close()
        with lock:
            tally.cases += done
            tally.errors += errors
            for key, values in times.items():
                tally.times[key].extend(values)

    web0, cpu0, t0 = server.cpu(SCHEDULER), server.cpu(), time.perf_counter()
    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    tally.seconds += time.perf_counter() - t0
    tally.cpu += server.cpu() - cpu0
    tally.web_cpu += server.cpu(SCHEDULER) - web0


def run_backend(backend: str, trees: list[tuple[str, Path]], args: argparse.Namespace) -> dict[str, dict]:
    results: dict[str, dict] = {}
    with ExitStack() as stack:
        servers = []
        for label, tree in trees:
            url = stack.enter_context(database(backend))
            server = Server(label, tree, url, args.workers)
            server.prepare()
            stack.callback(server.stop)
            server.start()
            servers.append(server)
        # One client: slices of about a second, each followed by a few cases through the service
        # layer alone, so that a burst of load from elsewhere on the machine hits both alike.
        one_slices = max(args.rounds, round(args.one_seconds))
        for phase, clients, seconds, slices in (("many", args.clients, args.seconds, args.rounds),
                                                ("one", 1, args.one_seconds, one_slices)):
            tallies = {s.label: Tally() for s in servers}
            if clients == 1:
                for server in servers:
                    server.settle()  # the work the many clients left behind (outbox jobs) is done first
            for _slice in range(slices):
                for server in servers:
                    load(server, clients, seconds / slices, tallies[server.label])
                    if clients == 1:
                        server.service_slice(max(2, args.probes // slices))
            for server in servers:
                results.setdefault(server.label, {"probe": server.probe})[phase] = tallies[server.label]
        for server in servers:
            results[server.label]["service"] = server.service_times
            results[server.label]["service_cpu"] = server.service_cpu / max(1, server.service_cases)
    return results


def report(backend: str, results: dict[str, dict], args: argparse.Namespace) -> None:
    print(f"\n{backend}: {args.workers} gunicorn workers; load average {os.getloadavg()[0]:.2f}")
    head = f"  {'':<10}{'cases/s':>9}{'start p50':>11}{'p95':>7}{'submit p50':>12}{'p95':>7}" \
           f"{'1 client submit p50':>21}{'CPU/case':>10}{'stmts start/submit':>20}{'commits':>9}" \
           f"{'conns':>7}{'svc submit p50':>16}{'HTTP adds':>11}{'1 client CPU/case':>19}{'svc CPU/case':>14}" \
           f"{'HTTP adds':>11}{'errors':>8}"
    print(head)
    for label, found in results.items():
        many, one, probe = found["many"], found["one"], found["probe"]
        rate = many.cases / many.seconds if many.seconds else 0.0
        one_submit = pct(one.times["complete"], 0.5) * 1000
        service = pct(found["service"]["complete"], 0.5) * 1000
        counts = probe["per_request"]
        one_cpu = one.web_cpu / one.cases if one.cases else float("nan")
        print(f"  {label:<10}{rate:>9.1f}{pct(many.times['start'], .5) * 1000:>9.1f}ms"
              f"{pct(many.times['start'], .95) * 1000:>7.1f}{pct(many.times['complete'], .5) * 1000:>10.1f}ms"
              f"{pct(many.times['complete'], .95) * 1000:>7.1f}{one_submit:>19.2f}ms"
              f"{(many.cpu / many.cases * 1000) if many.cases else float('nan'):>8.1f}ms"
              f"{counts['start']['statements']:>13}/{counts['complete']['statements']:<6}"
              f"{counts['complete']['commits']:>9}{counts['complete']['checkouts']:>7}"
              f"{service:>14.2f}ms{(one_submit / service - 1) * 100:>10.0f}%"
              f"{one_cpu * 1000:>17.1f}ms{found['service_cpu'] * 1000:>12.1f}ms"
              f"{(one_cpu / found['service_cpu'] - 1) * 100 if found['service_cpu'] else float('nan'):>10.0f}%"
              f"{many.errors + one.errors:>8}")
    labels = list(results)
    if len(labels) == 2:
        new, old = results[labels[0]], results[labels[1]]
        rate = (new["many"].cases / new["many"].seconds) / max(1e-9, old["many"].cases / old["many"].seconds)
        submit = pct(old["one"].times["complete"], .5) / max(1e-9, pct(new["one"].times["complete"], .5))
        print(f"  {labels[0]} / {labels[1]}: {rate:.2f}x complete cases/s ({args.clients} clients), "
              f"{submit:.2f}x faster one-client submit p50")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="load time per checkout with N clients")
    parser.add_argument("--one-seconds", type=float, default=8.0, help="load time per checkout with one client")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=4, help="interleaved slices per checkout")
    parser.add_argument("--probes", type=int, default=48,
                        help="cases through the service layer alone, between the one-client slices")
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--baseline", type=Path, default=None, help="a second checkout (git worktree) to compare")
    args = parser.parse_args()
    trees = [("this", ROOT)] + ([("baseline", args.baseline.resolve())] if args.baseline else [])
    print(f"python -m bench.http: {args.clients} clients x {args.seconds:g} s, then 1 client x {args.one_seconds:g} s,"
          f" per checkout, interleaved in {args.rounds} rounds; load average {os.getloadavg()[0]:.2f}")
    for label, tree in trees:
        commit = subprocess.run(["git", "-C", str(tree), "log", "-1", "--format=%h %s"], capture_output=True,
                                text=True).stdout.strip()
        print(f"  {label}: {tree} ({commit})")
    for backend in [b.strip() for b in args.backends.split(",") if b.strip()]:
        report(backend, run_backend(backend, trees, args), args)
    print("\nstmts, commits, conns: per request, counted through the checkout's Flask app (SQLite counts its "
          "BEGINs);\nsvc submit p50: the same completion through the service layer alone; HTTP adds: one-client "
          "submit p50 over it;\n1 client CPU/case: gunicorn's CPU (with engine workers) per case with one client; "
          "svc CPU/case: the service layer's process (with its engine workers) per case; HTTP adds: the first over "
          "the second.")


if __name__ == "__main__":
    main()
