"""The OpenFeature provider for flagops, on the OpenFeature Python SDK.

Importing this module imports the SDK (``pip install openfeature-sdk``);
nothing else in the package does. Use::

    from openfeature import api
    from flagops import OFREPClient
    from flagops.provider import FlagopsProvider

    api.set_provider(FlagopsProvider(OFREPClient(url, api_key)))

The provider follows ``openfeature.provider.AbstractProvider``: metadata,
no provider hooks, the five ``resolve_*_details`` methods returning
``FlagResolutionDetails``, evaluation errors raised as the SDK's
``OpenFeatureError`` subclasses (the SDK turns them into the default value
with reason ``ERROR`` and the error code), and in cached mode
``PROVIDER_CONFIGURATION_CHANGED`` events with the changed flag keys.
"""

from __future__ import annotations

import typing
from typing import Any, List, Optional, Union

try:
    from openfeature import exception as _ofx
    from openfeature.evaluation_context import EvaluationContext
    from openfeature.event import ProviderEvent, ProviderEventDetails
    from openfeature.flag_evaluation import FlagResolutionDetails, Reason
    from openfeature.hook import Hook
    from openfeature.provider import AbstractProvider
    try:
        from openfeature.provider import Metadata
    except ImportError:  # SDK releases before Metadata moved into the package
        from openfeature.provider.metadata import Metadata
except ImportError as e:  # pragma: no cover - depends on the environment
    raise ImportError(
        "flagops.provider needs the OpenFeature SDK: pip install 'openfeature-sdk' "
        "(or pip install './clients/python[openfeature]'); the rest of flagops works without it"
    ) from e

from ._adapter import CONFIGURATION_CHANGED, PROVIDER_READY, PROVIDER_STALE, ProviderCore
from .cached import CachedEvaluator
from .errors import OFREPError
from .ofrep import OFREPClient

__all__ = ["FlagopsProvider"]

_EVENTS = {
    CONFIGURATION_CHANGED: ProviderEvent.PROVIDER_CONFIGURATION_CHANGED,
    PROVIDER_STALE: ProviderEvent.PROVIDER_STALE,
    PROVIDER_READY: ProviderEvent.PROVIDER_READY,
}

_ERRORS = {
    "FLAG_NOT_FOUND": _ofx.FlagNotFoundError,
    "PARSE_ERROR": _ofx.ParseError,
    "TYPE_MISMATCH": _ofx.TypeMismatchError,
    "TARGETING_KEY_MISSING": _ofx.TargetingKeyMissingError,
    "INVALID_CONTEXT": _ofx.InvalidContextError,
    "PROVIDER_NOT_READY": _ofx.ProviderNotReadyError,
    "GENERAL": _ofx.GeneralError,
}


def _sdk_error(e: OFREPError) -> Exception:
    cls = _ERRORS.get(e.error_code, _ofx.GeneralError)
    return cls(str(e))


def _reason(r: str) -> Union[str, Reason]:
    try:
        return Reason(r)
    except ValueError:
        return r


class FlagopsProvider(AbstractProvider):
    """An OpenFeature provider over an :class:`~flagops.ofrep.OFREPClient`
    (remote) or a :class:`~flagops.cached.CachedEvaluator` (cached, pushed
    changes). ``name`` is the metadata name."""

    def __init__(self, evaluator: Union[OFREPClient, CachedEvaluator], *, name: str = "flagops"):
        self._name = name
        self.core = ProviderCore(evaluator, self._emit_event)

    def _emit_event(self, event: str, flags_changed: Optional[List[str]], message: Optional[str]) -> None:
        self.emit(_EVENTS[event], ProviderEventDetails(flags_changed=flags_changed, message=message))

    def get_metadata(self) -> Metadata:
        return Metadata(name=self._name)

    def get_provider_hooks(self) -> List[Hook]:
        return []

    def initialize(self, evaluation_context: EvaluationContext) -> None:
        self.core.initialize()

    def shutdown(self) -> None:
        self.core.shutdown()

    def _resolve(self, flag_type: str, flag_key: str, default_value: Any,
                 evaluation_context: Optional[EvaluationContext]) -> FlagResolutionDetails:
        tk = evaluation_context.targeting_key if evaluation_context is not None else None
        attrs = evaluation_context.attributes if evaluation_context is not None else None
        try:
            r = self.core.resolve(flag_type, flag_key, default_value, tk, attrs)
        except OFREPError as e:
            raise _sdk_error(e) from e
        return FlagResolutionDetails(value=r.value, reason=_reason(r.reason), variant=r.variant,
                                     flag_metadata=dict(r.metadata))

    def resolve_boolean_details(self, flag_key: str, default_value: bool,
                                evaluation_context: Optional[EvaluationContext] = None) -> FlagResolutionDetails[bool]:
        return self._resolve("boolean", flag_key, default_value, evaluation_context)

    def resolve_string_details(self, flag_key: str, default_value: str,
                               evaluation_context: Optional[EvaluationContext] = None) -> FlagResolutionDetails[str]:
        return self._resolve("string", flag_key, default_value, evaluation_context)

    def resolve_integer_details(self, flag_key: str, default_value: int,
                                evaluation_context: Optional[EvaluationContext] = None) -> FlagResolutionDetails[int]:
        return self._resolve("integer", flag_key, default_value, evaluation_context)

    def resolve_float_details(self, flag_key: str, default_value: float,
                              evaluation_context: Optional[EvaluationContext] = None) -> FlagResolutionDetails[float]:
        return self._resolve("float", flag_key, default_value, evaluation_context)

    def resolve_object_details(self, flag_key: str, default_value: Union[dict, list],
                               evaluation_context: Optional[EvaluationContext] = None) -> FlagResolutionDetails[Union[dict, list]]:
        return self._resolve("object", flag_key, default_value, evaluation_context)
