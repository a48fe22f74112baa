"""The OpenFeature provider's logic without the SDK: lifecycle, context
conversion, typed resolution and the events a provider emits. The SDK
class in :mod:`flagops.provider` only translates these into SDK types, so
everything here is tested whether or not the SDK is installed."""

from __future__ import annotations

import threading
from typing import Any, Callable, List, Mapping, Optional, Union

from ._resolve import Resolution, resolve
from .cached import READY, STALE, CachedEvaluator
from .ofrep import OFREPClient, make_context

__all__ = ["ProviderCore", "CONFIGURATION_CHANGED", "PROVIDER_STALE", "PROVIDER_READY"]

# The provider events, named as openfeature.event.ProviderEvent names them.
CONFIGURATION_CHANGED = "PROVIDER_CONFIGURATION_CHANGED"
PROVIDER_STALE = "PROVIDER_STALE"
PROVIDER_READY = "PROVIDER_READY"

#: emit(event, flags_changed, message)
Emitter = Callable[[str, Optional[List[str]], Optional[str]], None]


class ProviderCore:
    """What a flagops OpenFeature provider does, in flagops terms.

    ``evaluator`` is an :class:`~flagops.ofrep.OFREPClient` (remote mode:
    every evaluation is one request) or a
    :class:`~flagops.cached.CachedEvaluator` (cached mode: evaluations read
    memory; a pushed change emits ``PROVIDER_CONFIGURATION_CHANGED`` with
    the changed flag keys, a failing refresh ``PROVIDER_STALE`` and the
    recovery ``PROVIDER_READY``).
    """

    def __init__(self, evaluator: Union[OFREPClient, CachedEvaluator], emit: Optional[Emitter] = None):
        self.evaluator = evaluator
        self._emit = emit
        self._wired = False
        self._lock = threading.Lock()  # guards _wired

    @property
    def cached(self) -> bool:
        return isinstance(self.evaluator, CachedEvaluator)

    def set_emitter(self, emit: Optional[Emitter]) -> None:
        self._emit = emit

    def emit(self, event: str, flags_changed: Optional[List[str]] = None, message: Optional[str] = None) -> None:
        if self._emit is not None:
            self._emit(event, flags_changed, message)

    def initialize(self) -> None:
        """Start the cached evaluator (its first fetch raises on failure,
        which the SDK reports as a provider error)."""
        ev = self.evaluator
        if not isinstance(ev, CachedEvaluator):
            return
        with self._lock:
            wire, self._wired = not self._wired, True
        if wire:
            ev.on_change(lambda keys: self.emit(CONFIGURATION_CHANGED, list(keys), "flag evaluations changed"))
        ev.start()
        # Wired after start: the SDK itself emits PROVIDER_READY when
        # initialize returns, so the first READY is not repeated here.
        if wire:
            ev.on_state(self._state)

    def _state(self, state: str, err: Optional[Exception]) -> None:
        if state == STALE:
            self.emit(PROVIDER_STALE, None, str(err) if err else "refresh failed")
        elif state == READY:
            self.emit(PROVIDER_READY, None, "refreshed")

    def shutdown(self) -> None:
        """Stop the cached evaluator's threads, or close the remote client's idle connections."""
        self.evaluator.close()

    def resolve(self, flag_type: str, key: str, default: Any, targeting_key: Optional[str] = None,
                attributes: Optional[Mapping[str, Any]] = None) -> Resolution:
        """Resolve a typed flag; raises :class:`~flagops.errors.OFREPError`
        (whose ``error_code`` is the OpenFeature error code) on failure."""
        ctx = make_context(targeting_key, attributes)
        return resolve(self.evaluator, flag_type, key, default, ctx or None)
