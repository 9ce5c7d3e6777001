"""Request loop of the grading worker (see :mod:`grading_worker` and :mod:`grading_worker.codec`).

Order of events:

1. Move the protocol pipe (stdin/stdout as started by the judge) to private descriptors, point
   fd 0 at ``/dev/null`` and fd 1 at fd 2, so that ``print`` in student code goes to stderr
   (kept, capped, by the judge) and cannot be mistaken for a response.
2. Import the ops module ``grading_worker.<ops>`` (torch etc. come with it) and send
   ``{"id": -1, "ok": true, "result": {"ready": OPS}}``; then import the student's module from
   ``<module>.py`` in the working directory, by file path (the working directory is not put on
   ``sys.path``), and send ``{"id": 0, "ok": ..., "result": {"import": "ok"}}`` or the import
   error (type and one-line message, the line number in the student's file, no paths). The judge
   times the two phases separately (start-up allowance, then the homework's per-test limit).
3. Serve ``{"id": N, "op": NAME, "params": {...}}`` until end of input: call
   ``OPS[NAME](module, params)`` and send its result, or ``{"ok": false, "error": {...}}`` when it
   raises (``SystemExit`` included; ``os._exit`` in student code raises too).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys
import traceback
from collections.abc import Callable
from typing import Any, BinaryIO

from grading_worker.codec import MAX_MESSAGE_BYTES, ProtocolError, decode, encode

#: Longest error message sent back, in characters.
MAX_ERROR_CHARS = 2000


class StudentExit(SystemExit):
    """Raised instead of ending the process when student code calls ``os._exit``."""


_MAIN_PID = os.getpid()
_REAL_EXIT = os._exit


def _guarded_exit(status: int = 0) -> None:
    """``os._exit`` for student code: raises in the worker's own process, exits in forked children."""
    if os.getpid() != _MAIN_PID:
        _REAL_EXIT(status)
    raise StudentExit(f"os._exit({status!r})")


def describe(exc: BaseException, filename: str) -> dict[str, str]:
    """``{"type", "message"}`` of an exception: one line, plus the student's line number."""
    where = ""
    for frame in traceback.extract_tb(exc.__traceback__):
        if os.path.basename(frame.filename) == filename:
            where = f" (строка {frame.lineno} в {filename})"
    if isinstance(exc, SystemExit):
        text = f"вызван выход из процесса: {exc.code!r}" if not isinstance(exc, StudentExit) else f"вызван {exc.code}"
    elif isinstance(exc, SyntaxError):
        text = f"{exc.msg} (строка {exc.lineno})"
        where = ""
    else:
        try:
            text = str(exc)
        except BaseException:  # noqa: BLE001 - a hostile __str__
            text = ""
    text = " ".join(text.split())
    if len(text) > MAX_ERROR_CHARS:
        text = text[: MAX_ERROR_CHARS - 3] + "..."
    name = type(exc).__name__ if isinstance(type(exc).__name__, str) else "Exception"
    return {"type": name, "message": f"{text}{where}"}


def _private_pipes() -> tuple[BinaryIO, BinaryIO]:
    """Move the protocol to private fds; fd 0 -> /dev/null, fd 1 -> fd 2."""
    sys.stdout.flush()
    reader = os.fdopen(os.dup(0), "rb", buffering=1 << 20)
    writer = os.fdopen(os.dup(1), "wb", buffering=1 << 20)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(2, 1)
    return reader, writer


def _read_line(reader: BinaryIO) -> bytes | None:
    """One request line (``None`` at end of input); raises ProtocolError when it is too long."""
    chunks: list[bytes] = []
    size = 0
    while True:
        byte_chunk = reader.readline(MAX_MESSAGE_BYTES + 1 - size)
        if not byte_chunk:
            return b"".join(chunks) if chunks else None
        chunks.append(byte_chunk)
        size += len(byte_chunk)
        if byte_chunk.endswith(b"\n"):
            return b"".join(chunks)
        if size > MAX_MESSAGE_BYTES:
            raise ProtocolError("request over the size limit")


def _send(writer: BinaryIO, message: dict[str, Any]) -> None:
    try:
        data = encode(message)
    except ProtocolError as exc:  # the op returned something outside the format
        data = encode({"id": message["id"], "ok": False,
                       "error": {"type": "ProtocolError", "message": f"ответ нельзя передать: {exc}"}})
    writer.write(data)
    writer.flush()


def _import_student(module_name: str, filename: str) -> Any:
    path = os.path.join(os.getcwd(), filename)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"в решении нет файла {filename}")
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"{filename} нельзя импортировать")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


def serve(module_name: str, ops_name: str, filename: str) -> int:
    """Import and serve; return the exit code (0 at end of input)."""
    global _MAIN_PID
    _MAIN_PID = os.getpid()
    reader, writer = _private_pipes()
    real_exit = _REAL_EXIT
    os._exit = _guarded_exit  # type: ignore[assignment]
    ops_module = importlib.import_module(f"grading_worker.{ops_name}")
    ops: dict[str, Callable[[Any, dict[str, Any]], Any]] = ops_module.OPS
    _send(writer, {"id": -1, "ok": True, "result": {"ready": ops_name}})  # the student's import starts now
    try:
        module = _import_student(module_name, filename)
    except BaseException as exc:  # noqa: BLE001 - any failure of untrusted code is reported
        _send(writer, {"id": 0, "ok": False, "error": describe(exc, filename)})
        return 0
    _send(writer, {"id": 0, "ok": True, "result": {"import": "ok"}})
    while True:
        try:
            line = _read_line(reader)
        except ProtocolError:
            real_exit(3)
        if line is None:
            break
        try:
            request = decode(line)
            if (not isinstance(request, dict) or set(request) != {"id", "op", "params"}
                    or type(request["id"]) is not int or not isinstance(request["params"], dict)):
                raise ProtocolError("bad request")
        except ProtocolError:
            real_exit(3)
        handler = ops.get(request["op"]) if isinstance(request["op"], str) else None
        if handler is None:
            _send(writer, {"id": request["id"], "ok": False,
                           "error": {"type": "KeyError", "message": f"unknown op {request['op']!r}"}})
            continue
        try:
            result = handler(module, request["params"])
        except BaseException as exc:  # noqa: BLE001 - student exceptions become error responses
            _send(writer, {"id": request["id"], "ok": False, "error": describe(exc, filename)})
        else:
            _send(writer, {"id": request["id"], "ok": True, "result": result})
    real_exit(0)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Command line: ``--module NAME --ops OPS_MODULE [--file NAME.py]``."""
    parser = argparse.ArgumentParser(prog="grading_worker")
    parser.add_argument("--module", required=True)
    parser.add_argument("--ops", required=True)
    parser.add_argument("--file", default=None)
    args = parser.parse_args(argv)
    # Never import from the working directory (the submission) by accident.
    cwd = os.getcwd()
    sys.path[:] = [p for p in sys.path if p not in ("", ".") and os.path.abspath(p) != cwd]
    return serve(args.module, args.ops, args.file or f"{args.module}.py")


if __name__ == "__main__":
    sys.exit(main())
