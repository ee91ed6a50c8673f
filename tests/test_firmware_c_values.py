"""The one path from values to C: numbers checked, strings escaped, nothing else printable."""
import math

import jinja2
import pytest

from firmware_gen.c_values import CToken, CValueError, c_float, c_int, c_string, only_tokens


@pytest.mark.parametrize("value", ["1); int f(void", True, 1.0, None, [1], 2**40])
def test_c_int_takes_only_integers_in_range(value):
    with pytest.raises(CValueError):
        c_int(value, "version")


def test_c_int_negative_is_parenthesised_for_macros():
    assert c_int(-128, "zero point", -128, 127) == "(-128)" and c_int(7, "n") == "7"


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, 1e39, "0.5", True])
def test_c_float_takes_only_finite_float32(value):
    with pytest.raises(CValueError):
        c_float(value, "scale")


def test_c_float_round_trips_float32_and_refuses_non_positive_scales():
    assert c_float(0.1, "x") == "0.100000001f" and c_float(3, "x") == "3.0f"
    with pytest.raises(CValueError):
        c_float(0.0, "scale", positive=True)


def test_c_string_escapes_everything_that_could_end_a_literal_or_a_line():
    assert c_string('a"b\\c?\n\x00é') == '"a\\"b\\\\c\\?\\012\\000\\303\\251"'
    with pytest.raises(CValueError):
        c_string(5)


def test_templates_can_print_nothing_but_tokens():
    env = jinja2.Environment(finalize=only_tokens)
    assert env.from_string("{{ x }}").render(x=CToken("ok")) == "ok"
    for raw in ("text", 5, None):
        with pytest.raises(CValueError):
            env.from_string("{{ x }}").render(x=raw)
