"""`iphs-flow serve` is gunicorn with threaded workers: slow clients cannot take every worker,
and the scheduler it starts runs once, beside the workers."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from iphs_flow.bootstrap import build
from iphs_flow.config import Settings
from iphs_flow.store.migrate import upgrade
from tests.server_process import ServerProcess

SLOW_CLIENTS = 60
HEAD = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: slowloris\r\nX-Padding: " + b"a" * 200 + b"\r\n\r\n"


@pytest.fixture
def database(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'iphs.db'}"
    ctx = build(Settings(database_url=url))
    upgrade(ctx.uow.engine)
    ctx.close()
    return url


@pytest.fixture
def server(database: str, tmp_path: Path) -> Iterator[ServerProcess]:
    # One worker with two threads: without the guard, two slow clients would be enough.
    proc = ServerProcess(database, tmp_path / "serve.log", "--no-scheduler", IPHS_WORKERS="1",
                         IPHS_THREADS="2", IPHS_HEADER_TIMEOUT="30").start()
    yield proc
    proc.stop()


def drip(sockets: list[socket.socket], stop: threading.Event) -> None:
    """Send each socket's request head one byte at a time, as slowly as a slowloris does."""
    position = 0
    while not stop.is_set() and position < len(HEAD) - 4:
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.send(HEAD[position:position + 1])
        position += 1
        stop.wait(0.1)


def test_a_normal_request_answers_while_sixty_clients_send_their_headers_byte_by_byte(server):
    sockets = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(SLOW_CLIENTS)]
    stop = threading.Event()
    dripper = threading.Thread(target=drip, args=(sockets, stop), daemon=True)
    dripper.start()
    try:
        time.sleep(1.5)  # every slow client has sent part of its head by now
        for _ in range(5):
            response = requests.get(server.url + "/healthz", timeout=2)
            assert response.status_code == 200
    finally:
        stop.set()
        dripper.join()
        for sock in sockets:
            sock.close()


def test_a_normal_request_answers_while_sixty_clients_send_small_bodies_byte_by_byte(server):
    body = b'{"title": "' + b"x" * 100 + b'"}'
    head = (b"POST /api/v1/cases HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n")
    sockets = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(SLOW_CLIENTS)]
    for sock in sockets:
        sock.sendall(head)
    stop = threading.Event()

    def drip_body() -> None:
        for position in range(len(body) - 1):
            if stop.is_set():
                return
            for sock in sockets:
                with contextlib.suppress(OSError):
                    sock.send(body[position:position + 1])
            stop.wait(0.1)

    dripper = threading.Thread(target=drip_body, daemon=True)
    dripper.start()
    try:
        time.sleep(1.5)
        for _ in range(5):
            assert requests.get(server.url + "/healthz", timeout=2).status_code == 200
    finally:
        stop.set()
        dripper.join()
        for sock in sockets:
            sock.close()


def test_a_client_that_never_finishes_its_head_is_disconnected_after_the_header_timeout(database, tmp_path):
    proc = ServerProcess(database, tmp_path / "serve.log", "--no-scheduler", IPHS_WORKERS="1",
                         IPHS_HEADER_TIMEOUT="1").start()
    try:
        sock = socket.create_connection(("127.0.0.1", proc.port))
        sock.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        sock.settimeout(15)
        assert sock.recv(100) == b""  # closed by the server, no answer to half a request
        sock.close()
        assert requests.get(proc.url + "/healthz", timeout=2).status_code == 200
    finally:
        proc.stop()


def children_of(pid: int) -> list[tuple[int, str]]:
    out = subprocess.run(["ps", "-o", "pid=,args=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [(int(line.split(None, 1)[0]), line.split(None, 1)[1]) for line in out.splitlines() if line.strip()]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_serve_runs_its_workers_with_exactly_one_scheduler_beside_them(database, tmp_path):
    proc = ServerProcess(database, tmp_path / "serve.log", IPHS_WORKERS="3").start()
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            children = children_of(proc.proc.pid)
            schedulers = [pid for pid, args in children if " scheduler " in args]
            if len(children) == 4 and schedulers:
                break
            time.sleep(0.2)
        assert len(schedulers) == 1
        assert len([pid for pid, args in children if " serve " in args]) == 3  # the forked web workers
    finally:
        proc.stop()
    assert not alive(schedulers[0])  # stopped with serve
