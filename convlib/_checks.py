"""Argument checks shared by convlib's public functions.

Every check raises ``TypeError`` (wrong kind of value) or ``ValueError`` (right kind, bad value)
with a message that names the argument and says what is allowed, so that bad input never turns
into an obscure shape error deep inside PyTorch.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

from torch import nn


def _shown(value: Any) -> str:
    """A short description of a bad value for error messages: its repr and its type."""
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} ({type(value).__name__})"


def as_int(name: str, value: Any, *, minimum: int = 1) -> int:
    """``value`` as an int >= ``minimum``; bools are refused (``True`` is not a channel count)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int >= {minimum} (bools are not accepted); "
                        f"got {_shown(value)}")
    if value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}; got {value}")
    return int(value)


def as_bool(name: str, value: Any) -> bool:
    """``value`` if it is a real bool; 0/1 are refused so that a misplaced argument is caught."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False; got {_shown(value)}")
    return value


def as_pair(name: str, value: Any, *, minimum: int = 1) -> tuple[int, int]:
    """An int or a 2-sequence of ints (height, width), each >= ``minimum``, as a tuple."""
    if isinstance(value, Sequence) and not isinstance(value, str):
        if len(value) != 2:
            raise ValueError(f"{name} must be an int or a pair (height, width); "
                             f"got {_shown(value)}")
        return (as_int(f"{name}[0]", value[0], minimum=minimum),
                as_int(f"{name}[1]", value[1], minimum=minimum))
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int or a pair (height, width) of ints >= {minimum}; "
                        f"got {_shown(value)}")
    n = as_int(name, value, minimum=minimum)
    return (n, n)


def as_groups(groups: Any, c_in: int, c_out: int) -> int:
    """``groups`` as a positive int that divides both channel counts (as ``nn.Conv2d`` requires)."""
    groups = as_int("groups", groups)
    if c_in % groups or c_out % groups:
        raise ValueError(f"groups must divide both c_in ({c_in}) and c_out ({c_out}); got {groups}")
    return groups


def as_shape(name: str, value: Any) -> tuple[int, ...]:
    """A tensor shape: a non-empty tuple (or list / torch.Size) of positive ints."""
    if not isinstance(value, (tuple, list)) or len(value) == 0:
        raise TypeError(f"{name} must be a non-empty tuple of positive ints, e.g. (1, 3, 32, 32); "
                        f"got {_shown(value)}")
    return tuple(as_int(f"{name}[{i}]", v) for i, v in enumerate(value))


def as_module(
    name: str, value: Any, kind: type[nn.Module] | tuple[type[nn.Module], ...] = nn.Module
) -> Any:
    """``value`` if it is an instance of ``kind`` (an ``nn.Module`` class or tuple of them)."""
    if not isinstance(value, kind):
        kinds = kind if isinstance(kind, tuple) else (kind,)
        allowed = " or ".join(f"torch.nn.{k.__name__}" for k in kinds)
        raise TypeError(f"{name} must be a {allowed}; got {_shown(value)}")
    return value


def as_odd_kernel(name: str, value: Any, *, minimum: int = 3) -> int:
    """A square kernel size as one odd int >= ``minimum`` (the sizes that have a centre pixel)."""
    k = as_int(name, value, minimum=minimum)
    if k % 2 == 0:
        raise ValueError(f"{name} must be odd (3, 5, 7, ...); got {k}")
    return k


def as_positive_number(name: str, value: Any) -> float:
    """``value`` as a float if it is a finite real number > 0 (bools refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a positive number; got {type(value).__name__} {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive, finite number; got {value!r}")
    return float(value)
