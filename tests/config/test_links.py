"""Shareable links: typed values to URL text and back, and bad values ignored with a message."""

from __future__ import annotations

import math

import pytest

from core.config import Param, decode, encode

PARAMS = (
    Param("model", "sb_model", default="tiny_vgg", choices=lambda: ["tiny_vgg", "resnet18"]),
    Param(
        "weights",
        "sb_weights",
        default="Pretrained",
        choices=("Pretrained", "Random (untrained)"),
        aliases={"pretrained": "Pretrained", "random": "Random (untrained)"},
    ),
    Param("channel", "fm_channel", kind=int, low=0, high=511),
    Param("conf", "det_conf", kind=float, default=0.25, low=0.01, high=1.0),
    Param("shipped", "det_shipped", kind=bool, default=True),
)


def test_round_trip_keeps_only_what_differs_from_the_defaults() -> None:
    values = {
        "sb_model": "resnet18",
        "sb_weights": "Random (untrained)",
        "fm_channel": 7,
        "det_conf": 0.4,
        "det_shipped": False,
    }
    query = encode(values, PARAMS)
    assert query == {"model": "resnet18", "weights": "random", "channel": "7", "conf": "0.4", "shipped": "0"}
    decoded = decode(query, PARAMS)
    assert decoded.values == values and decoded.problems == ()
    assert encode({"sb_model": "tiny_vgg", "det_conf": 0.25, "det_shipped": True}, PARAMS) == {}


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ({"model": "<script>alert(1)</script>"}, "not one of the choices"),
        ({"channel": "abc"}, "not a whole number"),
        ({"channel": "-1"}, "outside 0 to 511"),
        ({"conf": "nan"}, "not a finite number"),
        ({"conf": "2"}, "outside 0.01 to 1.0"),
        ({"shipped": "maybe"}, "not 1 or 0"),
        ({"model": "x" * 500}, "longer than"),
    ],
)
def test_a_bad_value_is_ignored_with_a_message_naming_it(query: dict[str, str], says: str) -> None:
    decoded = decode({**query, "weights": "random", "owner": "token"}, PARAMS)
    assert decoded.values == {"sb_weights": "Random (untrained)"}  # the good value is used, owner is not ours
    (problem,) = decoded.problems
    name = next(iter(query))
    assert problem.startswith(f"?{name}=") and says in problem and problem.endswith("ignored.")


def test_float_text_is_short_and_exact() -> None:
    param = PARAMS[3]
    for value in (0.01, 0.25, 0.3, 1.0):
        assert param.parse(param.text(value)) == value
    assert param.text(0.3) == "0.3" and not math.isnan(param.parse("0.3"))
