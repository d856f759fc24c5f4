"""Plain data and its comparison: what crosses from a student's sandbox to the trusted grader.

One logic, used in two places:

- in the student's kernel, :func:`check` gives instant feedback from the visible tests;
- in the trusted grader, :func:`compare` judges the JSON a sandbox sent back against the JSON
  the reference solution produced, and never sees a student object.

:func:`describe` turns a value into ``{"kind": ..., "value": ...}`` made only of exact
``int``/``float``/``bool``/``str``/``None``/``list``/``dict`` (subclasses refused), so an object
that "compares equal to anything", or an ``int`` subclass with a forged ``__eq__``, does not survive
it. Tensors and NumPy arrays become nested lists (kind ``tensor``/``ndarray``). This module imports
nothing heavy: torch and numpy are only looked up if the value's module already loaded them.
"""

from __future__ import annotations

import math
import reprlib
import sys
from typing import Any

__all__ = ["check", "describe", "type_spec", "compare", "NotPlainData", "KINDS"]

# The kinds a value can have once described, and the Python types a test may name in check(x, T).
KINDS = ("none", "bool", "int", "float", "str", "list", "tuple", "dict", "tensor", "ndarray")
MAX_ITEMS = 2_000_000  # numbers in one described value
MAX_DEPTH = 32
MAX_STR = 100_000
DEFAULT_REL_TOL = 1e-6
DEFAULT_ABS_TOL = 1e-9


class NotPlainData(TypeError):
    """The value is not a number, string, list, dict, tensor or array made of them."""


def _kind_of_type(t: Any) -> str | None:
    """The kind an exact Python type maps to, for check(x, T) (None when it is not supported)."""
    simple = {type(None): "none", bool: "bool", int: "int", float: "float", str: "str",
              list: "list", tuple: "tuple", dict: "dict"}
    if t in simple:
        return simple[t]
    torch = sys.modules.get("torch")
    if torch is not None and t is torch.Tensor:
        return "tensor"
    numpy = sys.modules.get("numpy")
    if numpy is not None and t is numpy.ndarray:
        return "ndarray"
    return None


def type_spec(expected: Any) -> dict | None:
    """``{"kind": "type", "kinds": [...]}`` for a type or tuple of types, else None."""
    types = expected if type(expected) is tuple else (expected,)
    if not types or not all(isinstance(t, type) for t in types):
        return None
    kinds = []
    for t in types:
        kind = _kind_of_type(t)
        if kind is None:
            raise NotPlainData(f"check() cannot test for type {t.__name__}; "
                               f"use one of int, float, bool, str, list, tuple, dict, torch.Tensor")
        kinds.append(kind)
    return {"kind": "type", "kinds": kinds}


class _Budget:
    def __init__(self) -> None:
        self.items = 0

    def spend(self) -> None:
        self.items += 1
        if self.items > MAX_ITEMS:
            raise NotPlainData(f"the value has more than {MAX_ITEMS} items")


def _plain_dict(value: dict, budget: _Budget, depth: int) -> dict:
    """A dict with string keys only, its values made plain."""
    out = {}
    for key, v in value.items():
        if type(key) is not str:
            raise NotPlainData("the value is a dict with a key that is not a string")
        out[key] = _plain(v, budget, depth + 1)
    return out


def _array_as_lists(value: Any, t: type) -> Any:
    """A tensor's or NumPy array's (or scalar's) numbers as nested lists; NotPlainData for any
    other object."""
    torch = sys.modules.get("torch")
    if torch is not None and t in (torch.Tensor, torch.nn.Parameter):
        return value.detach().cpu().tolist()
    numpy = sys.modules.get("numpy")
    if numpy is not None and (
        t is numpy.ndarray or (isinstance(value, numpy.generic) and t.__module__ == "numpy")
    ):
        return value.tolist()
    raise NotPlainData(f"a {t.__name__} object")


def _plain(value: Any, budget: _Budget, depth: int) -> Any:
    """The value made of exact JSON types only (tuples, tensors and arrays as lists)."""
    budget.spend()
    if depth > MAX_DEPTH:
        raise NotPlainData(f"the value is nested more than {MAX_DEPTH} levels deep")
    t = type(value)
    if value is None or t is bool or t is int:
        if t is int and value.bit_length() > 4000:
            raise NotPlainData("the value is an integer with more than 1200 digits")
        return value
    if t is float:
        return value  # nan and inf travel as Python's json writes them (NaN, Infinity)
    if t is str:
        if len(value) > MAX_STR:
            raise NotPlainData(f"the value is a string of more than {MAX_STR} characters")
        return value
    if t is list or t is tuple:
        return [_plain(v, budget, depth + 1) for v in value]
    if t is dict:
        return _plain_dict(value, budget, depth)
    # the same depth: the lists stand for the tensor itself, not for a level of nesting
    return _plain(_array_as_lists(value, t), budget, depth)


def describe(value: Any) -> dict:
    """``{"kind", "value"[, "shape"]}`` made of plain JSON types, or NotPlainData."""
    t = type(value)
    torch = sys.modules.get("torch")
    numpy = sys.modules.get("numpy")
    if torch is not None and t in (torch.Tensor, torch.nn.Parameter):
        return {"kind": "tensor", "value": _plain(value, _Budget(), 0), "shape": list(value.shape)}
    if numpy is not None and t is numpy.ndarray:
        return {"kind": "ndarray", "value": _plain(value, _Budget(), 0), "shape": list(value.shape)}
    plain = _plain(value, _Budget(), 0)
    if numpy is not None and isinstance(value, numpy.generic):
        t = type(plain)
    kind = _kind_of_type(t)
    if kind is None:  # pragma: no cover - _plain refused every other type
        raise NotPlainData(f"a {t.__name__} object")
    return {"kind": kind, "value": plain}


# ----------------------------------------------------------------------------- comparison
_ARTICLE = {"int": "an int", "float": "a float", "bool": "a bool", "str": "a str", "none": "None",
            "list": "a list", "tuple": "a tuple", "dict": "a dict", "tensor": "a torch.Tensor",
            "ndarray": "a numpy array"}


_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxlist, _REPR.maxdict, _REPR.maxstring, _REPR.maxother = 3, 8, 6, 60, 60


def _short(value: Any, limit: int = 80) -> str:
    text = _REPR.repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _is_number(x: Any) -> bool:
    return type(x) in (int, float)


def _compare_numbers(actual: Any, expected: int | float, rel: float,
                     where: str) -> tuple[str, str] | None:
    """Two ints exactly; otherwise numbers to the relative tolerance ``rel``."""
    if not _is_number(actual):
        return "type", f"{where}expected a number ({_short(expected)}), got {_short(actual)}"
    if type(expected) is int and type(actual) is int:
        ok = actual == expected
    else:
        try:
            ok = math.isclose(actual, expected, rel_tol=rel, abs_tol=DEFAULT_ABS_TOL)
        except OverflowError:  # an int too large for a float
            ok = False
    return None if ok else ("value", f"{where}expected {_short(expected)}, got {_short(actual)}")


def _compare_containers(actual: Any, expected: list | dict, rel: float, path: str,
                        where: str) -> tuple[str, str] | None:
    """A list of the same length or a dict with the same keys, then item by item (dict keys
    sorted): the first difference."""
    if type(expected) is list:
        if type(actual) is not list:
            return ("type",
                    f"{where}expected a sequence of {len(expected)} items, got {_short(actual)}")
        if len(actual) != len(expected):
            return "shape", f"{where}expected {len(expected)} items, got {len(actual)}"
        pairs = enumerate(zip(actual, expected, strict=True))
        items = ((a, e, f"{path}[{i}]") for i, (a, e) in pairs)
    else:
        if type(actual) is not dict:
            return "type", f"{where}expected a dict, got {_short(actual)}"
        if sorted(actual) != sorted(expected):
            return ("shape",
                    f"{where}expected the keys {sorted(expected)}, got {sorted(actual)[:20]}")
        items = ((actual[key], expected[key], f"{path}[{key!r}]") for key in sorted(expected))
    # generators: nothing past the first difference is computed, as in a loop
    for a, e, sub_path in items:
        problem = _compare_plain(a, e, rel, sub_path)
        if problem:
            return problem
    return None


def _compare_plain(actual: Any, expected: Any, rel: float, path: str) -> tuple[str, str] | None:
    """None when equal, else (category, message); category is 'type', 'shape' or 'value'."""
    where = f"at {path}: " if path else ""
    if type(expected) is bool or type(actual) is bool:
        if type(actual) is not type(expected) or actual != expected:
            return "value", f"{where}expected {_short(expected)}, got {_short(actual)}"
        return None
    if _is_number(expected):
        return _compare_numbers(actual, expected, rel, where)
    if type(expected) is list or type(expected) is dict:
        return _compare_containers(actual, expected, rel, path, where)
    if actual != expected or type(actual) is not type(expected):
        return "value", f"{where}expected {_short(expected)}, got {_short(actual)}"
    return None


def compare(actual: dict, expected: dict, tol: float | None = None) -> tuple[str, str] | None:
    """Judge a described actual value against a described expectation (a value or a type spec).

    Returns None when they match, else ``(category, message)``. Lists, tuples, tensors and arrays
    are all sequences here: a nested list and a tensor with the same numbers match. Integers must
    match exactly (an int may equal a float of the same value); floats to ``tol`` (relative,
    default 1e-6).
    """
    if expected.get("kind") == "type":
        if actual.get("kind") not in expected["kinds"]:
            wanted = " or ".join(_ARTICLE.get(k, k) for k in expected["kinds"])
            got = _ARTICLE.get(actual.get("kind"), str(actual.get("kind")))
            return "type", f"expected {wanted}, got {got} ({_short(actual.get('value'))})"
        return None
    rel = DEFAULT_REL_TOL if tol is None else float(tol)
    return _compare_plain(actual.get("value"), expected.get("value"), rel, "")


def check(value: Any, expected: Any, what: str = "the answer", tol: float | None = None) -> None:
    """Assert that ``value`` matches ``expected``, with a message that says what is wrong.

    ``expected`` is a value (numbers, strings, nested lists, tensors, dicts) or a type / tuple of
    types (``check(n, int)``). Raises ``AssertionError("<what>: expected ..., got ...")``.
    """
    try:
        spec = type_spec(expected)
    except NotPlainData as error:  # a test written with an unsupported type
        raise TypeError(str(error)) from None
    try:
        exp = spec if spec is not None else describe(expected)
    except NotPlainData as error:
        raise TypeError(f"check(): the expected value is not plain data ({error})") from None
    try:
        act = describe(value)
    except NotPlainData as error:
        raise AssertionError(
            f"{what}: expected plain data (a number, list or tensor), got {error}"
        ) from None
    problem = compare(act, exp, tol)
    if problem is not None:
        raise AssertionError(f"{what}: {problem[1]}")
