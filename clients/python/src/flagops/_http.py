"""HTTP/1.1 transport on the standard library: keep-alive connections to one
origin, reused across calls and shared by threads, with timeouts.

Everything above it (OFREP, Connect) sends whole requests and reads whole
responses through :meth:`HTTPTransport.request`, or opens a long-lived
response (server-sent events, a Connect stream) on a connection of its own
with :meth:`HTTPTransport.stream`.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import threading
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Tuple
from urllib.parse import urlsplit

from .errors import TransportError

__all__ = ["HTTPTransport", "Response", "Stream", "Timeout"]


class Timeout(TransportError):
    """The server did not answer within the timeout."""


# A reused keep-alive connection that the server closed while it was idle
# fails with one of these before any byte of the answer arrives; the
# request never reached a handler, so it is sent again on a new connection.
_STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError, ConnectionAbortedError)


@dataclass
class Response:
    """A complete HTTP response. ``headers`` has lower-case names."""

    status: int
    headers: Dict[str, str] = field(default_factory=dict)
    body: bytes = b""


def _origin(url: str) -> Tuple[str, str, int, str]:
    u = urlsplit(url)
    if u.scheme not in ("http", "https"):
        raise ValueError(f"base_url: scheme must be http or https, got {url!r}")
    if not u.hostname:
        raise ValueError(f"base_url: no host in {url!r}")
    port = u.port or (443 if u.scheme == "https" else 80)
    return u.scheme, u.hostname, port, u.path.rstrip("/")


class Stream:
    """A response read incrementally on a connection of its own.

    ``status`` and ``headers`` are known once it is open; read it with
    :meth:`read` / :meth:`readline` and :meth:`close` it when done (closing
    from another thread interrupts a blocked read).
    """

    def __init__(self, conn: http.client.HTTPConnection, resp: http.client.HTTPResponse):
        self._conn = conn
        self._resp = resp
        self.status = resp.status
        self.headers = {k.lower(): v for k, v in resp.getheaders()}
        self._lock = threading.Lock()
        self.closed = False

    def read(self, n: int) -> bytes:
        """Read exactly n bytes, or fewer at the end of the body."""
        out = bytearray()
        while len(out) < n:
            try:
                chunk = self._resp.read(n - len(out))
            except socket.timeout as e:
                raise Timeout("stream read timed out") from e
            except (OSError, http.client.HTTPException, ValueError, AttributeError) as e:
                raise TransportError(f"stream read failed: {e.__class__.__name__}") from e
            if not chunk:
                break
            out += chunk
        return bytes(out)

    def readline(self) -> bytes:
        """Read one line (with its terminator); b"" at the end of the body."""
        try:
            return self._resp.readline()
        except socket.timeout as e:
            raise Timeout("stream read timed out") from e
        except (OSError, http.client.HTTPException, ValueError, AttributeError) as e:
            raise TransportError(f"stream read failed: {e.__class__.__name__}") from e

    def close(self) -> None:
        with self._lock:
            if self.closed:
                return
            self.closed = True
        # Shutting the socket down first wakes a thread blocked in recv.
        sock = self._conn.sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._conn.close()

    def __enter__(self) -> "Stream":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class HTTPTransport:
    """Keep-alive HTTP/1.1 connections to the origin of ``base_url``.

    Safe for use by several threads: each request takes an idle connection
    (or opens one) and gives it back when the response has been read, so a
    steady caller uses one connection. ``timeout`` bounds connecting and
    every read (seconds). ``connections_opened`` and ``requests_sent`` count
    what the transport did, for tests and diagnostics.
    """

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 5.0,
        max_idle: int = 8,
        ssl_context: Optional[ssl.SSLContext] = None,
    ):
        self.scheme, self.host, self.port, self.base_path = _origin(base_url)
        self.base_url = f"{self.scheme}://{self.host}:{self.port}{self.base_path}"
        self.timeout = timeout
        self.max_idle = max_idle
        self._ssl = ssl_context
        self._idle: List[http.client.HTTPConnection] = []
        self._lock = threading.Lock()  # guards _idle and the counters
        self.connections_opened = 0
        self.requests_sent = 0
        self._closed = False

    # -- connections

    def _new_conn(self, scheme: str, host: str, port: int, timeout: float) -> http.client.HTTPConnection:
        with self._lock:
            self.connections_opened += 1
        if scheme == "https":
            ctx = self._ssl or ssl.create_default_context()
            return http.client.HTTPSConnection(host, port, timeout=timeout, context=ctx)
        return http.client.HTTPConnection(host, port, timeout=timeout)

    def _get_conn(self, timeout: float) -> Tuple[http.client.HTTPConnection, bool]:
        with self._lock:
            conn = self._idle.pop() if self._idle else None
        if conn is None:
            return self._new_conn(self.scheme, self.host, self.port, timeout), False
        conn.timeout = timeout
        if conn.sock is not None:
            conn.sock.settimeout(timeout)
        return conn, True

    def _put_conn(self, conn: http.client.HTTPConnection) -> None:
        with self._lock:
            if not self._closed and len(self._idle) < self.max_idle:
                self._idle.append(conn)
                return
        conn.close()

    def close(self) -> None:
        """Close every idle connection; later requests open new ones."""
        with self._lock:
            idle, self._idle = self._idle, []
        for c in idle:
            c.close()

    # -- requests

    def request(
        self,
        method: str,
        path: str,
        body: Optional[bytes] = None,
        headers: Optional[Mapping[str, str]] = None,
        timeout: Optional[float] = None,
    ) -> Response:
        """Send one request and read the whole response.

        Raises :class:`Timeout` when the server does not answer in time and
        :class:`TransportError` when the connection fails. A request that
        fails on a reused connection the server had closed is sent once
        more on a new connection.
        """
        t = self.timeout if timeout is None else timeout
        hdrs = dict(headers or {})
        for attempt in (0, 1):
            conn, reused = self._get_conn(t)
            try:
                with self._lock:
                    self.requests_sent += 1
                conn.request(method, self.base_path + path, body=body, headers=hdrs)
                resp = conn.getresponse()
                data = resp.read()
            except socket.timeout as e:
                conn.close()
                raise Timeout(f"{method} {path}: no answer within {t:g}s") from e
            except _STALE as e:
                conn.close()
                if reused and attempt == 0:
                    continue
                raise TransportError(f"{method} {path}: connection failed ({e.__class__.__name__})") from e
            except (OSError, http.client.HTTPException) as e:
                conn.close()
                raise TransportError(f"{method} {path}: {e.__class__.__name__}: {e}") from e
            out = Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, data)
            if resp.will_close:
                conn.close()
            else:
                self._put_conn(conn)
            return out
        raise AssertionError("unreachable")

    def stream(
        self,
        method: str,
        url_or_path: str,
        body: Optional[bytes] = None,
        headers: Optional[Mapping[str, str]] = None,
        timeout: Optional[float] = None,
    ) -> Stream:
        """Open a long-lived response on a new connection.

        ``url_or_path`` is a path under the base URL or an absolute URL
        (an OFREP event stream may live on another origin). ``timeout``
        bounds connecting and each read; a stream that is silent for longer
        fails with :class:`Timeout`.
        """
        t = self.timeout if timeout is None else timeout
        if url_or_path.startswith(("http://", "https://")):
            u = urlsplit(url_or_path)
            scheme, host, port, _ = _origin(url_or_path)
            target = (u.path or "/") + (f"?{u.query}" if u.query else "")
        else:
            scheme, host, port = self.scheme, self.host, self.port
            target = self.base_path + url_or_path
        conn = self._new_conn(scheme, host, port, t)
        try:
            with self._lock:
                self.requests_sent += 1
            conn.request(method, target, body=body, headers=dict(headers or {}))
            resp = conn.getresponse()
        except socket.timeout as e:
            conn.close()
            raise Timeout(f"{method} {target}: no answer within {t:g}s") from e
        except (OSError, http.client.HTTPException) as e:
            conn.close()
            raise TransportError(f"{method} {target}: {e.__class__.__name__}: {e}") from e
        return Stream(conn, resp)
