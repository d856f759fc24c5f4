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


def as_bool(name: str, value: Any, *, allow_none: bool = False) -> bool | None:
    """``value`` if it is a real bool (or None with ``allow_none``); 0/1 are refused so that a
    misplaced argument is caught."""
    if value is None and allow_none:
        return None
    if not isinstance(value, bool):
        allowed = "True, False or None" if allow_none else "True or False"
        raise TypeError(f"{name} must be {allowed}; got {_shown(value)}")
    return value


def as_choice(name: str, value: Any, allowed: Sequence[Any]) -> Any:
    """``value`` if it is one of ``allowed`` (strings, and None where ``allowed`` holds None).

    A value of another type raises ``TypeError``, an unknown string ``ValueError``; both messages
    read ``<name> must be one of (...); got ...``.
    """
    allowed = tuple(allowed)
    if not any(isinstance(value, type(choice)) for choice in allowed):
        raise TypeError(f"{name} must be one of {allowed}; got {_shown(value)}")
    if value not in allowed:
        raise ValueError(f"{name} must be one of {allowed}; got {value!r}")
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


def as_divisor(name: str, value: Any, **counts: int) -> int:
    """``value`` as a positive int that divides every one of ``counts`` (keyword: the count's
    name), e.g. ``as_divisor("groups", g, c_in=8, c_out=6)``."""
    value = as_int(name, value)
    if any(count % value for count in counts.values()):
        names = " and ".join(counts)
        shown = ", ".join(f"{key}={count}" for key, count in counts.items())
        raise ValueError(f"{name} must divide {names}; got {name}={value}, {shown}")
    return value


def as_groups(groups: Any, c_in: int, c_out: int) -> int:
    """``groups`` as a positive int that divides both channel counts (as ``nn.Conv2d`` requires)."""
    return as_divisor("groups", groups, c_in=c_in, c_out=c_out)


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


def as_odd_kernel(name: str, value: Any, *, minimum: int = 3, context: str = "") -> int:
    """A square kernel size as one odd int >= ``minimum`` (the sizes that have a centre pixel and
    keep the size with symmetric "same" padding). ``context`` ends the message, e.g. ``" for
    'stacked'"``."""
    k = as_int(name, value)
    if k % 2 == 0 or k < minimum:
        first = minimum if minimum % 2 else minimum + 1
        raise ValueError(f"{name} must be odd and >= {minimum}{context} "
                         f"({first}, {first + 2}, {first + 4}, ...); got {k}")
    return k


def as_positive_number(name: str, value: Any) -> float:
    """``value`` as a float if it is a finite real number > 0 (bools refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a positive number; got {_shown(value)}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive, finite number; got {value!r}")
    return float(value)
