"""Run engine steps and model code in worker processes with hard limits.

Scripts, conditions, timer expressions and DMN cells are untrusted code. The sandbox's
line tracer stops Python loops, but not a script that catches its own timeout, nor one
C call (`sum` of lists, `pow` with a huge modulus) that holds the GIL, nor memory. So
every engine step and every evaluation of model code runs in a worker process:

- RLIMIT_AS caps the worker's memory (an allocation beyond it is a MemoryError);
- RLIMIT_CPU is moved before each step to "CPU used so far + the step's allowance", so
  the kernel kills a worker that spins (SIGXCPU), whatever it catches;
- the parent waits at most the wall-clock limit for the answer, then kills the worker.

Workers are forked from a template that has the engine imported and warmed
(worker_template.py), and one warm spare that has already parsed the models in use waits
beside the pool: a worker that died is replaced by the spare at once (and a new spare is
started in the background). A worker that died is replaced; the step becomes an incident naming the element that was
running (the worker writes it to shared memory before each element) and the limit, and
the case keeps its state. Workers keep parsed specs by content hash: the parent sends a
model's files only to a worker that has not seen them.

The pool is shared by every thread of the process (gunicorn threads, the scheduler) and
by every AppContext with the same limits. `in_process=True` runs steps in the calling
process without any limit; it exists for the benchmark's comparison only.
"""

from __future__ import annotations

import atexit
import io
import math
import multiprocessing
import os
import queue
import resource
import signal
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing import context, forkserver, popen_forkserver, spawn, util
from typing import Any

from . import clock, isolation, runtime, sandbox
from .errors import EngineError, InvalidModel, ScriptError, StepKilled, TaskNotReady, UnsafeXML
from .models import ModelCache, ProcessModel, content_hash, parse_deployment

PROGRESS_BYTES = 512
SPEC_CACHE_SIZE = 64
SPARE_MODELS = 8  # the spare learns this many of the most recently used models
_REFUSALS: dict[str, type[EngineError]] = {
    "TaskNotReady": TaskNotReady, "ScriptError": ScriptError, "UnsafeXML": UnsafeXML,
}


@dataclass(frozen=True)
class Limits:
    """What one step may use."""

    cpu_seconds: int = 5
    memory_mb: int = 1024
    wall_seconds: float = 10.0


@dataclass(frozen=True)
class ModelRef:
    """A stored model by process key and files; the content hash names it in the workers."""

    key: str
    files: dict[str, str]
    digest: str

    @classmethod
    def of(cls, key: str, files: dict[str, str]) -> ModelRef:
        return cls(key, files, content_hash(files))


# ---------------------------------------------------------------- inside the worker


def _set_limits(limits: Limits) -> None:
    memory = limits.memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))


def _allow_cpu(seconds: int) -> None:
    used = resource.getrusage(resource.RUSAGE_SELF)
    spent = used.ru_utime + used.ru_stime
    _soft, hard = resource.getrlimit(resource.RLIMIT_CPU)
    resource.setrlimit(resource.RLIMIT_CPU, (math.ceil(spent) + seconds, hard))


def _model(cache: OrderedDict[tuple[str, str], ProcessModel], key: str, digest: str,
           files: dict[str, str] | None) -> ProcessModel | None:
    model = cache.get((key, digest))
    if model is not None:
        cache.move_to_end((key, digest))
        return model
    if files is None:
        return None
    models = parse_deployment({name: text.encode("utf-8") for name, text in files.items()})
    if key not in models:
        raise InvalidModel(f"the stored version holds no process '{key}'")
    cache[(key, digest)] = models[key]
    while len(cache) > SPEC_CACHE_SIZE:
        cache.popitem(last=False)
    return models[key]


def _refusal(err: BaseException) -> tuple[str, Any]:
    if isinstance(err, InvalidModel):
        return ("invalid", (err.message, err.file_name, err.element_id, err.line))
    return ("refused", (type(err).__name__, str(err)))


def _worker_main(conn: Any, limits: Limits, progress: Any) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the parent, which stops us
    sandbox.install_evaluator(None)  # inside the worker, model code runs right here
    _set_limits(limits)
    cache: OrderedDict[tuple[str, str], ProcessModel] = OrderedDict()

    def report(task: Any) -> None:
        progress.value = runtime.element_label(task).encode("utf-8", "replace")[:PROGRESS_BYTES - 1]

    runtime.report_progress_to(report)
    isolation.install(None)  # checks of model code run right here, under this worker's limits
    isolation.report_to(lambda label: setattr(progress, "value", label.encode("utf-8", "replace")[:PROGRESS_BYTES - 1]))
    while True:
        try:
            message = conn.recv()
        except EOFError:
            return
        kind, payload = message
        progress.value = b""
        try:
            _allow_cpu(limits.cpu_seconds)
            if kind == "step":
                clock_setting, key, digest, files, op, args = payload
                clock.restore(clock_setting)
                model = _model(cache, key, digest, files)
                if model is None:
                    conn.send(("miss", None))
                    continue
                if op in ("start", "start_by"):
                    answer: Any = getattr(runtime, op)(model, *args, on_initial=lambda s: conn.send(("initial", s)))
                else:
                    answer = getattr(runtime, op)(model, *args)
            elif kind == "prime":  # a spare learns a model before it is needed
                key, digest, files = payload
                _model(cache, key, digest, files)
                answer = None
            elif kind == "call":
                clock_setting, func, args = payload
                clock.restore(clock_setting)
                answer = func(*args)
            else:
                raise ScriptError(f"unknown request {kind!r}")
            conn.send(("ok", answer.as_text() if isinstance(answer, runtime.StepResult) else answer))
        except (TaskNotReady, ScriptError, UnsafeXML, InvalidModel) as err:
            conn.send(_refusal(err))
        except MemoryError:
            conn.send(("memory", None))
            return  # the heap may be in pieces: let the parent start a fresh worker
        except (Exception, SystemExit) as err:  # noqa: BLE001 - reported, the worker lives on
            conn.send(("failed", f"{type(err).__name__}: {err}"))


# ---------------------------------------------------------------- the parent's side


class _WorkerPopen(popen_forkserver.Popen):
    """The forkserver's launch, except that the worker does not import the parent's `__main__`.

    multiprocessing hands every child the parent's main module to import again (as
    `__mp_main__`), so that functions defined there can be unpickled. An engine worker
    only ever runs functions of this package; under gunicorn, `iphs-flow` or a benchmark
    the main module pulls in the whole web app, which made starting a worker (and so
    replacing a killed one) take about a second. The forkserver already holds this module
    and the engine imported (set_forkserver_preload), so a worker is ready at once.
    """

    def _launch(self, process_obj: Any) -> None:
        prep_data = {key: value for key, value in spawn.get_preparation_data(process_obj._name).items()
                     if key not in ("init_main_from_name", "init_main_from_path")}
        buf = io.BytesIO()
        context.set_spawning_popen(self)
        try:
            context.reduction.dump(prep_data, buf)
            context.reduction.dump(process_obj, buf)
        finally:
            context.set_spawning_popen(None)
        self.sentinel, w = forkserver.connect_to_new_process(self._fds)
        parent_w = os.dup(w)  # as in popen_forkserver: the child's sentinel of its parent
        self.finalizer = util.Finalize(self, util.close_fds, (parent_w, self.sentinel))
        with open(w, "wb", closefd=True) as f:
            f.write(buf.getbuffer())
        self.pid = forkserver.read_signed(self.sentinel)


class _WorkerProcess(context.ForkServerProcess):
    @staticmethod
    def _Popen(process_obj: Any) -> _WorkerPopen:
        return _WorkerPopen(process_obj)


class _Worker:
    def __init__(self, mp: Any, limits: Limits) -> None:
        self.progress = mp.Array("c", PROGRESS_BYTES, lock=False)
        self.conn, child = mp.Pipe()
        self.process = _WorkerProcess(target=_worker_main, args=(child, limits, self.progress),
                                      name="iphs-engine-worker", daemon=True)
        self.process.start()
        child.close()
        self.known: set[tuple[str, str]] = set()

    def alive(self) -> bool:
        return self.process.is_alive()

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(5)
        self.conn.close()

    def element(self) -> str:
        try:
            return bytes(self.progress.value).decode("utf-8", "replace")
        except (ValueError, OSError):
            return ""


class EngineWorkers:
    """A pool of engine worker processes (see the module docstring)."""

    def __init__(self, size: int = 2, limits: Limits | None = None, in_process: bool = False) -> None:
        self.size = max(1, size)
        self.limits = limits or Limits()
        self.in_process = in_process
        self._models = ModelCache()
        self._idle: queue.LifoQueue[_Worker] = queue.LifoQueue()
        self._started = 0
        self._lock = threading.Lock()
        self._closed = False
        self.replaced = 0
        # A warm spare (see _keep_spare): started beside the pool, taught the models in use,
        # and put in the place of a worker that died, so nobody waits for a fresh one.
        self._spare: _Worker | None = None
        self._spare_lock = threading.Lock()
        self._spare_wanted = threading.Event()
        self._keeper: threading.Thread | None = None
        self._recent: OrderedDict[tuple[str, str], ModelRef] = OrderedDict()
        self._mp = multiprocessing.get_context("forkserver")
        self._mp.set_forkserver_preload(["iphs_flow.engine.worker_template"])
        if not in_process:
            sandbox.install_evaluator(self.evaluate)
            isolation.offer(self)

    def evaluate(self, expression: str) -> Any:
        """Evaluate an expression without task data (a deploy check) in a worker."""
        return self.call(sandbox.evaluate_here, expression)

    # ------------------------------------------------------------ engine steps

    def start(self, ref: ModelRef, data: dict[str, Any], time_limit: float) -> runtime.StepResult:
        return self._step(ref, "start", (data, time_limit), state=None)

    def complete(self, ref: ModelRef, state: runtime.State, task_id: str, data: dict[str, Any],
                 time_limit: float, clear: frozenset[str] = frozenset()) -> runtime.StepResult:
        return self._step(ref, "complete", (state, task_id, data, time_limit, clear), state=state)

    def fire_timers(self, ref: ModelRef, state: runtime.State, time_limit: float) -> runtime.StepResult:
        return self._step(ref, "fire_timers", (state, time_limit), state=state)

    def retry(self, ref: ModelRef, state: runtime.State, time_limit: float) -> runtime.StepResult:
        return self._step(ref, "retry", (state, time_limit), state=state)

    def deliver(self, ref: ModelRef, state: runtime.State, kind: str, name: str, payload: dict[str, Any],
                time_limit: float) -> runtime.StepResult:
        return self._step(ref, "deliver", (state, kind, name, payload, time_limit), state=state)

    def start_by(self, ref: ModelRef, kind: str, name: str, payload: dict[str, Any],
                 time_limit: float) -> runtime.StepResult:
        return self._step(ref, "start_by", (kind, name, payload, time_limit), state=None)

    def inspect(self, ref: ModelRef, state: runtime.State) -> runtime.StepResult:
        return self._step(ref, "inspect", (state,), state=state)

    def call(self, func: Callable[..., Any], *args: Any) -> Any:
        """Run `func(*args)` (a module-level function evaluating model code) in a worker.

        Raises StepKilled when it goes over a limit; refusals (ScriptError, InvalidModel,
        UnsafeXML) are raised as themselves.
        """
        if self.in_process:
            return func(*args)
        answer, _, worker_failure = self._round_trip(("call", (clock.snapshot(), func, args)), None)
        if worker_failure is not None:
            raise StepKilled(worker_failure)
        return answer

    # ------------------------------------------------------------ machinery

    def _step(self, ref: ModelRef, op: str, args: tuple[Any, ...],
              state: runtime.State | None) -> runtime.StepResult:
        if self.in_process:
            model = self._models.get(ref.key, ref.files)
            return getattr(runtime, op)(model, *args)
        answer, initial, failure = self._round_trip(
            ("step", (clock.snapshot(), ref.key, ref.digest, None, op, args)), ref)
        if failure is not None:
            if op == "inspect":
                raise StepKilled(failure)
            kept = state if state is not None else (initial or {})
            data = args[0] if op == "start" else (args[2] if op == "start_by" else None)
            return runtime.failed_step(kept, failure, data)
        return answer

    def _round_trip(self, message: tuple[str, Any], ref: ModelRef | None) -> tuple[Any, Any, str | None]:
        """(answer, initial state of a start, failure message when the worker had to die)."""
        worker = self._take()
        healthy = False
        try:
            if ref is not None and (ref.key, ref.digest) not in worker.known:
                message = _with_files(message, ref)
            worker.conn.send(message)
            initial = None
            deadline = time.monotonic() + self.limits.wall_seconds
            while True:
                left = deadline - time.monotonic()
                if left <= 0 or not worker.conn.poll(left):
                    return None, initial, self._killed(worker, f"it ran longer than the wall-clock limit of "
                                                               f"{self.limits.wall_seconds:g} s")
                try:
                    kind, payload = worker.conn.recv()
                except (EOFError, OSError):
                    return None, initial, self._died(worker)
                if kind == "initial":
                    initial = payload
                    continue
                if kind == "miss" and ref is not None:
                    worker.known.discard((ref.key, ref.digest))
                    worker.conn.send(_with_files(message, ref))
                    continue
                break
            if ref is not None:
                worker.known.add((ref.key, ref.digest))
                self._note_model(ref)
            if kind == "memory":
                return None, initial, self._died(worker, memory=True)
            healthy = True
            if kind == "ok":
                return payload, initial, None
            if kind == "invalid":
                message_text, file_name, element_id, line = payload
                raise InvalidModel(message_text, file_name=file_name, element_id=element_id, line=line)
            if kind == "refused":
                name, text = payload
                raise _REFUSALS.get(name, ScriptError)(text)
            return None, initial, f"the engine failed: {payload}"
        finally:
            self._give_back(worker, healthy)

    def _killed(self, worker: _Worker, why: str) -> str:
        element = worker.element()
        worker.kill()
        return _limit_message(element, why)

    def _died(self, worker: _Worker, memory: bool = False) -> str:
        element = worker.element()
        worker.process.join(5)
        code = worker.process.exitcode
        worker.kill()
        if memory or code == -signal.SIGKILL:
            why = f"it needed more memory than the limit of {self.limits.memory_mb} MB"
        elif code == -signal.SIGXCPU:
            why = f"it used more CPU time than the limit of {self.limits.cpu_seconds} s"
        else:
            why = f"its worker process stopped (exit code {code})"
        return _limit_message(element, why)

    def _take(self) -> _Worker:
        with self._lock:
            if self._closed:
                raise EngineError("the engine workers are shut down")
            if self._idle.empty() and self._started < self.size:
                self._started += 1
                try:
                    return _Worker(self._mp, self.limits)
                except BaseException:
                    self._started -= 1
                    raise
                finally:
                    self._start_keeper()
        worker = self._idle.get()
        if not worker.alive():
            worker.kill()
            with self._lock:
                self.replaced += 1
            return self._claim_spare() or _Worker(self._mp, self.limits)
        return worker

    def _give_back(self, worker: _Worker, healthy: bool) -> None:
        if not healthy or not worker.alive():
            worker.kill()
            with self._lock:
                self._started -= 1
                if self._closed:
                    return
                self.replaced += 1
            spare = self._claim_spare()
            if spare is not None:
                with self._lock:
                    self._started += 1
                self._idle.put(spare)
                return
            # Replace it now, in the background: the request that hit the limit answers at once.
            threading.Thread(target=self._add_worker, name="iphs-engine-replace", daemon=True).start()
            return
        self._idle.put(worker)

    def _add_worker(self) -> None:
        with self._lock:
            if self._closed or self._started >= self.size:
                return
            self._started += 1
        try:
            worker = _Worker(self._mp, self.limits)
        except BaseException:
            with self._lock:
                self._started -= 1
            raise
        self._idle.put(worker)

    # ------------------------------------------------------------ the warm spare

    def _start_keeper(self) -> None:
        """Start the thread that keeps a spare ready (called with self._lock held)."""
        if self._keeper is None and not self._closed:
            self._keeper = threading.Thread(target=self._keep_spare, name="iphs-engine-spare", daemon=True)
            self._keeper.start()
            self._spare_wanted.set()

    def _note_model(self, ref: ModelRef) -> None:
        """Remember the models in use, so the spare can learn them before it is needed."""
        with self._lock:
            new = (ref.key, ref.digest) not in self._recent
            self._recent[(ref.key, ref.digest)] = ref
            self._recent.move_to_end((ref.key, ref.digest))
            while len(self._recent) > SPARE_MODELS:
                self._recent.popitem(last=False)
        if new:
            self._spare_wanted.set()

    def _claim_spare(self) -> _Worker | None:
        """The spare, if one is ready (it then belongs to the caller, and a new one is started)."""
        if not self._spare_lock.acquire(timeout=self.limits.wall_seconds):
            return None
        try:
            spare, self._spare = self._spare, None
        finally:
            self._spare_lock.release()
        self._spare_wanted.set()
        if spare is not None and not spare.alive():
            spare.kill()
            return None
        return spare

    def _keep_spare(self) -> None:
        """Keep one started worker aside that knows the recently used models."""
        while True:
            self._spare_wanted.wait()
            self._spare_wanted.clear()
            with self._lock:
                if self._closed:
                    return
                models = list(self._recent.values())
            with self._spare_lock:
                try:
                    if self._spare is not None and not self._spare.alive():
                        self._spare.kill()
                        self._spare = None
                    if self._spare is None:
                        self._spare = _Worker(self._mp, self.limits)
                    for ref in models:
                        if (ref.key, ref.digest) in self._spare.known:
                            continue
                        self._spare.conn.send(("prime", (ref.key, ref.digest, ref.files)))
                        if not self._spare.conn.poll(self.limits.wall_seconds):
                            raise OSError("the spare did not learn the model in time")
                        kind, _payload = self._spare.conn.recv()
                        if kind == "ok":
                            self._spare.known.add((ref.key, ref.digest))
                except (OSError, EOFError, EngineError):
                    if self._spare is not None:
                        self._spare.kill()
                        self._spare = None
                    time.sleep(1.0)  # and try again: a spare is an optimisation, never a requirement
                    self._spare_wanted.set()
                with self._lock:
                    closed = self._closed
                if closed and self._spare is not None:
                    self._spare.kill()
                    self._spare = None
                    return

    def warm_up(self) -> None:
        """Start every worker now (a server does this before its first request)."""
        taken = [self._take() for _ in range(self.size)]
        for worker in taken:
            self._give_back(worker, True)

    def close(self) -> None:
        with self._lock:
            self._closed = True
        self._spare_wanted.set()
        spare = self._claim_spare()
        if spare is not None:
            spare.kill()
        isolation.uninstall(self.call)
        while True:
            try:
                worker = self._idle.get_nowait()
            except queue.Empty:
                break
            worker.kill()


def _with_files(message: tuple[str, Any], ref: ModelRef) -> tuple[str, Any]:
    kind, (clock_setting, key, digest, _files, op, args) = message
    return kind, (clock_setting, key, digest, ref.files, op, args)


def _limit_message(element: str, why: str) -> str:
    where = f" in {element}" if element else ""
    return f"the step was stopped{where}: {why}"


# ---------------------------------------------------------------- one pool per process and limits


_pools: dict[tuple[int, Limits, bool], EngineWorkers] = {}
_pools_lock = threading.Lock()


def shared_pool(size: int, limits: Limits, in_process: bool = False) -> EngineWorkers:
    """The process's pool for these limits (every AppContext with the same settings shares it)."""
    key = (size, limits, in_process)
    with _pools_lock:
        pool = _pools.get(key)
        if pool is None or pool._closed:
            pool = _pools[key] = EngineWorkers(size, limits, in_process)
        elif not in_process:  # the newest context's pool runs its checks and constant timers
            isolation.offer(pool)
            sandbox.install_evaluator(pool.evaluate)
        return pool


@atexit.register
def _close_pools() -> None:
    for pool in list(_pools.values()):
        pool.close()


__all__ = ["EngineWorkers", "Limits", "ModelRef", "StepKilled", "shared_pool"]
