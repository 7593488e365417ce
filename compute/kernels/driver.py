"""The segment driver: the batch form of a 1-D kernel, written once for every kernel.

A 1-D kernel reads the arrays of one series and writes into outputs it is given:
``kernel(*inputs, *outputs, *scratch, *params, *consts)``. ``segmented`` returns its batch
form, ``batch(*inputs, offsets, *params) -> tuple of outputs``, which allocates the outputs
over the whole batch (NaN, or 0 for TA-Lib's integer outputs) and runs the kernel on the
slices ``[offsets[i], offsets[i + 1])``, so state never crosses a segment boundary. A kernel
marked ``@writes_all`` writes every element itself (NaN in its warm-up, as TA-Lib does), and
its outputs are allocated without the NaN fill: that pass over the outputs was the whole gap
to TA-Lib for the cheapest kernels (MOM 0.19 ns/bar against 0.14, the kernel alone 0.14).

The batch form is generated as source and compiled with ``njit(cache=True)`` under the
1-D kernel's module and file: numba keys its on-disk cache on the function's file stamp
and qualified name, so an edit of the family module recompiles it, and a second process
loads it from the cache. A closure over the kernel would not do: numba hashes a closure's
captured values into the cache key, and a dispatcher pickles with a fresh uuid in each
process, so a closure would compile again in every process.
"""

import hashlib
import inspect

import numpy as np
from numba import njit

from compute.kernels.common import nan_like_nb, writes_all

__all__ = ["INT", "NAN", "ZERO", "jit_source", "segmented", "writes_all"]

NAN = "nan"  # a real output, NaN where the kernel writes nothing (warm-up)
ZERO = "zero"  # a real output that holds TA-Lib integers: 0.0 in the warm-up
INT = "int"  # an int32 output (candlestick patterns, HT_TRENDMODE): 0 in the warm-up
# the allocations, in numba (``segmented``) and in NumPy (``numpy_segmented``)
_ALLOC = {
    NAN: ("nan_like_nb({0})", lambda n: np.full(n, np.nan)),
    ZERO: ("np.zeros({0}.shape[0])", np.zeros),
    INT: ("np.zeros({0}.shape[0], dtype=np.int32)", lambda n: np.zeros(n, dtype=np.int32)),
    "scratch": ("np.empty_like({0})", np.empty),
    "all": ("np.empty({0}.shape[0])", np.empty),  # a NAN output of a ``writes_all`` kernel
}
_BATCH: dict[tuple, object] = {}


def segmented(kernel, n_inputs, fills, scratch=0, consts=(), numpy=False):
    """The batch form of the 1-D ``kernel`` (memoised), outputs allocated as ``fills`` says.

    ``fills`` has one entry per output (``NAN``, ``ZERO`` or ``INT``); ``scratch`` work arrays
    as long as the batch follow the outputs; ``consts`` (numbers or booleans) are passed
    after the parameters, so one kernel can serve several indicators. With ``numpy`` the
    batch form is a Python function that allocates the arrays with NumPy and runs the
    compiled loop over the segments; otherwise it is compiled whole (callable from kernels).
    """
    key = (kernel, n_inputs, tuple(fills), scratch, tuple(consts), numpy)
    if key not in _BATCH:
        _BATCH[key] = _generate(*key)
    return _BATCH[key]


def _generate(kernel, n_inputs, fills, scratch, consts, numpy):
    py = kernel.py_func
    names = list(inspect.signature(py).parameters)
    n_arrays = n_inputs + len(fills) + scratch
    inputs = names[:n_inputs]
    outputs = [f"out{j}" for j in range(len(fills))]
    work = [f"work{j}" for j in range(scratch)]
    params = names[n_arrays : len(names) - len(consts)]
    if getattr(kernel, "writes_all", False):
        fills = ["all" if f == NAN else f for f in fills]
    allocs = [_ALLOC[f] for f in fills] + [_ALLOC["scratch"]] * scratch
    sliced = ", ".join(f"{v}[a:b]" for v in inputs + outputs + work)
    extra = "".join(f", {v}" for v in params) + "".join(f", {c!r}" for c in consts)
    head = [*inputs, "offsets", *outputs, *work] if numpy else [*inputs, "offsets"]
    body = "\n".join(
        [
            f"({', '.join([*head, *params])}):",
            *(
                f"    {v} = {alloc[0].format(inputs[0])}"
                for v, alloc in zip(outputs + work, allocs, strict=True)
                if not numpy
            ),
            "    for s in range(offsets.shape[0] - 1):",
            "        a = offsets[s]",
            "        b = offsets[s + 1]",
            f"        kernel({sliced}{extra})",
            f"    return ({''.join(o + ', ' for o in outputs)})",
        ]
    )
    namespace = {"np": np, "kernel": kernel, "nan_like_nb": nan_like_nb}
    doc = f"Batch form of ``{py.__name__}`` over ``offsets`` (``compute.kernels.driver``)."
    loop = jit_source(f"{py.__name__}_seg", body, namespace, py, doc)
    if not numpy:
        return loop

    def batch(*args):
        n = args[0].shape[0]
        arrays = [alloc[1](n) for alloc in allocs]
        return loop(*args[: n_inputs + 1], *arrays, *args[n_inputs + 1 :])

    batch.__doc__ = doc
    return batch


def jit_source(name, body, namespace, home, doc, **options):
    """Compile the generated function ``def <name>_<hash><body>`` with ``njit(cache=True)``,
    filed under the module and source file of the Python function ``home``.

    The hash of ``body`` in the name keeps apart, in numba's cache, generated functions whose
    code differs only in constants or in the globals of ``namespace``.
    """
    name = f"{name}_{hashlib.sha1(body.encode()).hexdigest()[:10]}"
    namespace = {**namespace, "__name__": home.__module__}
    exec(compile(f"def {name}{body}\n", home.__code__.co_filename, "exec"), namespace)
    fn = namespace[name]
    fn.__module__ = home.__module__
    fn.__qualname__ = name
    fn.__doc__ = doc
    return njit(cache=True, **options)(fn)
