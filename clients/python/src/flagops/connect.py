"""The Connect protocol over HTTP/1.1 with the JSON codec.

Unary calls POST the request as ``application/json`` and read the response
(or, on an HTTP error status, a Connect error object). Server-streaming
calls POST one enveloped request message as ``application/connect+json``
and read enveloped messages until the end-stream message; an envelope is
one flags byte (``0x01`` compressed, ``0x02`` end of stream) and a 4-byte
big-endian length, then that many bytes of JSON. The end-stream message is
``{"error": {...}, "metadata": {...}}``, the error present when the call
failed. This client never asks for compression, so a compressed envelope
is a protocol error.
"""

from __future__ import annotations

import base64
import json
import struct
from typing import Any, Dict, Iterator, List, Mapping, Optional, Tuple

from ._http import HTTPTransport, Stream, Timeout
from .errors import ConnectError, TransportError, connect_error

__all__ = ["ConnectTransport", "FLAG_COMPRESSED", "FLAG_END_STREAM", "envelope", "http_to_code", "error_from_json"]

FLAG_COMPRESSED = 0x01
FLAG_END_STREAM = 0x02
PROTOCOL_VERSION = "1"
ERROR_DETAIL_TYPE = "flagops.v1.ErrorDetail"


def envelope(payload: bytes, flags: int = 0) -> bytes:
    """Frame one message as Connect streaming does."""
    return struct.pack(">BI", flags, len(payload)) + payload


def http_to_code(status: int) -> str:
    """The Connect code of an HTTP status that carried no Connect error
    (the gRPC HTTP mapping the Connect protocol adopts)."""
    return {400: "internal", 401: "unauthenticated", 403: "permission_denied", 404: "unimplemented",
            429: "unavailable", 502: "unavailable", 503: "unavailable", 504: "unavailable"}.get(status, "unknown")


def _varint(b: bytes, i: int) -> Tuple[int, int]:
    shift = result = 0
    while True:
        if i >= len(b):
            raise ValueError("truncated varint")
        c = b[i]
        i += 1
        result |= (c & 0x7F) << shift
        if not c & 0x80:
            return result, i
        shift += 7


def _decode_error_detail(value: str) -> Tuple[str, str]:
    """Decode a flagops.v1.ErrorDetail from its protobuf wire form
    (field 1 ``field``, field 2 ``rule``; both strings)."""
    raw = base64.b64decode(value + "=" * (-len(value) % 4))
    out = {1: "", 2: ""}
    i = 0
    while i < len(raw):
        tag, i = _varint(raw, i)
        num, wt = tag >> 3, tag & 7
        if wt == 2:
            n, i = _varint(raw, i)
            if num in out:
                out[num] = raw[i:i + n].decode("utf-8", "replace")
            i += n
        elif wt == 0:
            _, i = _varint(raw, i)
        elif wt == 1:
            i += 8
        elif wt == 5:
            i += 4
        else:
            raise ValueError("unsupported wire type")
    return out[1], out[2]


def error_from_json(obj: Any, procedure: str = "", status: int = 0) -> ConnectError:
    """Build the ConnectError of a Connect error object."""
    if not isinstance(obj, dict) or not isinstance(obj.get("code"), str):
        return connect_error(http_to_code(status) if status else "unknown", f"HTTP {status}" if status else "malformed error", procedure=procedure)
    field = rule = ""
    details: List[Dict[str, Any]] = []
    for d in obj.get("details") or []:
        if not isinstance(d, dict):
            continue
        details.append(d)
        if d.get("type") == ERROR_DETAIL_TYPE and not field:
            debug = d.get("debug")
            if isinstance(debug, dict) and debug.get("field"):
                field, rule = str(debug.get("field", "")), str(debug.get("rule", ""))
            elif isinstance(d.get("value"), str):
                try:
                    field, rule = _decode_error_detail(d["value"])
                except ValueError:
                    pass
    if not field and isinstance(obj.get("field"), str):
        field = obj["field"]  # flagops' plain HTTP routes name the field at top level
    return connect_error(obj["code"], str(obj.get("message", "")), field=field, rule=rule, procedure=procedure, details=details)


class ConnectTransport:
    """Calls procedures ``/<package.Service>/<Method>`` with the Connect
    JSON protocol over an :class:`~flagops._http.HTTPTransport`."""

    def __init__(self, http: HTTPTransport, headers: Optional[Mapping[str, str]] = None):
        self.http = http
        self.headers = dict(headers or {})

    def _headers(self, content_type: str, timeout: Optional[float]) -> Dict[str, str]:
        h = {"Content-Type": content_type, "Connect-Protocol-Version": PROTOCOL_VERSION}
        h.update(self.headers)
        if timeout is not None and timeout > 0:
            h["Connect-Timeout-Ms"] = str(max(1, int(timeout * 1000)))
        return h

    def unary(self, procedure: str, message: Mapping[str, Any], timeout: Optional[float] = None) -> Dict[str, Any]:
        """Call a unary procedure; return the response message as a dict."""
        body = json.dumps(message, separators=(",", ":")).encode()
        t = timeout if timeout is not None else self.http.timeout
        try:
            resp = self.http.request("POST", procedure, body, self._headers("application/json", t), timeout=t)
        except Timeout as e:
            raise connect_error("deadline_exceeded", str(e), procedure=procedure) from e
        except TransportError as e:
            raise connect_error("unavailable", str(e), procedure=procedure) from e
        if resp.status != 200:
            try:
                obj = json.loads(resp.body) if resp.body else None
            except ValueError:
                obj = None
            raise error_from_json(obj, procedure, resp.status)
        try:
            out = json.loads(resp.body) if resp.body else {}
        except ValueError as e:
            raise connect_error("internal", f"response is not JSON: {e}", procedure=procedure) from e
        if not isinstance(out, dict):
            raise connect_error("internal", "response is not a JSON object", procedure=procedure)
        return out

    def open_server_stream(self, procedure: str, message: Mapping[str, Any], read_timeout: Optional[float] = None) -> Stream:
        """Start a server-streaming call; read it with :meth:`messages`."""
        body = envelope(json.dumps(message, separators=(",", ":")).encode())
        try:
            st = self.http.stream("POST", procedure, body, self._headers("application/connect+json", None), timeout=read_timeout)
        except Timeout as e:
            raise connect_error("deadline_exceeded", str(e), procedure=procedure) from e
        except TransportError as e:
            raise connect_error("unavailable", str(e), procedure=procedure) from e
        if st.status != 200:
            data = b""
            try:
                data = st.read(1 << 16)
            except TransportError:
                pass
            st.close()
            try:
                obj = json.loads(data) if data else None
            except ValueError:
                obj = None
            raise error_from_json(obj, procedure, st.status)
        ctype = st.headers.get("content-type", "")
        if not ctype.startswith("application/connect+json"):
            st.close()
            raise connect_error("internal", f"unexpected content type {ctype!r}", procedure=procedure)
        return st

    def messages(self, st: Stream, procedure: str) -> Iterator[Dict[str, Any]]:
        """Yield the stream's messages. Returns at a clean end of stream;
        raises the end-stream error, ``unavailable`` when the connection
        drops before the end-stream message, or ``internal`` on a protocol
        error."""
        while True:
            try:
                head = st.read(5)
            except Timeout as e:
                raise connect_error("deadline_exceeded", "stream read timed out", procedure=procedure) from e
            except TransportError as e:
                raise connect_error("unavailable", f"connection lost: {e}", procedure=procedure) from e
            if len(head) == 0:
                raise connect_error("unavailable", "connection closed before the end of the stream", procedure=procedure)
            if len(head) < 5:
                raise connect_error("unavailable", "connection closed inside an envelope", procedure=procedure)
            flags, n = struct.unpack(">BI", head)
            try:
                payload = st.read(n)
            except TransportError as e:
                raise connect_error("unavailable", f"connection lost: {e}", procedure=procedure) from e
            if len(payload) < n:
                raise connect_error("unavailable", "connection closed inside an envelope", procedure=procedure)
            if flags & FLAG_COMPRESSED:
                raise connect_error("internal", "protocol error: compressed message without negotiated compression", procedure=procedure)
            try:
                obj = json.loads(payload) if payload else {}
            except ValueError as e:
                raise connect_error("internal", f"message is not JSON: {e}", procedure=procedure) from e
            if flags & FLAG_END_STREAM:
                err = obj.get("error") if isinstance(obj, dict) else None
                if err:
                    raise error_from_json(err, procedure)
                return
            if flags != 0:
                raise connect_error("internal", f"protocol error: invalid envelope flags {flags}", procedure=procedure)
            if not isinstance(obj, dict):
                raise connect_error("internal", "message is not a JSON object", procedure=procedure)
            yield obj
