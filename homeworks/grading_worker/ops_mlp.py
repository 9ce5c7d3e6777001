"""Worker-side operations of the ``mlp`` homework (they run in the untrusted sandboxed worker).

Each operation takes the imported student module and the decoded request parameters, calls the
student's code on the inputs and weights the judge sent, and returns data only: tensors, numbers,
strings, lists and dicts (see ``grading_worker.codec``). No reference solution, no comparison and
no verdict lives here: the judge (``homeworks/mlp/grader/``) computes every expected value itself
and decides. What the student's code returns is passed back through :func:`describe`, which never
trusts its type: a value that is not a tensor comes back as its kind and type name, so the judge can
say what was wrong in Russian.

Facts about *how* a value was computed (the autograd node of the student's ``LinearFunction`` in
the graph, calls of autograd from inside a backward pass, ``torch.optim`` optimizers constructed
during ``train``, saved tensors unpacked by the autograd engine) are a second layer only: the
student's code shares this process and could forge them. The first layer is the judge's check of
the submission's syntax tree.

Operations (``OPS``; tensor parameters are CPU tensors chosen by the judge):

``linear_layer``           construct ``MyLinear`` for given sizes and seed; parameter names, shapes,
                           dtypes and values.
``linear_layer_run``       construct ``MyLinear``, load the judge's weights, forward on the judge's
                           input, optionally backward with the judge's upstream gradient.
``linear_function_run``    ``LinearFunction.apply`` on the judge's ``x``, ``weight``, ``bias``,
                           backward with the judge's upstream gradient.
``grad_sum_of_squares``    call it on the judge's tensor; the result and what happened to the input.
``linear_mse_loss``        call it (twice) on a ``torch.nn.Linear`` holding the judge's weights.
``mlp_structure``          construct ``MyMLP`` with given sizes; its layers and parameter count.
``mlp_forward``            construct ``MyMLP``, load the judge's weights into its layers, forward.
``train_net``              the student's ``train`` on a torch-only network holding the judge's
                           weights; the trained parameters, the returned losses and every batch the
                           network saw with gradients enabled.
``train_digits``           ``MyMLP`` + ``train`` on the training split the judge sends; the trained
                           parameters (the judge evaluates them on held-out data it keeps).
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
from torch import nn

# Captured when this module is imported, before the student's code can replace them; the ops run
# the autograd engine through these and count calls that reach the public names.
_REAL_AUTOGRAD_BACKWARD = torch.autograd.backward
_REAL_AUTOGRAD_GRAD = torch.autograd.grad
_REAL_TENSOR_BACKWARD = torch.Tensor.backward
_REAL_OPTIMIZER_INIT = torch.optim.Optimizer.__init__

#: dtypes the codec carries as they are; any other tensor dtype is sent as float64 (or int64).
WIRE_DTYPES = frozenset({torch.float32, torch.float64, torch.int64, torch.int32, torch.uint8, torch.bool})
#: dtype names the judge may ask for.
DTYPES = {"float32": torch.float32, "float64": torch.float64}
#: activation names the judge may ask for -> the torch class handed to ``MyMLP``.
ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "tanh": nn.Tanh}
#: at most this many items of a returned list/tuple are described (a list of epoch losses is short).
MAX_ITEMS = 10_000
#: at most this many batches are recorded by ``train_net``.
MAX_BATCHES = 2_000
#: type names are cut to this many characters.
MAX_NAME = 100


# ----------------------------------------------------------------------------- data out


def dtype_name(dtype: torch.dtype) -> str:
    """``torch.float64`` -> ``"float64"``."""
    return str(dtype).removeprefix("torch.")


def wire_tensor(tensor: torch.Tensor) -> torch.Tensor:
    """A detached, contiguous CPU copy the codec can carry (other dtypes widened)."""
    value = torch.Tensor.detach(tensor).to("cpu")
    if value.is_complex():  # the judge never asks for complex numbers: keep the real part
        value = value.real
    if value.dtype not in WIRE_DTYPES:
        value = value.to(torch.float64 if value.is_floating_point() else torch.int64)
    return value.contiguous().clone()


def type_name(value: object) -> str:
    """The qualified type name of ``value``, cut to :data:`MAX_NAME` characters."""
    return type(value).__qualname__[:MAX_NAME]


def describe(value: Any, depth: int = 0, budget: list[int] | None = None) -> dict[str, Any]:
    """What the student's code returned, as data.

    Returns one of ``{"kind": "tensor", "value", "dtype", "shape", "requires_grad", "has_grad_fn"}``,
    ``{"kind": "none"}``, ``{"kind": "bool", "value"}``, ``{"kind": "number", "value"}`` (Python
    int/float), ``{"kind": "list" | "tuple", "items", "length"}`` (nested at most 3 deep, at most
    :data:`MAX_ITEMS` items described in the whole value: ``budget`` counts them down) or
    ``{"kind": "object", "type"}`` for anything else.
    """
    budget = [MAX_ITEMS] if budget is None else budget
    if isinstance(value, torch.Tensor):
        return {
            "kind": "tensor",
            "value": wire_tensor(value),
            "dtype": dtype_name(value.dtype),
            "shape": list(value.shape),
            "requires_grad": bool(value.requires_grad),
            "has_grad_fn": value.grad_fn is not None,
        }
    if value is None:
        return {"kind": "none"}
    if isinstance(value, bool):
        return {"kind": "bool", "value": value}
    if isinstance(value, (int, float)):
        return {"kind": "number", "value": float(value) if isinstance(value, float) else _int(int(value))}
    if isinstance(value, (list, tuple)) and depth < 3:
        items = []
        for item in value[: max(budget[0], 0)]:
            if budget[0] <= 0:
                break
            budget[0] -= 1
            items.append(describe(item, depth + 1, budget))
        return {"kind": "list" if isinstance(value, list) else "tuple", "length": len(value), "items": items}
    return {"kind": "object", "type": type_name(value)}


def _int(value: int) -> float | int:
    """A Python int as the codec carries it (a float when it does not fit 64 bits)."""
    return value if -(2**63) <= value < 2**63 else float(value)


def parameter_facts(module: nn.Module) -> list[dict[str, Any]]:
    """Name, shape, dtype, ``requires_grad`` and ``nn.Parameter``-ness of each named parameter."""
    return [
        {
            "name": str(name)[:MAX_NAME],
            "shape": list(param.shape),
            "dtype": dtype_name(param.dtype),
            "requires_grad": bool(param.requires_grad),
            "is_parameter": isinstance(param, nn.Parameter),
        }
        for name, param in module.named_parameters()
    ]


def attribute_kind(owner: object, name: str) -> str:
    """``"missing"``, ``"none"``, ``"parameter"``, ``"tensor"`` or ``"other"`` for ``owner.<name>``."""
    if not hasattr(owner, name):
        return "missing"
    value = getattr(owner, name)
    if value is None:
        return "none"
    if isinstance(value, nn.Parameter):
        return "parameter"
    return "tensor" if isinstance(value, torch.Tensor) else "other"


# ----------------------------------------------------------------------------- data in


def student(module: Any, name: str) -> Any:
    """``module.<name>``; ``AttributeError`` with a Russian message if it is missing."""
    value = getattr(module, name, None)
    if value is None:
        raise AttributeError(f"в mlp.py нет {name}")
    return value


def load_parameter(layer: nn.Module, name: str, value: torch.Tensor, where: str) -> None:
    """Copy the judge's ``value`` into the parameter ``name`` of ``layer`` (same shape required)."""
    params = dict(layer.named_parameters(recurse=False))
    param = params.get(name)
    if param is None:
        raise ValueError(f"{where}: нет параметра {name} (параметры: {sorted(params)})")
    if tuple(param.shape) != tuple(value.shape):
        raise ValueError(f"{where}: параметр {name} формы {tuple(param.shape)} вместо {tuple(value.shape)}")
    with torch.no_grad():
        param.copy_(value.to(param.dtype))


def load_linear(layer: nn.Module, weight: torch.Tensor, bias: torch.Tensor | None, where: str) -> None:
    """Load the judge's weight (and bias, if given) into a linear layer's ``weight``/``bias``."""
    load_parameter(layer, "weight", weight, where)
    if bias is not None:
        load_parameter(layer, "bias", bias, where)
    elif getattr(layer, "bias", None) is not None:
        raise ValueError(f"{where}: у слоя без сдвига атрибут bias должен быть None")


def leaf(tensor: torch.Tensor, requires_grad: bool = True) -> torch.Tensor:
    """A fresh leaf copy of the judge's tensor."""
    return tensor.detach().clone().requires_grad_(requires_grad)


# ----------------------------------------------------------------------------- second layer


@contextlib.contextmanager
def autograd_calls() -> Iterator[list[str]]:
    """Record calls of ``torch.autograd.grad``/``backward`` and ``Tensor.backward`` made meanwhile.

    The ops themselves run the engine through the originals captured at import, so every
    recorded call came from the student's code (a nested call inside a hand-written backward).
    Code that bound the functions before this ran is not seen: this is only a second layer.
    """
    calls: list[str] = []

    def grad(*args: Any, **kwargs: Any) -> Any:
        calls.append("torch.autograd.grad")
        return _REAL_AUTOGRAD_GRAD(*args, **kwargs)

    def backward(*args: Any, **kwargs: Any) -> Any:
        calls.append("torch.autograd.backward")
        return _REAL_AUTOGRAD_BACKWARD(*args, **kwargs)

    def tensor_backward(self: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
        calls.append("Tensor.backward")
        return _REAL_TENSOR_BACKWARD(self, *args, **kwargs)

    saved = (torch.autograd.grad, torch.autograd.backward, torch.Tensor.backward)
    torch.autograd.grad, torch.autograd.backward = grad, backward
    torch.Tensor.backward = tensor_backward  # type: ignore[method-assign]
    try:
        yield calls
    finally:
        torch.autograd.grad, torch.autograd.backward = saved[0], saved[1]
        torch.Tensor.backward = saved[2]  # type: ignore[method-assign]


@contextlib.contextmanager
def optimizers_created() -> Iterator[list[str]]:
    """Record the class name of every ``torch.optim.Optimizer`` constructed meanwhile."""
    created: list[str] = []

    def init(self: torch.optim.Optimizer, *args: Any, **kwargs: Any) -> None:
        created.append(type_name(self))
        _REAL_OPTIMIZER_INIT(self, *args, **kwargs)

    torch.optim.Optimizer.__init__ = init  # type: ignore[method-assign]
    try:
        yield created
    finally:
        torch.optim.Optimizer.__init__ = _REAL_OPTIMIZER_INIT  # type: ignore[method-assign]


def graph_facts(output: Any, function: Any) -> dict[str, Any]:
    """Facts about the autograd graph behind ``output``.

    ``grad_fn``: type name of the output's node (``None`` without one); ``through_function``: some
    node of the graph was created by ``function.apply`` (its ``_forward_cls`` is ``function``).
    """
    if not isinstance(output, torch.Tensor) or output.grad_fn is None:
        return {"grad_fn": None, "through_function": False}
    seen: set[int] = set()
    stack = [output.grad_fn]
    found = False
    while stack and not found and len(seen) < 10_000:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        found = getattr(type(node), "_forward_cls", None) is function
        stack.extend(next_node for next_node, _ in node.next_functions)
    return {"grad_fn": type_name(output.grad_fn), "through_function": found}


def run_backward(output: Any, grad_output: torch.Tensor | None) -> dict[str, Any]:
    """Backward from ``output`` with the judge's upstream gradient through the real engine.

    Returns ``{"ran": bool, "autograd_calls": [...]}``; ``ran`` is false when ``output`` is not a
    tensor in a graph (nothing to differentiate). Exceptions of the student's backward propagate.
    """
    if grad_output is None or not isinstance(output, torch.Tensor) or output.grad_fn is None:
        return {"ran": False, "autograd_calls": []}
    if tuple(output.shape) != tuple(grad_output.shape):
        raise ValueError(f"выход формы {tuple(output.shape)} вместо {tuple(grad_output.shape)}")
    with autograd_calls() as calls:
        _REAL_AUTOGRAD_BACKWARD([output], [grad_output.to(output.dtype)])
    return {"ran": True, "autograd_calls": calls}


def grad_of(tensor: torch.Tensor | None) -> dict[str, Any]:
    """``describe(tensor.grad)``; ``{"kind": "none"}`` for a missing tensor."""
    return describe(None if tensor is None else tensor.grad)


# ----------------------------------------------------------------------------- MyLinear


def linear_layer(module: Any, params: dict[str, Any]) -> list[dict[str, Any]]:
    """Construct ``MyLinear(in, out, bias=bias)`` for each case; describe it.

    Params: ``cases``: list of ``{"in": int, "out": int, "bias": bool}``; ``seed``: the global
    seed set before the first construction. Returns one dict per case: ``is_module``,
    ``parameters`` (:func:`parameter_facts`), ``weight``/``bias`` (:func:`attribute_kind`) and
    ``values``: ``{"weight": describe, "bias": describe}`` of the attributes.
    """
    cls = student(module, "MyLinear")
    torch.manual_seed(int(params["seed"]))
    out = []
    for case in params["cases"]:
        layer = cls(int(case["in"]), int(case["out"]), bias=bool(case["bias"]))
        out.append({
            "is_module": isinstance(layer, nn.Module),
            "parameters": parameter_facts(layer) if isinstance(layer, nn.Module) else [],
            "weight": attribute_kind(layer, "weight"),
            "bias": attribute_kind(layer, "bias"),
            "values": {name: describe(getattr(layer, name, None)) for name in ("weight", "bias")},
        })
    return out


def linear_layer_run(module: Any, params: dict[str, Any]) -> dict[str, Any]:
    """``MyLinear`` with the judge's weights: forward on ``x``, backward with ``grad_output``.

    Params: ``in_features``, ``out_features``, ``bias`` (bool), ``dtype`` (``"float32"``/``"float64"``),
    ``weight`` ``(out, in)``, ``bias_value`` ``(out,)`` or None, ``x`` ``(N, in)``,
    ``grad_output`` ``(N, out)`` or None (forward only). Returns ``output`` (describe),
    ``x_unchanged``, graph facts (``grad_fn``, ``through_function``), ``backward`` facts and the
    gradients ``grad_x``, ``grad_weight``, ``grad_bias`` (describe; ``none`` without backward).
    """
    cls = student(module, "MyLinear")
    dtype = DTYPES[params["dtype"]]
    in_features, out_features = int(params["in_features"]), int(params["out_features"])
    where = f"MyLinear({in_features}, {out_features}, bias={params['bias']})"
    torch.manual_seed(0)
    layer = cls(in_features, out_features, bias=bool(params["bias"]))
    if not isinstance(layer, nn.Module):
        raise TypeError(f"{where} не является torch.nn.Module")
    layer = layer.to(dtype)
    load_linear(layer, params["weight"].to(dtype), _opt(params["bias_value"], dtype), where)
    grad_output = _opt(params["grad_output"], dtype)
    x = leaf(params["x"].to(dtype), requires_grad=grad_output is not None)
    before = x.detach().clone()
    output = layer(x)
    facts = graph_facts(output, getattr(module, "LinearFunction", None))
    backward = run_backward(output, grad_output)
    return {
        "output": describe(output),
        "x_unchanged": bool(torch.equal(x.detach(), before)),
        **facts,
        "backward": backward,
        "grad_x": describe(x.grad),
        "grad_weight": grad_of(getattr(layer, "weight", None)),
        "grad_bias": grad_of(getattr(layer, "bias", None)),
    }


def linear_function_run(module: Any, params: dict[str, Any]) -> dict[str, Any]:
    """``LinearFunction.apply(x, weight, bias)`` on the judge's leaves, backward with its upstream.

    Params: ``x`` ``(N, in)``, ``weight`` ``(out, in)``, ``bias`` ``(out,)`` or None,
    ``grad_output`` ``(N, out)``. Returns ``is_function`` (a ``torch.autograd.Function``
    subclass), ``output`` (describe), graph facts, ``backward`` facts, ``grad_x``,
    ``grad_weight``, ``grad_bias`` (describe), ``inputs_unchanged``.
    """
    function = student(module, "LinearFunction")
    is_function = isinstance(function, type) and issubclass(function, torch.autograd.Function)
    if not is_function:
        return {"is_function": False}
    x, weight = leaf(params["x"]), leaf(params["weight"])
    bias = None if params["bias"] is None else leaf(params["bias"])
    originals = [t.detach().clone() for t in (x, weight, bias) if t is not None]
    output = function.apply(x, weight, bias)
    facts = graph_facts(output, function)
    backward = run_backward(output, params["grad_output"])
    current = [t.detach() for t in (x, weight, bias) if t is not None]
    return {
        "is_function": True,
        "output": describe(output),
        **facts,
        "backward": backward,
        "grad_x": describe(x.grad),
        "grad_weight": describe(weight.grad),
        "grad_bias": grad_of(bias),
        "inputs_unchanged": all(torch.equal(a, b) for a, b in zip(originals, current, strict=True)),
    }


def _opt(value: torch.Tensor | None, dtype: torch.dtype) -> torch.Tensor | None:
    """``value`` converted to ``dtype``; ``None`` stays ``None``."""
    return None if value is None else value.to(dtype)


# ----------------------------------------------------------------------------- autograd tasks


def grad_sum_of_squares(module: Any, params: dict[str, Any]) -> dict[str, Any]:
    """``grad_sum_of_squares(x)`` on the judge's tensor.

    Params: ``x``; ``requires_grad`` (bool); ``stale_grad`` (tensor put into ``x.grad`` first,
    or None). Returns ``result`` (describe), ``x_after`` (the values of ``x`` after the call),
    ``requires_grad_after``, ``grad_after`` (describe of ``x.grad``) and ``unpacked``: how many
    saved tensors the autograd engine unpacked during the call (a backward pass ran).
    """
    function = student(module, "grad_sum_of_squares")
    x = leaf(params["x"], bool(params["requires_grad"]))
    if params["stale_grad"] is not None:
        x.grad = params["stale_grad"].clone()
    unpacked: list[int] = []

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        return tensor

    def unpack(tensor: torch.Tensor) -> torch.Tensor:
        unpacked.append(1)
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, unpack):
        result = function(x)
    return {
        "result": describe(result),
        "x_after": wire_tensor(x),
        "requires_grad_after": bool(x.requires_grad),
        "grad_after": describe(x.grad),
        "unpacked": len(unpacked),
    }


def linear_mse_loss(module: Any, params: dict[str, Any]) -> list[dict[str, Any]]:
    """``linear_mse_loss(layer, x, y)`` on a ``torch.nn.Linear`` holding the judge's weights.

    Params: ``weight`` ``(out, in)``, ``bias`` ``(out,)``, ``x`` ``(N, in)``, ``y`` ``(N, out)``,
    ``stale_grad`` (put into ``layer.weight.grad`` before the first call), ``calls`` (how many
    calls in a row). All float64. Returns one :func:`describe` per call.
    """
    function = student(module, "linear_mse_loss")
    weight, bias = params["weight"], params["bias"]
    layer = nn.Linear(weight.shape[1], weight.shape[0]).to(torch.float64)
    load_linear(layer, weight, bias, "nn.Linear")
    layer.weight.grad = params["stale_grad"].clone()
    return [describe(function(layer, params["x"].clone(), params["y"].clone())) for _ in range(int(params["calls"]))]


# ----------------------------------------------------------------------------- MyMLP


def mlp_layers(model: Any) -> list[Any]:
    """``[input_layer, *hidden_layers, output_layer]`` of a ``MyMLP`` (``AttributeError`` if absent)."""
    missing = [name for name in ("input_layer", "hidden_layers", "output_layer") if not hasattr(model, name)]
    if missing:
        raise AttributeError(f"у MyMLP нет атрибута {missing[0]}")
    return [model.input_layer, *model.hidden_layers, model.output_layer]


def layer_facts(layer: Any, linear_cls: Any) -> dict[str, Any]:
    """Type, ``MyLinear``-ness, weight/bias shapes and whether the weight is constant."""
    weight, bias = getattr(layer, "weight", None), getattr(layer, "bias", None)
    return {
        "type": type_name(layer),
        "is_mylinear": isinstance(linear_cls, type) and isinstance(layer, linear_cls),
        "weight_shape": list(weight.shape) if isinstance(weight, torch.Tensor) else None,
        "bias_shape": list(bias.shape) if isinstance(bias, torch.Tensor) else None,
        "weight_constant": bool(isinstance(weight, torch.Tensor) and weight.numel() > 0
                                and torch.all(weight == weight.reshape(-1)[0]).item()),
    }


def mlp_structure(module: Any, params: dict[str, Any]) -> list[dict[str, Any]]:
    """Construct ``MyMLP(**kwargs)`` for each case; describe its layers.

    Params: ``cases``: list of ``{"kwargs": {...}, "hidden_as_tuple": bool}`` (``hidden_dims``
    is passed as a tuple when asked, else as a list); ``seed``. Returns per case:
    ``is_module``, ``attributes`` (which of ``input_layer``/``hidden_layers``/``output_layer``
    exist), ``hidden_is_module_list``, ``input_layer``/``output_layer`` (:func:`layer_facts`),
    ``hidden_layers`` (list of them) and ``parameter_count``.
    """
    cls, linear_cls = student(module, "MyMLP"), getattr(module, "MyLinear", None)
    torch.manual_seed(int(params["seed"]))
    out = []
    for case in params["cases"]:
        kwargs = dict(case["kwargs"])
        if "hidden_dims" in kwargs and case.get("hidden_as_tuple"):
            kwargs["hidden_dims"] = tuple(kwargs["hidden_dims"])
        model = cls(**kwargs)
        present = {name: hasattr(model, name) for name in ("input_layer", "hidden_layers", "output_layer")}
        facts: dict[str, Any] = {"is_module": isinstance(model, nn.Module), "attributes": present}
        if all(present.values()):
            hidden = model.hidden_layers
            facts["hidden_is_module_list"] = isinstance(hidden, nn.ModuleList)
            facts["input_layer"] = layer_facts(model.input_layer, linear_cls)
            facts["output_layer"] = layer_facts(model.output_layer, linear_cls)
            facts["hidden_layers"] = [layer_facts(layer, linear_cls) for layer in list(hidden)[:MAX_ITEMS]]
        if isinstance(model, nn.Module):
            facts["parameter_count"] = sum(p.numel() for p in model.parameters())
        out.append(facts)
    return out


def mlp_forward(module: Any, params: dict[str, Any]) -> dict[str, Any]:
    """``MyMLP`` with the judge's weights in its layers, forward on the judge's input (float64).

    Params: ``input_dim``, ``output_dim``, ``hidden_dims``, ``activation`` (a key of
    :data:`ACTIVATIONS`), ``layers``: ``[[weight, bias], ...]`` for ``input_layer``, each of
    ``hidden_layers``, ``output_layer``; ``x``. Returns ``output`` (describe).
    """
    cls = student(module, "MyMLP")
    torch.manual_seed(0)
    model = cls(int(params["input_dim"]), int(params["output_dim"]), tuple(params["hidden_dims"]),
                ACTIVATIONS[params["activation"]])
    if not isinstance(model, nn.Module):
        raise TypeError("MyMLP не является torch.nn.Module")
    model = model.to(torch.float64)
    layers = mlp_layers(model)
    if len(layers) != len(params["layers"]):
        raise ValueError(f"в MyMLP {len(layers)} линейных слоёв вместо {len(params['layers'])}")
    for index, (layer, (weight, bias)) in enumerate(zip(layers, params["layers"], strict=True)):
        load_linear(layer, weight, bias, f"слой {index} MyMLP")
    with torch.no_grad():
        output = model(params["x"].clone())
    return {"output": describe(output)}


# ----------------------------------------------------------------------------- train


class BatchRecorder(nn.Module):
    """Wraps a network; keeps the rows of each forward call made with gradients enabled."""

    def __init__(self, inner: nn.Module) -> None:
        """Wrap ``inner``."""
        super().__init__()
        self.inner = inner
        self.batches: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``inner(x)``; records ``x`` (at most :data:`MAX_BATCHES` times) when grad is enabled."""
        if torch.is_grad_enabled() and len(self.batches) < MAX_BATCHES:
            self.batches.append(wire_tensor(x))
        return self.inner(x)


def torch_net(layers: Sequence[Sequence[torch.Tensor]], activation: Callable[[], nn.Module]) -> nn.Sequential:
    """``Linear -> activation -> ... -> Linear`` (plain torch) holding the judge's weights."""
    modules: list[nn.Module] = []
    for index, (weight, bias) in enumerate(layers):
        linear = nn.Linear(weight.shape[1], weight.shape[0])
        load_linear(linear, weight, bias, f"nn.Linear {index}")
        modules += [linear, activation()]
    return nn.Sequential(*modules[:-1])


def train_net(module: Any, params: dict[str, Any]) -> dict[str, Any]:
    """The student's ``train`` on a torch-only ``Linear-Tanh-...-Linear`` network of the judge.

    Params: ``layers`` (``[[weight, bias], ...]``), ``X``, ``y``, ``epochs``, ``batch_size``,
    ``lr``, ``seed``. Returns ``losses`` (describe of what ``train`` returned), ``parameters``
    (``[[weight, bias], ...]`` after training, read from the network's own layers), ``batches``
    (every input batch seen with gradients enabled, in order) and ``optimizers`` (class names of
    ``torch.optim`` optimizers constructed during the call).
    """
    train = student(module, "train")
    torch.manual_seed(int(params["seed"]))
    net = torch_net(params["layers"], nn.Tanh)
    model = BatchRecorder(net)
    with optimizers_created() as optimizers:
        losses = train(model, params["X"].clone(), params["y"].clone(), epochs=int(params["epochs"]),
                       batch_size=int(params["batch_size"]), lr=float(params["lr"]))
    linears = [layer for layer in net if isinstance(layer, nn.Linear)]
    return {
        "losses": describe(losses),
        "parameters": [[wire_tensor(layer.weight), wire_tensor(layer.bias)] for layer in linears],
        "batches": model.batches,
        "optimizers": optimizers,
    }


def train_digits(module: Any, params: dict[str, Any]) -> dict[str, Any]:
    """``MyMLP(D, C, hidden_dims)`` after ``torch.manual_seed(seed)``, trained by ``train``.

    Params: ``X`` ``(N, D)`` float32 and ``y`` ``(N,)`` int64 (the training split only),
    ``num_classes``, ``hidden_dims``, ``epochs``, ``batch_size``, ``lr``, ``seed``. Runs in one
    thread. Returns ``layers`` (``[[weight, bias], ...]`` of ``input_layer``, each hidden layer,
    ``output_layer`` after training, as float32 or float64), ``losses`` (describe),
    ``seconds`` (wall time of ``train``) and ``optimizers``.
    """
    cls, train = student(module, "MyMLP"), student(module, "train")
    torch.set_num_threads(1)
    X, y = params["X"].clone(), params["y"].clone()
    torch.manual_seed(int(params["seed"]))
    model = cls(X.shape[1], int(params["num_classes"]), tuple(params["hidden_dims"]))
    start = time.perf_counter()
    with optimizers_created() as optimizers:
        losses = train(model, X, y, epochs=int(params["epochs"]), batch_size=int(params["batch_size"]),
                       lr=float(params["lr"]))
    seconds = time.perf_counter() - start
    layers = []
    for layer in mlp_layers(model):
        weight, bias = getattr(layer, "weight", None), getattr(layer, "bias", None)
        layers.append([describe(weight), describe(bias)])
    return {"layers": layers, "losses": describe(losses), "seconds": seconds if math.isfinite(seconds) else 0.0,
            "optimizers": optimizers}


OPS: dict[str, Callable[[Any, dict[str, Any]], Any]] = {
    "linear_layer": linear_layer,
    "linear_layer_run": linear_layer_run,
    "linear_function_run": linear_function_run,
    "grad_sum_of_squares": grad_sum_of_squares,
    "linear_mse_loss": linear_mse_loss,
    "mlp_structure": mlp_structure,
    "mlp_forward": mlp_forward,
    "train_net": train_net,
    "train_digits": train_digits,
}
