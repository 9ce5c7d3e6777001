"""The safe wire format between the judge and the worker: one JSON object per line, never pickle.

Shared by both sides: the judge imports this module too, so it must import nothing from the
submission (only the standard library; numpy/torch lazily, when a tensor is met).

Values
------
``None``, ``bool``, ``int``, finite ``float``, ``str``, ``list`` (tuples are sent as lists) and
``dict`` with ``str`` keys. Special values are one-key objects:

* ``{"__float__": "nan" | "inf" | "-inf"}`` for non-finite floats;
* ``{"__tensor__": {"dtype": D, "shape": [...], "data": BASE64}}`` for tensors (and numpy arrays):
  the raw C-contiguous little-endian bytes; ``D`` is one of :data:`DTYPES`. Decoded tensors are
  CPU tensors that own their memory.

:func:`decode` is strict: anything outside this grammar (another ``__``-key, a dtype off the list,
a byte count that is not ``numel * itemsize``, nesting deeper than :data:`MAX_DEPTH`, a line
longer than :data:`MAX_MESSAGE_BYTES`, duplicate keys, ``NaN`` literals) raises
:class:`ProtocolError`.

Messages: request ``{"id": N, "op": NAME, "params": {...}}``; response
``{"id": N, "ok": true, "result": VALUE}`` or
``{"id": N, "ok": false, "error": {"type": NAME, "message": TEXT}}``.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import sys
from typing import Any

#: Largest message (one line, newline included), in bytes.
MAX_MESSAGE_BYTES = 256 * 2**20
#: Deepest allowed nesting of lists/dicts (a tensor object counts as one level).
MAX_DEPTH = 32
#: Most dimensions of a tensor.
MAX_NDIM = 16
#: Allowed tensor dtypes -> item size in bytes.
DTYPES: dict[str, int] = {"float32": 4, "float64": 8, "int64": 8, "int32": 4, "uint8": 1, "bool": 1}

_FLOATS = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


class ProtocolError(ValueError):
    """A message that does not follow the wire format (or a value that cannot be encoded)."""


def _float_tag(value: float) -> dict[str, str]:
    if math.isnan(value):
        return {"__float__": "nan"}
    return {"__float__": "inf" if value > 0 else "-inf"}


def _encode_array(array: Any) -> dict[str, Any]:
    """A numpy array as the tensor object (dtype checked against :data:`DTYPES`)."""
    import numpy as np

    name = str(array.dtype)
    if name not in DTYPES:
        raise ProtocolError(f"tensor dtype {name} is not allowed (allowed: {', '.join(DTYPES)})")
    contiguous = np.ascontiguousarray(array)
    if sys.byteorder != "little" or contiguous.dtype.byteorder == ">":
        contiguous = contiguous.astype(contiguous.dtype.newbyteorder("<"))
    return {
        "__tensor__": {
            "dtype": name,
            "shape": [int(n) for n in contiguous.shape],
            "data": base64.b64encode(contiguous.tobytes()).decode("ascii"),
        }
    }


def _to_plain(value: Any, depth: int) -> Any:
    """Turn ``value`` into JSON-ready data (tags for tensors and non-finite floats)."""
    if depth > MAX_DEPTH:
        raise ProtocolError(f"value nested deeper than {MAX_DEPTH}")
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else _float_tag(value)
    if isinstance(value, (list, tuple)):
        return [_to_plain(item, depth + 1) for item in value]
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise ProtocolError(f"dict keys must be str, got {type(key).__name__}")
            if key.startswith("__"):
                raise ProtocolError(f"dict key {key!r} is reserved")
            out[key] = _to_plain(item, depth + 1)
        return out
    module = type(value).__module__.split(".")[0]
    if module == "torch":
        import torch

        if isinstance(value, torch.Tensor):
            tensor = value.detach()
            if tensor.is_complex() or tensor.layout != torch.strided:
                raise ProtocolError(f"tensor of dtype {tensor.dtype} / layout {tensor.layout} cannot be sent")
            return _encode_array(tensor.cpu().contiguous().resolve_conj().resolve_neg().numpy())
        if isinstance(value, torch.Size):
            return [int(n) for n in value]
        if isinstance(value, torch.dtype):
            return str(value)
    if module == "numpy":
        import numpy as np

        if isinstance(value, np.ndarray):
            return _encode_array(value)
        if isinstance(value, np.bool_):
            return bool(value)
        if isinstance(value, np.integer):
            return int(value)
        if isinstance(value, np.floating):
            return _to_plain(float(value), depth)
    raise ProtocolError(f"a value of type {type(value).__name__} cannot be sent")


def encode(value: Any) -> bytes:
    """One message: ``value`` as a UTF-8 JSON line ending in ``\\n``.

    Raises :class:`ProtocolError` for values outside the format or a message over the limit.
    """
    text = json.dumps(_to_plain(value, 0), ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    data = text.encode("utf-8") + b"\n"
    if len(data) > MAX_MESSAGE_BYTES:
        raise ProtocolError(f"message of {len(data)} bytes is over the limit of {MAX_MESSAGE_BYTES}")
    return data


def _reject_constant(name: str) -> Any:
    raise ProtocolError(f"JSON constant {name} is not allowed")


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ProtocolError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _decode_tensor(spec: Any) -> Any:
    if not isinstance(spec, dict) or set(spec) != {"dtype", "shape", "data"}:
        raise ProtocolError("a tensor needs exactly the keys dtype, shape, data")
    dtype, shape, data = spec["dtype"], spec["shape"], spec["data"]
    if not isinstance(dtype, str) or dtype not in DTYPES:
        raise ProtocolError(f"tensor dtype {dtype!r} is not allowed")
    if (not isinstance(shape, list) or len(shape) > MAX_NDIM
            or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape)):
        raise ProtocolError(f"bad tensor shape {shape!r}")
    if not isinstance(data, str):
        raise ProtocolError("tensor data must be a base64 string")
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise ProtocolError("tensor data is not valid base64") from None
    numel = math.prod(shape)
    if len(raw) != numel * DTYPES[dtype]:
        raise ProtocolError(f"tensor of shape {shape} and dtype {dtype} needs {numel * DTYPES[dtype]} bytes, "
                            f"got {len(raw)}")
    import numpy as np
    import torch

    array = np.frombuffer(raw, dtype=np.dtype(dtype).newbyteorder("<")).astype(np.dtype(dtype), copy=True)
    return torch.from_numpy(array.reshape(shape)).clone()


def _from_plain(value: Any, depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise ProtocolError(f"message nested deeper than {MAX_DEPTH}")
    if isinstance(value, list):
        return [_from_plain(item, depth + 1) for item in value]
    if isinstance(value, dict):
        special = [key for key in value if key.startswith("__")]
        if special:
            if len(value) != 1:
                raise ProtocolError(f"a tagged value must have one key, got {sorted(value)}")
            tag = special[0]
            if tag == "__float__":
                if value[tag] not in _FLOATS:
                    raise ProtocolError(f"bad __float__ value {value[tag]!r}")
                return _FLOATS[value[tag]]
            if tag == "__tensor__":
                return _decode_tensor(value[tag])
            raise ProtocolError(f"unknown tag {tag!r}")
        return {key: _from_plain(item, depth + 1) for key, item in value.items()}
    if isinstance(value, float) and not math.isfinite(value):  # e.g. 1e999
        raise ProtocolError("non-finite float literal")
    return value


def decode(line: bytes) -> Any:
    """Decode one message (with or without its trailing newline); strict, see the module doc.

    Raises :class:`ProtocolError` for anything outside the format.
    """
    if not isinstance(line, (bytes, bytearray)):
        raise ProtocolError(f"a message is bytes, got {type(line).__name__}")
    if len(line) > MAX_MESSAGE_BYTES:
        raise ProtocolError(f"message of {len(line)} bytes is over the limit of {MAX_MESSAGE_BYTES}")
    body = bytes(line[:-1] if line.endswith(b"\n") else line)
    if b"\n" in body:
        raise ProtocolError("a message is one line")
    try:
        text = body.decode("utf-8")
        plain = json.loads(text, parse_constant=_reject_constant, object_pairs_hook=_pairs)
    except UnicodeDecodeError:
        raise ProtocolError("message is not UTF-8") from None
    except RecursionError:
        raise ProtocolError(f"message nested deeper than {MAX_DEPTH}") from None
    except json.JSONDecodeError as exc:
        raise ProtocolError(f"message is not JSON ({exc.msg})") from None
    try:
        return _from_plain(plain, 0)
    except RecursionError:
        raise ProtocolError(f"message nested deeper than {MAX_DEPTH}") from None


def check_response(message: Any, expected_id: int) -> Any:
    """Validate a decoded response for request ``expected_id``; return it unchanged.

    Raises :class:`ProtocolError` for a response of another shape or id.
    """
    if not isinstance(message, dict) or message.get("id") != expected_id or type(message.get("id")) is not int:
        raise ProtocolError(f"expected a response with id {expected_id}")
    if message.get("ok") is True:
        if set(message) != {"id", "ok", "result"}:
            raise ProtocolError("a successful response has exactly the keys id, ok, result")
    elif message.get("ok") is False:
        error = message.get("error")
        if (set(message) != {"id", "ok", "error"} or not isinstance(error, dict)
                or set(error) != {"type", "message"}
                or not all(isinstance(error[k], str) for k in ("type", "message"))):
            raise ProtocolError("a failed response has exactly id, ok, error{type, message}")
    else:
        raise ProtocolError("a response needs ok: true or false")
    return message
