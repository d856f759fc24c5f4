"""One name, one meaning: no object of ``convlib`` is bound to two public names.

An alias kept for a rename (``conv_params = block_weights``, ``Claim = ExperimentClaim``) makes a
reader ask whether the two names differ. Every module of ``convlib`` and every class it defines is
walked; a function, class or container bound to two different public names fails the test.
Importing a name under the same name (``from convlib.stats import HOLDS``) is no alias; nor is a
package ``__init__`` that lists in its ``__all__`` (and its docstring) what it re-exports.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections import defaultdict

import convlib

# Values that Python shares between unrelated names (small ints, interned strings, the empty
# tuple): equal values, not aliases.
SHARED_VALUES = (str, bytes, int, float, complex, bool, type(None))


def _modules() -> list:
    names = ["convlib"] + [info.name for info in pkgutil.walk_packages(convlib.__path__,
                                                                      "convlib.")
                           if not info.name.endswith("__main__")]
    return [importlib.import_module(name) for name in names]


def _scopes(module) -> list[tuple[str, dict]]:
    """The module's namespace and those of the classes it defines."""
    scopes = [(module.__name__, vars(module))]
    for name, value in vars(module).items():
        if inspect.isclass(value) and value.__module__ == module.__name__:
            scopes.append((f"{module.__name__}.{name}", vars(value)))
    return scopes


def _is_shared_value(value) -> bool:
    return isinstance(value, SHARED_VALUES) or (isinstance(value, (tuple, frozenset))
                                                and not value)


def public_bindings() -> dict[int, set[tuple[str, str]]]:
    """``{id(object): {(where, name)}}`` of every public binding of every convlib module."""
    bindings, keep = defaultdict(set), []
    for module in _modules():
        for where, namespace in _scopes(module):
            for name, value in namespace.items():
                if name.startswith("_") or inspect.ismodule(value) or _is_shared_value(value):
                    continue
                keep.append(value)  # ids stay unique while the objects live
                bindings[id(value)].add((where, name))
    return bindings


def two_names() -> list[list[tuple[str, str]]]:
    """Every object bound to more than one distinct public name, with its bindings."""
    return [sorted(found) for found in public_bindings().values()
            if len({name for _, name in found}) > 1]


def test_no_object_has_two_public_names():
    assert two_names() == []


def test_the_check_finds_an_alias(monkeypatch):
    from convlib import stats

    monkeypatch.setattr(stats, "VERDICT_WORDS", stats.VERDICTS, raising=False)
    assert [("convlib.stats", "VERDICTS"), ("convlib.stats", "VERDICT_WORDS")] in two_names()
