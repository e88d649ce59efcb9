"""The shared argument checks: what they accept, and errors that name the argument."""

import math

import pytest

from wavedil.nn.checks import check_range


def test_check_range_returns_floats_and_accepts_the_bounds():
    assert check_range("pitch", [20, 80], 0, 99) == (20.0, 80.0)
    assert check_range("pitch", (0, 99), 0, 99) == (0.0, 99.0)
    assert check_range("gain", (-6, -6)) == (-6.0, -6.0)
    assert check_range("speed", (0.9, 1.1), 0, low_open=True) == (0.9, 1.1)


@pytest.mark.parametrize(("value", "bounds", "message"), [
    ((2, 1), {}, r"speed as \[min, max\] with min <= max, but found \(2, 1\)"),
    ((0.0, 1.0), {"low": 0, "low_open": True}, "min above 0, but found"),
    ((-1, 5), {"low": 0}, "min at least 0, but"),
    ((1, 5), {"high": 4}, "max at most 4, but"),
    ((10, 120), {"low": 0, "high": 99}, r"within \[0, 99\], but found \(10, 120\)"),
    ((1, 2, 3), {}, r"found \(1, 2, 3\)"),
    ("fast", {}, "found 'fast'"),
    (None, {}, "found None"),
    ((math.nan, 1), {}, "found"),
])
def test_check_range_names_the_argument_and_what_was_expected(value, bounds, message):
    with pytest.raises(ValueError, match=message) as error:
        check_range("speed", value, **bounds)
    assert "speed" in str(error.value)
