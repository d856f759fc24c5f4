"""convlib._checks: one message style for every argument check of convlib."""

from __future__ import annotations

import pytest
from torch import nn

from convlib import _checks as C


def test_as_choice_accepts_the_allowed_values_and_names_them_otherwise():
    assert C.as_choice("mode", "forward", ("forward", "backward")) == "forward"
    assert C.as_choice("norm", None, (None, "batch")) is None
    with pytest.raises(ValueError,
                       match=r"mode must be one of \('forward', 'backward'\); got 'fwd'"):
        C.as_choice("mode", "fwd", ("forward", "backward"))
    with pytest.raises(TypeError, match=r"mode must be one of .*; got 3 \(int\)"):
        C.as_choice("mode", 3, ("forward", "backward"))
    with pytest.raises(TypeError, match="name must be one of"):
        C.as_choice("name", None, ("alexnet",))  # None is not a choice unless listed


def test_as_bool_refuses_ints_and_takes_none_only_when_asked():
    assert C.as_bool("bias", True) is True
    assert C.as_bool("bias", None, allow_none=True) is None
    with pytest.raises(TypeError, match="bias must be True or False; got 1"):
        C.as_bool("bias", 1)
    with pytest.raises(TypeError, match="bias must be True, False or None"):
        C.as_bool("bias", 0, allow_none=True)


def test_as_divisor_names_every_count():
    assert C.as_divisor("groups", 4, c_in=8, c_out=16) == 4
    with pytest.raises(ValueError,
                       match="groups must divide c_in and c_out; got groups=4, c_in=6, c_out=8"):
        C.as_divisor("groups", 4, c_in=6, c_out=8)
    with pytest.raises(ValueError,
                       match="groups must divide mid_channels; got groups=3, mid_channels=16"):
        C.as_divisor("groups", 3, mid_channels=16)
    with pytest.raises(ValueError, match="groups must be an int >= 1"):
        C.as_groups(0, 4, 4)


def test_as_odd_kernel_says_which_sizes_are_allowed():
    assert C.as_odd_kernel("kernel_size", 5) == 5
    assert C.as_odd_kernel("kernel_size", 1, minimum=1) == 1
    with pytest.raises(ValueError,
                       match=r"kernel_size must be odd and >= 3 \(3, 5, 7, ...\); got 4"):
        C.as_odd_kernel("kernel_size", 4)
    with pytest.raises(ValueError, match="kernel_size must be odd and >= 3 for 'stacked'"):
        C.as_odd_kernel("kernel_size", 1, context=" for 'stacked'")


@pytest.mark.parametrize("call, error, match", [
    (lambda: C.as_int("c_in", True), TypeError, "c_in must be an int >= 1 .bools"),
    (lambda: C.as_int("c_in", 0), ValueError, "c_in must be an int >= 1; got 0"),
    (lambda: C.as_pair("size", (1, 2, 3)), ValueError, "size must be an int or a pair"),
    (lambda: C.as_shape("shape", ()), TypeError, "shape must be a non-empty tuple"),
    (lambda: C.as_module("conv", nn.Linear(1, 1), nn.Conv2d), TypeError,
     "conv must be a torch.nn.Conv2d"),
    (lambda: C.as_positive_number("lr", float("nan")), ValueError,
     "lr must be a positive, finite number"),
    (lambda: C.as_positive_number("lr", "1"), TypeError, "lr must be a positive number"),
])
def test_every_check_names_the_argument_and_what_it_accepts(call, error, match):
    with pytest.raises(error, match=match):
        call()
