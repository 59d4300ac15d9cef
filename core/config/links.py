"""Shareable links: typed settings <-> the text of a URL's query parameters.

A :class:`Param` names one setting (its URL name, its session key, its type and what values
are allowed). :func:`decode` turns query parameters into typed values and, for each value it
cannot use, a message (never an exception: a bad link opens the app with that setting left
alone). :func:`encode` writes back only the settings that differ from their defaults, so a
link stays short. No Streamlit here: the dashboard's ``state`` module applies the values.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field

MAX_TEXT = 200  # longer query values are refused before they are parsed


@dataclass(frozen=True)
class Param:
    """One setting that a link can carry.

    Attributes:
        name: the query parameter (``model``, ``conf``...).
        key: the session-state key that holds the setting.
        kind: ``str``, ``int``, ``float`` or ``bool``.
        default: the value a link leaves out (a callable: computed when needed).
        choices: allowed values (a callable: computed when needed); None allows any of ``kind``.
        low, high: bounds for numbers (inclusive).
        aliases: URL text for a value (``{"random": "Random (untrained)"}``), both ways.
    """

    name: str
    key: str
    kind: type = str
    default: object = None
    choices: Collection[object] | Callable[[], Collection[object]] | None = None
    low: float | None = None
    high: float | None = None
    aliases: Mapping[str, object] = field(default_factory=dict)

    def default_value(self) -> object:
        return self.default() if callable(self.default) else self.default

    def allowed(self) -> Collection[object] | None:
        return self.choices() if callable(self.choices) else self.choices

    def parse(self, text: str) -> object:
        """The typed value of ``text``; ValueError naming the parameter when it cannot be used."""
        if len(text) > MAX_TEXT:
            raise ValueError(f"?{self.name}= is longer than {MAX_TEXT} characters")
        value = self.aliases.get(text, text) if self.aliases else text
        if isinstance(value, str) and self.kind is not str:
            value = _typed(self.name, self.kind, value)
        if self.kind in (int, float) and not (
            (self.low is None or value >= self.low) and (self.high is None or value <= self.high)
        ):
            raise ValueError(f"?{self.name}={text} is outside {self.low} to {self.high}")
        allowed = self.allowed()
        if allowed is not None and value not in allowed:
            raise ValueError(f"?{self.name}={text} is not one of the choices here")
        return value

    def text(self, value: object) -> str:
        """The URL text of ``value`` (the inverse of :meth:`parse`)."""
        for alias, target in self.aliases.items():
            if target == value:
                return alias
        if isinstance(value, bool):
            return "1" if value else "0"
        if isinstance(value, float):
            return f"{value:g}"
        return str(value)


def _typed(name: str, kind: type, text: str) -> object:
    if kind is bool:
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"?{name}={text} is not 1 or 0")
    try:
        value = kind(text)
    except ValueError:
        raise ValueError(f"?{name}={text} is not {'a whole number' if kind is int else 'a number'}") from None
    if kind is float and not math.isfinite(value):
        raise ValueError(f"?{name}={text} is not a finite number")
    return value


@dataclass(frozen=True)
class Decoded:
    """What a link set: values by session key, and one message per parameter that was ignored."""

    values: dict[str, object]
    problems: tuple[str, ...]


def decode(query: Mapping[str, str], params: Iterable[Param]) -> Decoded:
    """The settings in ``query`` (unknown parameters are left for others: ``owner``, ``teacher``...)."""
    values, problems = {}, []
    for param in params:
        if param.name not in query:
            continue
        try:
            values[param.key] = param.parse(str(query[param.name]))
        except ValueError as exc:
            problems.append(f"{exc}: ignored.")
    return Decoded(values, tuple(problems))


def encode(values: Mapping[str, object], params: Iterable[Param]) -> dict[str, str]:
    """Query parameters for the settings in ``values`` (by session key) that differ from their defaults."""
    query = {}
    for param in params:
        if param.key in values and values[param.key] is not None and values[param.key] != param.default_value():
            query[param.name] = param.text(values[param.key])
    return query
