"""Exceptions raised by the flagops client.

Two families share the base class :class:`FlagopsError`:

* :class:`OFREPError` and its subclasses for flag evaluation. ``error_code``
  is the OFREP / OpenFeature error code (``FLAG_NOT_FOUND``,
  ``PARSE_ERROR``, ``TYPE_MISMATCH``, ``TARGETING_KEY_MISSING``,
  ``INVALID_CONTEXT``, ``GENERAL``), so a provider can map it one to one.
* :class:`ConnectError` and its subclasses for the rest of the API. ``code``
  is the Connect code (``invalid_argument``, ``not_found``, …) and ``field``
  and ``rule`` name the request field a validation error is about.

Messages never contain API keys or secret values.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any, Dict, List, Optional, Type

__all__ = [
    "FlagopsError",
    "TransportError",
    "OFREPError",
    "FlagNotFoundError",
    "ParseError",
    "TypeMismatchError",
    "TargetingKeyMissingError",
    "InvalidContextError",
    "GeneralError",
    "ProviderNotReadyError",
    "UnauthorizedError",
    "ForbiddenError",
    "RateLimitedError",
    "EvaluationTimeoutError",
    "ConnectError",
    "error_for_ofrep_code",
    "connect_error",
]


class FlagopsError(Exception):
    """Base class of every exception this package raises."""


class TransportError(FlagopsError):
    """The server could not be reached or the connection failed mid-request."""


# ---------------------------------------------------------------------------
# OFREP


class OFREPError(FlagopsError):
    """A flag evaluation failed.

    ``error_code`` is the OFREP error code, ``details`` the server's
    ``errorDetails`` (or a description of the client-side failure),
    ``flag_key`` the flag when the failure concerns one, and ``status`` the
    HTTP status (0 when no answer was received).
    """

    error_code = "GENERAL"

    def __init__(self, details: str = "", *, flag_key: Optional[str] = None, status: int = 0):
        self.details = details
        self.flag_key = flag_key
        self.status = status
        msg = self.error_code
        if flag_key:
            msg += f" (flag {flag_key!r})"
        if details:
            msg += ": " + details
        super().__init__(msg)


class FlagNotFoundError(OFREPError):
    """The flag does not exist in the key's environment and project."""

    error_code = "FLAG_NOT_FOUND"


class ParseError(OFREPError):
    """The request or the response could not be parsed."""

    error_code = "PARSE_ERROR"


class TypeMismatchError(OFREPError):
    """The flag's value is not of the type the caller asked for."""

    error_code = "TYPE_MISMATCH"


class TargetingKeyMissingError(OFREPError):
    """The flag needs a targeting key and the context has none."""

    error_code = "TARGETING_KEY_MISSING"


class InvalidContextError(OFREPError):
    """The context is not valid (for example an unknown project or target)."""

    error_code = "INVALID_CONTEXT"


class GeneralError(OFREPError):
    """Any other evaluation failure (a server error, a lost connection)."""

    error_code = "GENERAL"


class ProviderNotReadyError(OFREPError):
    """A cached evaluator was asked before its first bulk evaluation arrived."""

    error_code = "PROVIDER_NOT_READY"


class UnauthorizedError(GeneralError):
    """HTTP 401: the API key is missing, unknown, expired or revoked."""


class ForbiddenError(GeneralError):
    """HTTP 403: the key may not evaluate in this environment or project."""


class RateLimitedError(GeneralError):
    """HTTP 429, or a call made before the server's ``Retry-After`` passed.

    ``retry_after`` is the UTC time before which the client sends no
    evaluation request to the server.
    """

    def __init__(self, details: str = "", *, retry_after: Optional[_dt.datetime] = None, **kw: Any):
        self.retry_after = retry_after
        super().__init__(details, **kw)


class EvaluationTimeoutError(GeneralError):
    """The server did not answer within the client's timeout."""


_OFREP_CODES: Dict[str, Type[OFREPError]] = {
    c.error_code: c
    for c in (FlagNotFoundError, ParseError, TypeMismatchError, TargetingKeyMissingError, InvalidContextError, GeneralError)
}


def error_for_ofrep_code(code: str) -> Type[OFREPError]:
    """Return the exception class of an OFREP error code (GeneralError when unknown)."""
    return _OFREP_CODES.get(code, GeneralError)


# ---------------------------------------------------------------------------
# Connect


class ConnectError(FlagopsError):
    """A Connect RPC failed.

    ``code`` is the Connect code as it appears on the wire
    (``"invalid_argument"``), ``message`` the server's message, and
    ``field`` / ``rule`` the request field and the rule it broke when the
    server attached a ``flagops.v1.ErrorDetail`` (empty otherwise).
    ``details`` holds every detail as ``{"type": ..., "value": ...}``.
    """

    code = "unknown"

    def __init__(
        self,
        message: str = "",
        *,
        code: Optional[str] = None,
        field: str = "",
        rule: str = "",
        procedure: str = "",
        details: Optional[List[Dict[str, Any]]] = None,
    ):
        if code is not None:
            self.code = code
        self.message = message
        self.field = field
        self.rule = rule
        self.procedure = procedure
        self.details = details or []
        where = f"{procedure}: " if procedure else ""
        super().__init__(f"{where}{self.code}: {message}")


def _connect_class(name: str, code: str, doc: str) -> Type[ConnectError]:
    return type(name, (ConnectError,), {"code": code, "__doc__": doc})


CanceledError = _connect_class("CanceledError", "canceled", "The call was canceled.")
UnknownError = _connect_class("UnknownError", "unknown", "The server's error had no known code.")
InvalidArgumentError = _connect_class("InvalidArgumentError", "invalid_argument", "The request is invalid; see field and rule.")
DeadlineExceededError = _connect_class("DeadlineExceededError", "deadline_exceeded", "The call's deadline passed.")
NotFoundError = _connect_class("NotFoundError", "not_found", "The named resource does not exist.")
AlreadyExistsError = _connect_class("AlreadyExistsError", "already_exists", "The resource exists already (a release is immutable).")
PermissionDeniedError = _connect_class("PermissionDeniedError", "permission_denied", "The API key's roles do not allow the call.")
ResourceExhaustedError = _connect_class("ResourceExhaustedError", "resource_exhausted", "A size or rate limit was hit.")
FailedPreconditionError = _connect_class("FailedPreconditionError", "failed_precondition", "The system is not in a state the call needs.")
AbortedError = _connect_class("AbortedError", "aborted", "A conflict: the expected revision moved.")
OutOfRangeError = _connect_class("OutOfRangeError", "out_of_range", "Out of range (a watch from a compacted revision).")
UnimplementedError = _connect_class("UnimplementedError", "unimplemented", "The server does not implement the procedure.")
InternalError = _connect_class("InternalError", "internal", "The server failed; its log names the request.")
UnavailableError = _connect_class("UnavailableError", "unavailable", "The server is unavailable; retrying may succeed.")
DataLossError = _connect_class("DataLossError", "data_loss", "Unrecoverable data loss.")
UnauthenticatedError = _connect_class("UnauthenticatedError", "unauthenticated", "The API key is missing or not valid.")

_CONNECT_CODES: Dict[str, Type[ConnectError]] = {
    c.code: c
    for c in (
        CanceledError, UnknownError, InvalidArgumentError, DeadlineExceededError, NotFoundError,
        AlreadyExistsError, PermissionDeniedError, ResourceExhaustedError, FailedPreconditionError,
        AbortedError, OutOfRangeError, UnimplementedError, InternalError, UnavailableError,
        DataLossError, UnauthenticatedError,
    )
}

__all__ += [c.__name__ for c in _CONNECT_CODES.values()]


def connect_error(code: str, message: str, **kw: Any) -> ConnectError:
    """Build the ConnectError subclass of ``code`` (UnknownError for an unknown code)."""
    cls = _CONNECT_CODES.get(code)
    if cls is None:
        return UnknownError(message, **kw)
    return cls(message, **kw)
