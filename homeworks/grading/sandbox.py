"""The OS sandbox of the grading worker: bubblewrap + an unprivileged user + cgroups + rlimits.

Isolation levels (:func:`detect_isolation`):

``"namespaces"``
    The judge runs as root on Linux with ``bwrap`` (bubblewrap), ``setpriv``, ``unshare``,
    ``prlimit`` (util-linux) and writable ``memory`` and ``pids`` cgroups (v1 controllers under
    ``/sys/fs/cgroup/<controller>``, or the v2 unified hierarchy where
    ``/sys/fs/cgroup/cgroup.controllers`` exists). The worker is started by this chain::

        unshare --mount --propagation private   # private mount namespace, still root
          sh -c '...'                            # joins the fresh cgroups, bind-mounts the Python
                                                 # installation onto world-readable mount points
          prlimit --fsize --cpu --core=0         # per-process limits
          setpriv --reuid 65534 --regid 65534 --clear-groups   # the unprivileged user "nobody"
          bwrap --unshare-all --die-with-parent --new-session --clearenv --cap-drop ALL ...
          python -I -c <start grading_worker>    # the worker (see grading_worker.__main__)

    Inside, only these are visible: ``/usr`` (system libraries), the Python installation and
    the virtual environment (read-only, at their own paths), the worker package at ``/grader``
    (read-only), the submission copy at ``/submission`` (read-only, the working directory),
    ``/dev``, ``/proc`` of the new PID namespace, and a size-limited tmpfs ``/tmp`` (HOME,
    TMPDIR, MPLCONFIGDIR). No network (empty network namespace), no other process, no
    repository, no reference solution, no hidden test, no judge file. Memory (RAM + swap) and
    the number of tasks are limited for the whole process tree by the cgroup; file size, CPU
    time and core dumps by rlimits; wall-clock time by the judge from outside. :meth:`kill`
    kills every process of the cgroup (the PID namespace dies with its first process anyway)
    and removes the cgroups.

``"none"``
    A plain subprocess (own session, rlimits on file size, CPU and core dumps, no memory limit)
    in a temporary folder. Used only when the above is unavailable (e.g. a student's laptop
    without root) and the caller allowed it; it protects against accidents, not attacks.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from functools import cache
from pathlib import Path

#: Unprivileged user/group the worker runs as (``nobody``/``nogroup`` on Debian).
SANDBOX_UID = 65534
SANDBOX_GID = 65534
#: Where the worker package, the submission and the temp folder appear inside the sandbox.
GRADER_MOUNT = "/grader"
SUBMISSION_MOUNT = "/submission"
CGROUP_ROOT = Path("/sys/fs/cgroup")
#: Name prefix of the sandboxes' cgroups (a grading adds its own token after it).
CGROUP_PREFIX = "grading"


@dataclass(frozen=True)
class Limits:
    """Resource limits of one worker (its whole process tree where cgroups are used)."""

    memory_bytes: int = 3 * 2**30  #: RAM + swap of the whole tree (cgroup)
    pids: int = 128  #: processes + threads of the whole tree (cgroup)
    file_bytes: int = 256 * 2**20  #: largest file it may write (RLIMIT_FSIZE)
    cpu_s: int = 3600  #: CPU seconds per process (RLIMIT_CPU)
    tmp_bytes: int = 256 * 2**20  #: size of the private /tmp (tmpfs)


@dataclass(frozen=True)
class Isolation:
    """Which isolation grading gets here, and why not more (``reason`` is one line)."""

    level: str  # "namespaces" | "none"
    reason: str = ""


def traversable_tmpdir() -> str:
    """A temporary folder whose every ancestor the sandbox user may traverse (for the staging
    folders that bubblewrap, running as that user, binds from): ``$TMPDIR`` if so, else ``/tmp``."""
    candidate = Path(tempfile.gettempdir()).resolve()
    for folder in (candidate, *candidate.parents):
        try:
            if not folder.stat().st_mode & 0o001:
                return "/tmp"
        except OSError:
            return "/tmp"
    return str(candidate)


def _cgroup_version() -> int | None:
    """2 for the unified hierarchy, 1 for v1 memory+pids controllers, None otherwise."""
    if (CGROUP_ROOT / "cgroup.controllers").is_file():
        controllers = (CGROUP_ROOT / "cgroup.controllers").read_text().split()
        return 2 if {"memory", "pids"} <= set(controllers) else None
    if (CGROUP_ROOT / "memory" / "cgroup.procs").is_file() and (CGROUP_ROOT / "pids" / "cgroup.procs").is_file():
        return 1
    return None


def _own_cgroup(controller: str) -> str:
    """This process's cgroup path for ``controller`` (v1) or the unified one (``""`` -> v2)."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return "/"
    for line in lines:
        _, names, path = line.split(":", 2)
        if (controller and controller in names.split(",")) or (not controller and names == ""):
            return path
    return "/"


@cache
def detect_isolation() -> Isolation:
    """Find out (once per process) whether the worker can run in the namespace sandbox.

    Runs a tiny probe through the whole chain (``/bin/true`` in the sandbox, in a cgroup).
    """
    if not sys.platform.startswith("linux"):
        return Isolation("none", f"the sandbox needs Linux (this is {sys.platform})")
    missing = [tool for tool in ("bwrap", "setpriv", "unshare", "prlimit", "mount") if shutil.which(tool) is None]
    if missing:
        hint = " (apt-get install bubblewrap, or make install-sandbox)" if "bwrap" in missing else ""
        return Isolation("none", f"missing {', '.join(missing)}{hint}")
    if os.geteuid() != 0:
        return Isolation("none", "the sandbox needs root (cgroups, user switch); running as an ordinary user")
    if _cgroup_version() is None:
        return Isolation("none", "no writable memory and pids cgroups under /sys/fs/cgroup")
    try:
        sandbox = Sandbox(Limits(memory_bytes=256 * 2**20, pids=16), submission=None, worker_lib=None)
        try:
            process = sandbox.start(["/bin/true"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.PIPE)
            _, err = process.communicate(timeout=30)
            code = process.returncode
        finally:
            sandbox.close()
    except (OSError, subprocess.SubprocessError) as exc:
        return Isolation("none", f"the sandbox probe failed: {exc}")
    if code != 0:
        first = (err or b"").decode("utf-8", "replace").strip().splitlines()
        return Isolation("none", f"the sandbox probe failed: {first[-1] if first else f'exit {code}'}")
    return Isolation("namespaces")


def _python_paths() -> list[tuple[Path, Path]]:
    """(source, destination) folders the worker's Python needs: the base installation and the
    virtual environment, each at the path the interpreter knows it by and at its real path."""
    pairs: dict[Path, Path] = {}
    for prefix in (sys.base_prefix, sys.prefix, os.path.dirname(os.path.dirname(sys.executable))):
        real = Path(prefix).resolve()
        for destination in (Path(os.path.abspath(prefix)), real):
            pairs.setdefault(destination, real)
    # Drop destinations inside another one that is bound from the matching source anyway.
    kept: dict[Path, Path] = {}
    for destination in sorted(pairs, key=lambda p: len(p.parts)):
        if not any(destination.is_relative_to(d) for d in kept):
            kept[destination] = pairs[destination]
    return [(source, destination) for destination, source in kept.items()]


def python_executable() -> str:
    """The interpreter the worker runs (the judge's own, i.e. the venv's ``python``)."""
    return sys.executable


class Sandbox:
    """One sandboxed process tree: its cgroups, its mount staging folder, its process.

    ``submission`` (a folder, shown read-only at :data:`SUBMISSION_MOUNT` and used as the working
    directory) and ``worker_lib`` (a folder holding the ``grading_worker`` package, shown at
    :data:`GRADER_MOUNT`) must be readable by the sandbox user. Use :meth:`start` once, then
    :meth:`close` (always: it kills everything and removes the cgroups).
    """

    def __init__(self, limits: Limits, submission: Path | None, worker_lib: Path | None,
                 stage: Path | None = None, prefix: str | None = None) -> None:
        self.limits = limits
        self.submission = submission
        self.worker_lib = worker_lib
        self.name = f"{prefix or CGROUP_PREFIX}-{uuid.uuid4().hex[:12]}"
        self.version = _cgroup_version()
        self.cgroups: list[Path] = []
        self.process: subprocess.Popen[bytes] | None = None
        self._stage_owned = stage is None
        self.stage = stage if stage is not None else Path(traversable_tmpdir()) / f"{self.name}-mnt"

    # -- cgroups ---------------------------------------------------------------------------
    def _make_cgroups(self) -> None:
        if self.version == 1:
            for controller in ("memory", "pids"):
                base = CGROUP_ROOT / controller
                parent = base / _own_cgroup(controller).lstrip("/")
                if not os.access(parent, os.W_OK):
                    parent = base
                group = parent / self.name
                group.mkdir()
                self.cgroups.append(group)
                if controller == "memory":
                    (group / "memory.limit_in_bytes").write_text(str(self.limits.memory_bytes))
                    memsw = group / "memory.memsw.limit_in_bytes"
                    if memsw.exists():
                        memsw.write_text(str(self.limits.memory_bytes))
                    (group / "memory.swappiness").write_text("0") if (group / "memory.swappiness").exists() else None
                else:
                    (group / "pids.max").write_text(str(self.limits.pids))
        elif self.version == 2:
            parent = CGROUP_ROOT / _own_cgroup("").lstrip("/")
            if parent != CGROUP_ROOT:
                parent = CGROUP_ROOT  # the no-internal-processes rule: use the root's children
            control = parent / "cgroup.subtree_control"
            enabled = control.read_text().split()
            for controller in ("memory", "pids"):
                if controller not in enabled:
                    control.write_text(f"+{controller}")
            group = parent / self.name
            group.mkdir()
            self.cgroups.append(group)
            (group / "memory.max").write_text(str(self.limits.memory_bytes))
            if (group / "memory.swap.max").exists():
                (group / "memory.swap.max").write_text("0")
            (group / "pids.max").write_text(str(self.limits.pids))

    def memory_exceeded(self) -> bool:
        """Whether the tree hit its memory limit (the kernel refused or OOM-killed)."""
        for group in self.cgroups:
            try:
                if (group / "memory.failcnt").exists():
                    return int((group / "memory.failcnt").read_text()) > 0 or "oom_kill 0" not in (
                        group / "memory.oom_control").read_text()
                if (group / "memory.events").exists():
                    events = dict(line.split() for line in (group / "memory.events").read_text().splitlines())
                    return int(events.get("oom_kill", 0)) > 0 or int(events.get("max", 0)) > 0
            except (OSError, ValueError):
                return False
        return False

    # -- the command -----------------------------------------------------------------------
    def _bwrap_argv(self, mounts: list[tuple[str, str]], command: list[str], env: dict[str, str]) -> list[str]:
        argv = ["bwrap", "--unshare-all", "--unshare-cgroup-try", "--die-with-parent", "--new-session",
                "--clearenv", "--cap-drop", "ALL", "--hostname", "sandbox",
                "--ro-bind", "/usr", "/usr"]
        for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
            top = Path("/") / name
            if top.is_symlink():
                argv += ["--symlink", os.readlink(top), str(top)]
            elif top.is_dir():
                argv += ["--ro-bind", str(top), str(top)]
        for etc in ("/etc/ld.so.cache", "/etc/localtime", "/etc/nsswitch.conf"):
            if Path(etc).exists():
                argv += ["--ro-bind", etc, etc]
        # The private /tmp first: a Python or venv that lives under /tmp is bound on top of it.
        argv += ["--proc", "/proc", "--dev", "/dev",
                 "--size", str(self.limits.tmp_bytes), "--tmpfs", "/tmp"]
        for source, target in mounts:
            argv += ["--ro-bind", source, target]
        if self.worker_lib is not None:
            argv += ["--ro-bind", str(self.worker_lib), GRADER_MOUNT]
        if self.submission is not None:
            argv += ["--ro-bind", str(self.submission), SUBMISSION_MOUNT, "--chdir", SUBMISSION_MOUNT]
        else:
            argv += ["--chdir", "/tmp"]
        for key, value in env.items():
            argv += ["--setenv", key, value]
        argv += ["--remount-ro", "/"]  # the sandbox's own root; /tmp stays the only writable place
        return [*argv, "--", *command]

    def start(self, command: list[str], *, env: dict[str, str] | None = None, stdin: int | None = subprocess.PIPE,
              stdout: int | None = subprocess.PIPE, stderr: int | None = subprocess.PIPE) -> subprocess.Popen[bytes]:
        """Start ``command`` in the sandbox; return the process (its pipes as requested).

        Raises ``OSError`` when the cgroups cannot be created.
        """
        self._make_cgroups()
        self.stage.mkdir(mode=0o755)
        mounts: list[tuple[str, str]] = []
        binds: list[str] = []
        for index, (source, destination) in enumerate(_python_paths()):
            point = self.stage / f"m{index}"
            point.mkdir(mode=0o755)
            binds.append(f"mount --bind {shlex.quote(str(source))} {shlex.quote(str(point))}")
            mounts.append((str(point), str(destination)))
        joins = [f"echo $$ > {shlex.quote(str(group / 'cgroup.procs'))}" for group in self.cgroups]
        limits = self.limits
        inner = [
            "prlimit", f"--fsize={limits.file_bytes}", f"--cpu={limits.cpu_s}:{limits.cpu_s + 5}", "--core=0",
            "--",
            "setpriv", f"--reuid={SANDBOX_UID}", f"--regid={SANDBOX_GID}", "--clear-groups", "--",
            *self._bwrap_argv(mounts, command, env or {}),
        ]
        script = " && ".join([*joins, *binds, 'exec "$@"'])
        argv = ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", script, "sh", *inner]
        self.process = subprocess.Popen(argv, stdin=stdin, stdout=stdout, stderr=stderr, cwd="/",
                                        env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"})
        return self.process

    # -- the end ---------------------------------------------------------------------------
    def pids(self) -> set[int]:
        """Process ids in the sandbox's cgroups (as seen from outside)."""
        pids: set[int] = set()
        for group in self.cgroups:
            try:
                pids.update(int(p) for p in (group / "cgroup.procs").read_text().split())
            except (OSError, ValueError):
                pass
        return pids

    def close(self) -> None:
        """Kill every process of the sandbox, reap the started one, remove cgroups and staging."""
        if self.process is not None and self.process.poll() is None:
            try:
                self.process.kill()
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 10
        for group in self.cgroups:
            if (group / "cgroup.kill").exists():
                try:
                    (group / "cgroup.kill").write_text("1")
                except OSError:
                    pass
        while True:
            pids = self.pids()
            if not pids or time.monotonic() > deadline:
                break
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            time.sleep(0.01)
        if self.process is not None:
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
            for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
                if stream is not None:
                    try:
                        stream.close()
                    except OSError:
                        pass
        for group in reversed(self.cgroups):
            for _ in range(100):
                try:
                    group.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.02)
        self.cgroups = []
        if self._stage_owned and self.stage.exists():
            for child in self.stage.iterdir():
                try:
                    child.rmdir()  # empty mount points (the mounts lived in the private namespace)
                except OSError:
                    pass
            try:
                self.stage.rmdir()
            except OSError:
                pass


def _cgroup_parents() -> list[Path]:
    version = _cgroup_version()
    if version == 1:
        return [CGROUP_ROOT / c / _own_cgroup(c).lstrip("/") for c in ("memory", "pids")] + [
            CGROUP_ROOT / c for c in ("memory", "pids")]
    if version == 2:
        return [CGROUP_ROOT]
    return []


def cleanup_cgroups(prefix: str) -> int:
    """Kill every process in, and remove, the cgroups whose name starts with ``prefix``.

    The runner calls this after the judge ended (also when the judge was killed), so that no
    sandboxed process outlives its grading. Returns how many cgroups were removed.
    """
    removed = 0
    for parent in dict.fromkeys(_cgroup_parents()):
        try:
            groups = [p for p in parent.iterdir() if p.is_dir() and p.name.startswith(prefix)]
        except OSError:
            continue
        for group in groups:
            leftover = Sandbox(Limits(), None, None)
            leftover.cgroups = [group]
            leftover._stage_owned = False
            leftover.close()
            removed += not group.exists()
    return removed


def start_unsandboxed(command: list[str], *, cwd: Path, env: dict[str, str], limits: Limits
                      ) -> subprocess.Popen[bytes]:
    """Isolation ``"none"``: a plain subprocess in its own session with rlimits (no memory limit)."""
    argv = ["prlimit", f"--fsize={limits.file_bytes}", f"--cpu={limits.cpu_s}:{limits.cpu_s + 5}", "--core=0",
            "--", *command] if shutil.which("prlimit") else command
    return subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)
