"""Typed resolution over any evaluator: the logic the OpenFeature provider
adapter uses, kept free of the SDK so that it is tested on every run.

An evaluator is anything with ``evaluate(key, context) -> Evaluation`` that
raises :class:`~flagops.errors.OFREPError` on failure: the remote
:class:`~flagops.ofrep.OFREPClient` and the
:class:`~flagops.cached.CachedEvaluator`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

from .errors import OFREPError, TypeMismatchError

__all__ = ["FLAG_TYPES", "Resolution", "coerce", "resolve", "resolve_details", "TypedEvaluation"]

#: The OpenFeature flag types, as the provider's resolve_*_details name them.
FLAG_TYPES = ("boolean", "string", "integer", "float", "object")


@dataclass
class Resolution:
    """A typed result. On error ``value`` is the caller's default, ``reason``
    is ``ERROR`` and ``error_code`` / ``error_message`` say why. (Not frozen:
    a frozen dataclass costs a third of a cached evaluation to build.)"""

    value: Any
    reason: str
    variant: Optional[str] = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    error_code: Optional[str] = None
    error_message: Optional[str] = None


def coerce(flag_type: str, value: Any, key: str = "") -> Any:
    """Return ``value`` as ``flag_type`` or raise TypeMismatchError.

    JSON has one number type: an integral number is an integer (3 and 3.0),
    any finite number is a float (an int becomes a float). Booleans are
    never numbers, although Python's bool is an int.
    """
    if flag_type == "boolean":
        if isinstance(value, bool):
            return value
    elif flag_type == "string":
        if isinstance(value, str):
            return value
    elif flag_type == "integer":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            return int(value)
    elif flag_type == "float":
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif flag_type == "object":
        if isinstance(value, (dict, list)):
            return value
    else:
        raise ValueError(f"flag_type: must be one of {', '.join(FLAG_TYPES)}, got {flag_type!r}")
    raise TypeMismatchError(f"value of type {type(value).__name__} is not a {flag_type}", flag_key=key or None)


def resolve(evaluator: Any, flag_type: str, key: str, default: Any, context: Optional[Mapping[str, Any]] = None) -> Resolution:
    """Evaluate ``key`` and type its value; raises OFREPError on failure.

    A result without a value (a disabled flag without an off variation)
    resolves to ``default`` with the server's reason.
    """
    if flag_type not in FLAG_TYPES:
        raise ValueError(f"flag_type: must be one of {', '.join(FLAG_TYPES)}, got {flag_type!r}")
    ev = evaluator.evaluate(key, context)
    if not ev.has_value:
        return Resolution(default, ev.reason, ev.variant, ev.metadata)
    return Resolution(coerce(flag_type, ev.value, key), ev.reason, ev.variant, ev.metadata)


def resolve_details(evaluator: Any, flag_type: str, key: str, default: Any, context: Optional[Mapping[str, Any]] = None) -> Resolution:
    """Like :func:`resolve`, but an evaluation error gives the default with
    reason ``ERROR`` and the error's code and message."""
    try:
        return resolve(evaluator, flag_type, key, default, context)
    except OFREPError as e:
        return Resolution(default, "ERROR", None, {}, e.error_code, str(e))


class TypedEvaluation:
    """Typed accessors shared by the evaluators. Each returns the flag's
    value, or ``default`` when the evaluation fails (use :meth:`details`
    or ``evaluate`` to see why)."""

    def evaluate(self, key: str, context: Optional[Mapping[str, Any]] = None) -> Any:  # pragma: no cover
        raise NotImplementedError

    def details(self, flag_type: str, key: str, default: Any, context: Optional[Mapping[str, Any]] = None) -> Resolution:
        return resolve_details(self, flag_type, key, default, context)

    def boolean(self, key: str, default: bool, context: Optional[Mapping[str, Any]] = None) -> bool:
        return resolve_details(self, "boolean", key, default, context).value

    def string(self, key: str, default: str, context: Optional[Mapping[str, Any]] = None) -> str:
        return resolve_details(self, "string", key, default, context).value

    def integer(self, key: str, default: int, context: Optional[Mapping[str, Any]] = None) -> int:
        return resolve_details(self, "integer", key, default, context).value

    def float(self, key: str, default: float, context: Optional[Mapping[str, Any]] = None) -> float:
        return resolve_details(self, "float", key, default, context).value

    def object(self, key: str, default: Any, context: Optional[Mapping[str, Any]] = None) -> Any:
        return resolve_details(self, "object", key, default, context).value
