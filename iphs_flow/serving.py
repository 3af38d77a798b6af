"""`iphs-flow serve`: gunicorn with threaded workers, guarded against slow clients.

Gunicorn's `gthread` worker hands a connection to a thread as soon as its first byte
arrives; the thread then reads the request head with a blocking socket. A client that
sends its headers one byte at a time (slowloris) holds that thread for as long as it
likes, and `workers x threads` such clients stop the service. `HeadFirstWorker` reads the
request head - and a body of up to 1 MB, which covers every form and JSON request - in
the worker's event loop instead (non-blocking, every connection costs a buffer, not a
thread) and gives the connection to a thread only once they are complete; a head not
complete within `IPHS_HEADER_TIMEOUT` seconds (a body: that plus a second per 64 kB) is
dropped. Larger bodies (attachment uploads) and chunked ones are read by the thread.
A worker holds at most `IPHS_WORKER_CONNECTIONS` connections; more wait in the backlog.

The scheduler runs in exactly one place: `serve` starts it as one child process
(`iphs-flow scheduler`) beside gunicorn's master, never inside the forked workers.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import selectors
import signal
import subprocess
import sys
import time
from functools import partial
from typing import Any

from gunicorn.app.base import BaseApplication
from gunicorn.workers.gthread import TConn, ThreadWorker

from iphs_flow.config import Settings

log = logging.getLogger(__name__)

HEAD_END = b"\r\n\r\n"
# A head larger than this goes to gunicorn's parser, which answers it with its own
# 400/431 (limit_request_line, limit_request_fields, limit_request_field_size).
HEAD_MAX_BYTES = 64 * 1024
# A body of up to this many bytes (every form and JSON request) is read in the event loop
# too; larger ones (attachment uploads) and chunked ones are read by the thread.
BODY_BUFFER_BYTES = 1024 * 1024
BODY_BYTES_PER_SECOND = 64 * 1024  # the slowest body upload allowed on top of the head's time
_LENGTH = re.compile(rb"\r\ncontent-length[ \t]*:[ \t]*(\d{1,12})[ \t]*(?=\r\n|$)")


def _expected_length(head: bytes) -> int | None:
    """The body length the event loop should wait for; None when a thread must read the body."""
    lowered = head.lower()
    if b"\r\ntransfer-encoding" in lowered:
        return None
    found = _LENGTH.findall(lowered)
    if len(found) != 1:
        return 0 if not found else None  # no body, or a request gunicorn's parser will refuse
    length = int(found[0])
    return length if length <= BODY_BUFFER_BYTES else None


class HeadFirstWorker(ThreadWorker):
    """gthread, except that a thread is only taken for a request whose head (and small body) has arrived."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.head_timeout = float(os.environ.get("IPHS_HEADER_TIMEOUT") or 10.0)
        self.reading: dict[TConn, float] = {}  # connection -> deadline for its head

    # -- new and kept-alive connections wait in the event loop until their head is here

    def accept(self, listener: Any) -> None:
        try:
            client_sock, client_addr = listener.accept()
        except OSError as err:
            if err.errno in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                return
            raise
        self.nr_conns += 1
        conn = TConn(self.cfg, client_sock, client_addr, listener.getsockname())  # non-blocking
        conn.iphs_head = bytearray()
        conn.iphs_body_deadline = False
        self.reading[conn] = time.monotonic() + self.head_timeout
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._on_head_bytes, conn))

    def on_client_socket_readable(self, conn: TConn, client: Any) -> None:
        """A kept-alive connection speaks again: its next head is read here too."""
        self.poller.unregister(client)
        self.keepalived_conns.remove(conn)
        conn.iphs_head = bytearray()
        conn.iphs_body_deadline = False
        self.reading[conn] = time.monotonic() + self.head_timeout
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._on_head_bytes, conn))

    def _on_head_bytes(self, conn: TConn, sock: Any) -> None:
        try:
            data = sock.recv(8192)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:  # the client went away
            self._drop(conn)
            return
        conn.iphs_head += data
        if self._complete(conn):
            self.poller.unregister(sock)
            del self.reading[conn]
            conn.data_ready = True
            self.enqueue_req(conn)

    def _complete(self, conn: TConn) -> bool:
        buffered = conn.iphs_head
        end = buffered.find(HEAD_END)
        if end < 0:
            return len(buffered) > HEAD_MAX_BYTES  # too long a head: the parser answers it
        head = bytes(buffered[:end])
        length = _expected_length(head)
        if length is None:
            return True
        if not getattr(conn, "iphs_body_deadline", False):
            conn.iphs_body_deadline = True
            self.reading[conn] = time.monotonic() + self.head_timeout + length / BODY_BYTES_PER_SECOND
            if length and b"\r\nexpect: 100-continue" in head.lower() and len(buffered) < end + 4 + length:
                with contextlib.suppress(OSError):  # the client waits for this before it sends the body
                    conn.sock.send(b"HTTP/1.1 100 Continue\r\n\r\n")
        return len(buffered) >= end + 4 + length

    def _drop(self, conn: TConn) -> None:
        with contextlib.suppress(KeyError, ValueError, OSError):
            self.poller.unregister(conn.sock)
        self.reading.pop(conn, None)
        self.nr_conns -= 1
        conn.close()

    def murder_pending(self) -> None:
        super().murder_pending()
        moment = time.monotonic()
        for conn in [c for c, deadline in self.reading.items() if deadline <= moment]:
            self._drop(conn)

    # -- in the thread: give the parser the bytes the event loop already read

    def handle(self, conn: TConn) -> Any:
        head = getattr(conn, "iphs_head", None)
        if head is not None:
            conn.iphs_head = None
            try:
                conn.sock.setblocking(True)
                conn.init()
                conn.parser.unreader.unread(bytes(head))
            except OSError:
                return False
        return super().handle(conn)


class GunicornServer(BaseApplication):
    """gunicorn run in this process; each worker builds its own app after the fork."""

    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            # gunicorn validates numbers as it parses its command line: give them as text.
            number = isinstance(value, int | float) and not isinstance(value, bool)
            self.cfg.set(key, str(int(value)) if number else value)

    def load(self) -> Any:
        from iphs_flow.app import create_app  # in each worker, after gunicorn forks it

        return create_app()


def gunicorn_options(settings: Settings, host: str, port: int) -> dict[str, Any]:
    return {
        "bind": f"{host}:{port}",
        "workers": settings.workers,
        "worker_class": "iphs_flow.serving.HeadFirstWorker",
        "threads": settings.threads,
        "worker_connections": settings.worker_connections,
        "timeout": settings.worker_timeout,
        "graceful_timeout": settings.graceful_timeout,
        "keepalive": settings.keepalive,
        "accesslog": "-",
        "errorlog": "-",
        "proc_name": "iphs-flow",
        "control_socket_disable": True,  # gunicornc's socket is one per home folder: two serves would share it
        # Addresses behind IPHS_PROXY_HOPS proxies are resolved by the app (ProxyFix), not here.
        "forwarded_allow_ips": "127.0.0.1,::1",
    }


def start_scheduler_process() -> subprocess.Popen[bytes]:
    """The one scheduler of this `serve`: a child process, stopped with it."""
    worker = f"serve-{os.uname().nodename}-{os.getpid()}"
    return subprocess.Popen([sys.executable, "-m", "iphs_flow", "scheduler", "--worker", worker])


def serve(settings: Settings, host: str | None = None, port: int | None = None, scheduler: bool = True) -> None:
    """Run gunicorn in the foreground until SIGTERM/SIGINT (the scheduler with it, when asked)."""
    os.environ.setdefault("IPHS_HEADER_TIMEOUT", str(settings.header_timeout))
    options = gunicorn_options(settings, host or settings.host, port or settings.port)
    child: subprocess.Popen[bytes] | None = None

    def when_ready(_arbiter: Any) -> None:
        nonlocal child
        if scheduler:
            child = start_scheduler_process()

    def on_exit(_arbiter: Any) -> None:
        if child is not None and child.poll() is None:
            child.send_signal(signal.SIGTERM)
            try:
                child.wait(timeout=settings.graceful_timeout)
            except subprocess.TimeoutExpired:
                child.kill()

    options["when_ready"] = when_ready
    options["on_exit"] = on_exit
    GunicornServer(options).run()
