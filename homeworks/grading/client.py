"""The judge's handle on the untrusted worker: start it (sandboxed), send requests, enforce limits.

The judge never imports the submission. :class:`Worker` starts ``grading_worker`` in the
sandbox (:mod:`grading.sandbox`) lazily, on the first :meth:`Worker.call`, and speaks the line
protocol of :mod:`grading_worker.codec` over the worker's stdin/stdout. Each call has its own
wall-clock limit, measured here, outside the sandbox. A timeout, a crash or a protocol error
kills the whole sandbox and raises :class:`WorkerError`; the next call starts a fresh worker
(which imports the submission again), up to :data:`MAX_STARTS` starts per grading.
"""

from __future__ import annotations

import fcntl
import os
import selectors
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from grading_worker.codec import MAX_MESSAGE_BYTES, ProtocolError, check_response, decode, encode

from grading.sandbox import (
    GRADER_MOUNT,
    SUBMISSION_MOUNT,
    Isolation,
    Limits,
    Sandbox,
    start_unsandboxed,
)

#: Seconds for starting Python in the sandbox and importing torch and the ops module (before
#: the student's import, which gets the homework's per-test limit, at least MIN_IMPORT_S).
STARTUP_ALLOWANCE_S = 60.0
#: Least seconds the student's module gets for its import (else the per-test limit).
MIN_IMPORT_S = 10.0
#: Most worker starts per grading: after that many crashes/timeouts the remaining calls fail
#: at once (a submission that kills its worker in every test must not cost minutes per test).
MAX_STARTS = 6
#: Seconds between checks whether the worker process is still alive while waiting for it.
POLL_S = 0.05
#: Capacity asked for the protocol pipes, in bytes (Linux caps it at /proc/sys/fs/pipe-max-size).
PIPE_BYTES = 1 << 20
#: Bytes of the worker's stderr kept (the rest is dropped).
STDERR_LIMIT = 64 * 1024

_WORKER_BOOT = (
    "import sys; sys.path.insert(0, sys.argv[1]); del sys.argv[1]; "
    "from grading_worker.__main__ import main; sys.exit(main(sys.argv[1:]))"
)


class WorkerError(AssertionError):
    """A request to the worker failed; ``str()`` is a one-line Russian message for the report.

    ``kind`` is ``"timeout"``, ``"crash"``, ``"protocol"``, ``"exception"`` (the student's code
    raised; the worker stays alive) or ``"import"`` (the submission cannot be imported).
    """

    def __init__(self, kind: str, message: str) -> None:
        self.kind = kind
        self.message = " ".join(message.split())
        super().__init__(self.message)


def _signal_name(code: int) -> str:
    try:
        return signal.Signals(code).name
    except ValueError:
        return f"сигнал {code}"


class Worker:
    """One grading's worker process (restarted after a kill). See the module docstring.

    ``copy`` is the folder with the submission's listed files (readable by the sandbox user),
    ``worker_lib`` the folder holding the ``grading_worker`` package; ``isolation`` the level
    chosen by the runner. ``timeout`` is the default per-call limit in seconds.
    """

    def __init__(self, *, module: str, ops: str, copy: Path, worker_lib: Path, stage: Path,
                 isolation: Isolation, limits: Limits, timeout: float, cgroup_prefix: str | None = None) -> None:
        self.module = module
        self.ops = ops
        self.copy = copy
        self.worker_lib = worker_lib
        self.stage = stage
        self.isolation = isolation
        self.limits = limits
        self.timeout = timeout
        self.cgroup_prefix = cgroup_prefix
        self.starts = 0
        self._sandbox: Sandbox | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._buffer = bytearray()
        self._next_id = 1
        self._import_error: str | None = None
        self._stderr = bytearray()
        self._stderr_thread: threading.Thread | None = None
        self._given_up: str | None = None
        self._ready = False

    # -- public ----------------------------------------------------------------------------
    @property
    def import_error(self) -> str | None:
        """Russian one-line reason when the submission cannot be imported (starts the worker)."""
        if not self._ready and self._import_error is None and self._given_up is None:
            try:
                self._start() if self._process is None else self._handshake()
            except WorkerError:
                pass
        return self._import_error

    @property
    def stderr(self) -> str:
        """What the worker (and the student's ``print``) wrote, at most :data:`STDERR_LIMIT` bytes."""
        return bytes(self._stderr).decode("utf-8", "replace")

    def call(self, op: str, *, timeout: float | None = None, **params: Any) -> Any:
        """Send one request and return the decoded result (see grader-api.md, section D).

        Raises :class:`WorkerError` (an ``AssertionError``) with a Russian one-line message.
        """
        limit = self.timeout if timeout is None else float(timeout)
        if self._process is None:
            self._start()
        elif not self._ready:
            self._handshake()
        assert self._process is not None
        request_id = self._next_id
        self._next_id += 1
        try:
            data = encode({"id": request_id, "op": op, "params": params})
        except ProtocolError as exc:  # a judge bug: parameters outside the format
            raise TypeError(f"cannot send parameters of {op!r}: {exc}") from None
        deadline = time.monotonic() + limit
        self._write(data, deadline, limit)
        message = self._receive(request_id, max(0.0, deadline - time.monotonic()), shown_limit=limit)
        if message["ok"]:
            return message["result"]
        error = message["error"]
        raise WorkerError("exception", f"{error['type']}: {error['message']}".rstrip(": "))

    def sandbox_pids(self) -> set[int]:
        """Process ids (as seen from outside) of everything running in the worker's sandbox now."""
        return self._sandbox.pids() if self._sandbox is not None else set()

    def close(self) -> None:
        """Kill the worker and everything it started; the next call starts a fresh one."""
        if self._sandbox is not None:
            self._sandbox.close()
            self._sandbox = None
        elif self._process is not None:
            try:
                os.killpg(self._process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            self._process.wait()
            for stream in (self._process.stdin, self._process.stdout, self._process.stderr):
                if stream is not None:
                    stream.close()
        if self._stderr_thread is not None:
            self._stderr_thread.join(timeout=5)
            self._stderr_thread = None
        self._process = None
        self._ready = False
        self._buffer = bytearray()

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals -------------------------------------------------------------------------
    def _command(self, python: str, lib: str) -> list[str]:
        return [python, "-I", "-c", _WORKER_BOOT, lib, "--module", self.module, "--ops", self.ops]

    def _env(self, home: str) -> dict[str, str]:
        return {
            "HOME": home, "TMPDIR": home, "MPLCONFIGDIR": home, "PATH": "/usr/bin:/bin",
            "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONHASHSEED": "0",
            "PYTHONIOENCODING": "utf-8", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
            "OPENBLAS_NUM_THREADS": "1", "MPLBACKEND": "Agg",
        }

    def prestart(self) -> None:
        """Start the worker now without waiting for it (its Python and torch then load while the
        judge collects its tests); errors surface on the first :meth:`call`."""
        if self._process is None and self._import_error is None and self._given_up is None:
            try:
                self._spawn()
            except (OSError, WorkerError):
                self.close()

    def _start(self) -> None:
        self._spawn()
        self._handshake()

    def _spawn(self) -> None:
        if self._import_error is not None:
            raise WorkerError("import", self._import_error)
        if self._given_up is not None:
            raise WorkerError("crash", self._given_up)
        if self.starts >= MAX_STARTS:
            self._given_up = (f"процесс решения завершался аварийно {MAX_STARTS} раз; "
                              "остальные проверки не запускаются")
            raise WorkerError("crash", self._given_up)
        self.starts += 1
        from grading.sandbox import python_executable

        if self.isolation.level == "namespaces":
            self._sandbox = Sandbox(self.limits, self.copy, self.worker_lib, stage=self.stage / f"s{self.starts}",
                                    prefix=self.cgroup_prefix)
            self._process = self._sandbox.start(self._command(python_executable(), GRADER_MOUNT),
                                                env=self._env("/tmp"))
        else:
            home = self.stage / f"home{self.starts}"
            home.mkdir()
            self._process = start_unsandboxed(self._command(python_executable(), str(self.worker_lib)),
                                              cwd=self.copy, env=self._env(str(home)), limits=self.limits)
        self._buffer = bytearray()
        for stream in (self._process.stdin, self._process.stdout):
            try:  # fewer round trips for large tensors (the default pipe holds 64 KiB)
                fcntl.fcntl(stream.fileno(), getattr(fcntl, "F_SETPIPE_SZ", 1031), PIPE_BYTES)
            except (OSError, AttributeError):
                pass
        self._stderr_thread = threading.Thread(target=self._drain_stderr, args=(self._process,), daemon=True)
        self._stderr_thread.start()
        self._ready = False

    def _handshake(self) -> None:
        ready = self._receive(-1, STARTUP_ALLOWANCE_S, phase="boot")
        if ready != {"id": -1, "ok": True, "result": {"ready": self.ops}}:
            self._phase = "boot"
            self._fail("protocol", "процесс решения прислал неожиданный ответ при запуске")
        message = self._receive(0, max(self.timeout, MIN_IMPORT_S), phase="import")
        if not message["ok"]:
            error = message["error"]
            self._import_error = (f"не удалось импортировать {self.module}.py: "
                                  f"{error['type']}: {error['message']}").rstrip(": ")
            self.close()
            raise WorkerError("import", self._import_error)
        if message["result"] != {"import": "ok"}:
            self._phase = "import"
            self._fail("protocol", "процесс решения прислал неожиданный ответ при запуске")
        self._ready = True

    def _drain_stderr(self, process: subprocess.Popen[bytes]) -> None:
        stream = process.stderr
        if stream is None:
            return
        try:
            while chunk := stream.read1(65536) if hasattr(stream, "read1") else stream.read(65536):
                room = STDERR_LIMIT - len(self._stderr)
                if room > 0:
                    self._stderr += chunk[:room]
        except (OSError, ValueError):
            pass

    def _death_message(self) -> str:
        process = self._process
        code = None
        if process is not None:
            try:
                code = process.wait(timeout=2)
            except subprocess.TimeoutExpired:
                code = None
        memory = self._sandbox is not None and self._sandbox.memory_exceeded()
        if memory:
            return f"процесс решения превысил лимит памяти ({self.limits.memory_bytes // 2**20} МиБ) и был завершён"
        if code is None:
            return "процесс решения перестал отвечать"
        if code < 0 or code > 128:
            signum = -code if code < 0 else code - 128
            return f"процесс решения завершился по сигналу {_signal_name(signum)}"
        return f"процесс решения завершился с кодом {code}"

    def _fail(self, kind: str, message: str) -> None:
        if kind == "crash":
            message = self._death_message() if not message else message
        phase = self._phase
        self.close()
        if phase == "boot":  # before the student's code ran: the grader or the sandbox is broken
            lines = [line for line in self.stderr.strip().splitlines() if line.strip()]
            detail = lines[-1].strip() if lines else message
            self._given_up = f"не удалось запустить процесс решения (ошибка проверяющей системы): {detail}"
            raise WorkerError(kind, self._given_up)
        if phase == "import" and self._import_error is None:
            self._import_error = f"не удалось импортировать {self.module}.py: {message}"
            raise WorkerError("import", self._import_error)
        raise WorkerError(kind, message)

    _phase: str | None = None

    def _write(self, data: bytes, deadline: float, limit: float) -> None:
        """Send a request before ``deadline``; a worker that stops reading times out like a hang."""
        process = self._process
        assert process is not None and process.stdin is not None
        fd = process.stdin.fileno()
        os.set_blocking(fd, False)
        view = memoryview(data)
        with selectors.DefaultSelector() as selector:
            selector.register(fd, selectors.EVENT_WRITE)
            while view:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    self._fail("timeout", f"превышено время ожидания ответа решения: {limit:g} с")
                if not selector.select(min(remaining, POLL_S)):
                    if process.poll() is not None:
                        self._fail("crash", "")
                    continue
                try:
                    view = view[os.write(fd, view):]
                except BlockingIOError:
                    continue
                except OSError:  # EPIPE: the worker is gone
                    self._fail("crash", "")

    def _receive(self, request_id: int, limit: float, phase: str | None = None,
                 shown_limit: float | None = None) -> dict[str, Any]:
        """Read one response line within ``limit`` seconds and validate it."""
        self._phase = phase
        try:
            line = self._read_line(limit, limit if shown_limit is None else shown_limit)
            try:
                return check_response(decode(line), request_id)
            except ProtocolError as exc:
                self._fail("protocol", f"процесс решения нарушил протокол обмена: {exc}")
                raise AssertionError("unreachable") from None
        finally:
            self._phase = None

    def _read_line(self, limit: float, shown_limit: float) -> bytes:
        """The next response line, within ``limit`` seconds.

        End of output is not a reliable sign of death (children the student forked may hold the
        pipe), so the started process is polled too: when it has ended, what is already in the
        pipe is read and, without a complete line, the call fails as a crash.
        """
        process = self._process
        assert process is not None and process.stdout is not None
        fd = process.stdout.fileno()
        deadline = time.monotonic() + limit
        with selectors.DefaultSelector() as selector:
            selector.register(fd, selectors.EVENT_READ)
            complete = b"\n" in self._buffer
            while not complete:
                if len(self._buffer) > MAX_MESSAGE_BYTES:
                    self._fail("protocol", "процесс решения прислал слишком длинный ответ")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    what = "ответа решения" if self._phase is None else "запуска решения"
                    self._fail("timeout", f"превышено время ожидания {what}: {shown_limit:g} с")
                ended = process.poll() is not None
                if not selector.select(0 if ended else min(remaining, POLL_S)):
                    if ended:
                        self._fail("crash", "")
                    continue
                chunk = os.read(fd, 1 << 20)
                if not chunk:
                    self._fail("crash", "")
                self._buffer += chunk
                complete = b"\n" in chunk  # scan only what is new: a long line stays linear
        end = self._buffer.index(b"\n")
        line = bytes(self._buffer[:end])
        del self._buffer[: end + 1]
        return line


def prepare_worker_lib(target: Path) -> Path:
    """Copy the ``grading_worker`` package (sources only) into ``target``; return ``target``.

    Only this copy is shown to the worker (never the repository's ``homeworks/`` folder, which
    holds reference solutions and hidden tests).
    """
    source = Path(__file__).resolve().parent.parent / "grading_worker"
    package = target / "grading_worker"
    package.mkdir(parents=True)
    for path in sorted(source.glob("*.py")):
        shutil.copyfile(path, package / path.name)
        (package / path.name).chmod(0o444)
    package.chmod(0o555)
    target.chmod(0o555)
    return target


__all__ = ["SUBMISSION_MOUNT", "Worker", "WorkerError", "prepare_worker_lib"]
