"""The OFREP evaluation core: single and bulk evaluation over HTTP.

A flagops API key with the ``evaluator`` role selects the workspace and the
environment; the context's ``project`` (or the key's project) selects the
flags, and a context ``target`` layers that deployment's resolved facts
under the caller's attributes. Errors are raised as the typed exceptions of
:mod:`flagops.errors`.
"""

from __future__ import annotations

import datetime as _dt
import email.utils
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Union
from urllib.parse import quote

from ._http import HTTPTransport, Timeout
from ._resolve import TypedEvaluation
from .errors import (
    EvaluationTimeoutError,
    FlagNotFoundError,
    ForbiddenError,
    GeneralError,
    OFREPError,
    ParseError,
    RateLimitedError,
    TransportError,
    UnauthorizedError,
    error_for_ofrep_code,
)

__all__ = ["Evaluation", "BulkEvaluation", "EventStream", "OFREPClient", "make_context", "parse_retry_after"]

PATH_SINGLE = "/ofrep/v1/evaluate/flags/"
PATH_BULK = "/ofrep/v1/evaluate/flags"


@dataclass(frozen=True)
class Evaluation:
    """One flag's successful evaluation.

    ``has_value`` is False when the server sent no value (a disabled flag
    without an off variation): the caller's default applies.
    """

    key: str
    value: Any = None
    reason: str = "UNKNOWN"
    variant: Optional[str] = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    has_value: bool = True


@dataclass(frozen=True)
class EventStream:
    """An entry of a bulk response's ``eventStreams``."""

    type: str
    url: str
    inactivity_delay_sec: Optional[int] = None


@dataclass(frozen=True)
class BulkEvaluation:
    """A bulk evaluation: every flag of the project for one context.

    ``flags`` maps a key to its :class:`Evaluation`, or to the
    :class:`~flagops.errors.OFREPError` the server reported for that flag.
    ``etag`` is sent back as ``If-None-Match`` to learn cheaply that nothing
    changed.
    """

    flags: Mapping[str, Union[Evaluation, OFREPError]]
    etag: Optional[str] = None
    event_streams: List[EventStream] = field(default_factory=list)


def _jsonable(v: Any) -> Any:
    if isinstance(v, _dt.datetime):
        if v.tzinfo is None:
            v = v.replace(tzinfo=_dt.timezone.utc)
        return v.isoformat().replace("+00:00", "Z")
    if isinstance(v, Mapping):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    return v


def make_context(
    targeting_key: Optional[str] = None,
    attributes: Optional[Mapping[str, Any]] = None,
    *,
    project: Optional[str] = None,
    target: Optional[str] = None,
) -> Dict[str, Any]:
    """Build an OFREP context: ``targetingKey`` plus the attributes.

    ``project`` and ``target`` are the flagops built-ins: the project whose
    flags are evaluated and the target whose deployment facts join the
    context. Datetimes become RFC 3339 strings.
    """
    ctx: Dict[str, Any] = {}
    for k, v in (attributes or {}).items():
        ctx[str(k)] = _jsonable(v)
    if targeting_key is not None:
        ctx["targetingKey"] = targeting_key
    if project is not None:
        ctx["project"] = project
    if target is not None:
        ctx["target"] = target
    return ctx


def parse_retry_after(value: Optional[str], now: Optional[_dt.datetime] = None) -> Optional[_dt.datetime]:
    """Parse a Retry-After header into a UTC datetime.

    Accepts delay-seconds and HTTP-dates (RFC 9110) and the RFC 3339
    date-time that the OFREP specification uses. Returns None when the
    header is absent or unreadable.
    """
    if not value:
        return None
    now = now or _dt.datetime.now(_dt.timezone.utc)
    v = value.strip()
    if v.isdigit():
        return now + _dt.timedelta(seconds=int(v))
    try:
        t = _dt.datetime.fromisoformat(v.replace("Z", "+00:00"))
    except ValueError:
        try:
            t = email.utils.parsedate_to_datetime(v)
        except (TypeError, ValueError, IndexError):
            return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=_dt.timezone.utc)
    return t.astimezone(_dt.timezone.utc)


def _parse_evaluation(d: Any, key: Optional[str] = None) -> Evaluation:
    if not isinstance(d, dict):
        raise ParseError("evaluation is not a JSON object", flag_key=key)
    k = d.get("key", key)
    if not isinstance(k, str):
        raise ParseError("evaluation has no key", flag_key=key)
    md = d.get("metadata") or {}
    if not isinstance(md, dict):
        raise ParseError("metadata is not an object", flag_key=k)
    reason = d.get("reason") or "UNKNOWN"
    variant = d.get("variant")
    return Evaluation(
        key=k,
        value=d.get("value"),
        reason=str(reason),
        variant=variant if isinstance(variant, str) else None,
        metadata=md,
        has_value="value" in d,
    )


def _failure(d: Dict[str, Any], key: Optional[str], status: int) -> OFREPError:
    code = d.get("errorCode") or "GENERAL"
    details = d.get("errorDetails") or ""
    return error_for_ofrep_code(str(code))(str(details), flag_key=d.get("key") or key, status=status)


class OFREPClient(TypedEvaluation):
    """Remote OFREP evaluation against a flagops server.

    ``base_url`` is the server (``http://127.0.0.1:8080``), ``api_key`` an
    evaluator key, sent as ``Authorization: Bearer``. Requests go over
    keep-alive connections (``transport``, shared by threads) and fail with
    :class:`~flagops.errors.EvaluationTimeoutError` after ``timeout``
    seconds. After a 429 the client sends no evaluation before the
    server's ``Retry-After`` time and raises
    :class:`~flagops.errors.RateLimitedError` instead.
    """

    def __init__(
        self,
        base_url: str,
        api_key: Optional[str] = None,
        *,
        timeout: float = 5.0,
        headers: Optional[Mapping[str, str]] = None,
        transport: Optional[HTTPTransport] = None,
    ):
        self.transport = transport or HTTPTransport(base_url, timeout=timeout)
        self._headers = {"Content-Type": "application/json", "Accept": "application/json"}
        self._headers.update(headers or {})
        if api_key:
            self._headers["Authorization"] = "Bearer " + api_key
        self._lock = threading.Lock()  # guards _retry_at and _retry_wall
        self._retry_at = 0.0  # time.monotonic() before which nothing is sent
        self._retry_wall: Optional[_dt.datetime] = None

    @property
    def headers(self) -> Dict[str, str]:
        """The headers every request carries (credentials included)."""
        return dict(self._headers)

    def close(self) -> None:
        self.transport.close()

    # -- Retry-After

    def _check_paused(self, key: Optional[str]) -> None:
        with self._lock:
            at, wall = self._retry_at, self._retry_wall
        if at and time.monotonic() < at:
            raise RateLimitedError(f"rate limited until {wall.isoformat() if wall else '?'}", retry_after=wall, flag_key=key, status=429)

    def retry_after(self) -> Optional[_dt.datetime]:
        """The time before which no request is sent, when rate limited."""
        with self._lock:
            if self._retry_at and time.monotonic() < self._retry_at:
                return self._retry_wall
        return None

    def _pause(self, header: Optional[str]) -> Optional[_dt.datetime]:
        now = _dt.datetime.now(_dt.timezone.utc)
        wall = parse_retry_after(header, now)
        if wall is None:
            return None
        delay = max(0.0, (wall - now).total_seconds())
        with self._lock:
            self._retry_at = time.monotonic() + delay
            self._retry_wall = wall
        return wall

    # -- requests

    def _post(self, path: str, ctx: Optional[Mapping[str, Any]], key: Optional[str], extra: Optional[Mapping[str, str]] = None):
        self._check_paused(key)
        try:
            body = json.dumps({"context": _jsonable(dict(ctx or {}))}, separators=(",", ":")).encode()
        except (TypeError, ValueError) as e:
            raise ParseError(f"context is not JSON: {e}", flag_key=key) from e
        hdrs = self._headers if not extra else {**self._headers, **extra}
        try:
            return self.transport.request("POST", path, body, hdrs)
        except Timeout as e:
            raise EvaluationTimeoutError(str(e), flag_key=key) from e
        except TransportError as e:
            raise GeneralError(str(e), flag_key=key) from e

    def _raise_status(self, resp, key: Optional[str]) -> None:
        s = resp.status
        if s == 401:
            raise UnauthorizedError("API key missing or not valid", flag_key=key, status=s)
        if s == 403:
            raise ForbiddenError("API key may not evaluate this flag", flag_key=key, status=s)
        if s == 429:
            wall = self._pause(resp.headers.get("retry-after"))
            raise RateLimitedError(f"rate limited until {wall.isoformat() if wall else '?'}", retry_after=wall, flag_key=key, status=s)
        data = None
        if resp.body:
            try:
                data = json.loads(resp.body)
            except ValueError:
                data = None
        if isinstance(data, dict) and (data.get("errorCode") or s in (400, 404)):
            err = _failure(data, key, s)
            if s == 404 and not data.get("errorCode"):
                err = FlagNotFoundError(str(data.get("errorDetails") or ""), flag_key=key, status=s)
            raise err
        if s == 404:
            raise FlagNotFoundError("", flag_key=key, status=s)
        details = data.get("errorDetails") if isinstance(data, dict) else None
        raise GeneralError(str(details or f"HTTP {s}"), flag_key=key, status=s)

    def evaluate(self, key: str, context: Optional[Mapping[str, Any]] = None) -> Evaluation:
        """Evaluate one flag for ``context`` (see :func:`make_context`)."""
        if not key:
            raise ParseError("flag key is empty")
        resp = self._post(PATH_SINGLE + quote(key, safe=""), context, key)
        if resp.status != 200:
            self._raise_status(resp, key)
        try:
            data = json.loads(resp.body)
        except ValueError as e:
            raise ParseError(f"response is not JSON: {e}", flag_key=key, status=resp.status) from e
        if isinstance(data, dict) and data.get("errorCode"):
            raise _failure(data, key, resp.status)
        return _parse_evaluation(data, key)

    def bulk(self, context: Optional[Mapping[str, Any]] = None, etag: Optional[str] = None) -> Optional[BulkEvaluation]:
        """Evaluate every flag for ``context``.

        With ``etag`` (from an earlier result) the request carries
        ``If-None-Match`` and returns None when nothing changed (304).
        """
        extra = {"If-None-Match": etag} if etag else None
        resp = self._post(PATH_BULK, context, None, extra)
        if resp.status == 304:
            return None
        if resp.status != 200:
            self._raise_status(resp, None)
        try:
            data = json.loads(resp.body)
        except ValueError as e:
            raise ParseError(f"response is not JSON: {e}", status=resp.status) from e
        if not isinstance(data, dict) or not isinstance(data.get("flags", []), list):
            raise ParseError("bulk response has no flags list", status=resp.status)
        flags: Dict[str, Union[Evaluation, OFREPError]] = {}
        for d in data.get("flags") or []:
            if isinstance(d, dict) and d.get("errorCode"):
                e = _failure(d, None, resp.status)
                if e.flag_key:
                    flags[e.flag_key] = e
                continue
            ev = _parse_evaluation(d)
            flags[ev.key] = ev
        streams = []
        for s in data.get("eventStreams") or []:
            if isinstance(s, dict) and isinstance(s.get("url"), str):
                delay = s.get("inactivityDelaySec")
                streams.append(EventStream(str(s.get("type", "")), s["url"], delay if isinstance(delay, int) else None))
        return BulkEvaluation(flags=flags, etag=resp.headers.get("etag"), event_streams=streams)
