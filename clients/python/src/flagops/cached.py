"""Cached evaluation: one bulk evaluation for a fixed context, held in
memory and refreshed when the server says it changed.

The refresh follows the bulk response's ``eventStreams`` (OFREP server-sent
events): a ``refetchEvaluation`` event, or a (re)connection, fetches the
bulk evaluation again with ``If-None-Match``. While the event stream is down
the evaluator reconnects with backoff and polls meanwhile; without an event
stream it polls. Evaluations never wait for the network: they read the
evaluation held in memory.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any, Callable, Dict, List, Mapping, Optional

from ._http import Stream
from ._resolve import TypedEvaluation
from . import sse
from .errors import FlagNotFoundError, OFREPError, ProviderNotReadyError, RateLimitedError
from .ofrep import BulkEvaluation, Evaluation, OFREPClient, _jsonable

__all__ = ["CachedEvaluator", "READY", "STALE", "ERROR"]

log = logging.getLogger("flagops.cached")

READY = "READY"
STALE = "STALE"
ERROR = "ERROR"

ChangeListener = Callable[[List[str]], None]
StateListener = Callable[[str, Optional[Exception]], None]


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, OFREPError) or isinstance(b, OFREPError):
        return type(a) is type(b) and str(a) == str(b)
    return a == b


def _copy_error(e: OFREPError) -> OFREPError:
    # A fresh instance per raise: re-raising one stored instance would grow
    # its traceback on every evaluation.
    return type(e)(e.details, flag_key=e.flag_key, status=e.status)


class CachedEvaluator(TypedEvaluation):
    """Holds the bulk evaluation of ``context`` and keeps it current.

    ``start()`` fetches it once (raising the evaluation error if that
    fails) and starts two daemon threads: one reading the event stream, one
    refreshing. ``evaluate(key)`` answers from memory; a call whose context
    adds or changes attributes is evaluated remotely with the fixed context
    as its base (``remote_fallback``), since the held evaluation is for the
    fixed context only.

    Listeners added with :meth:`on_change` receive the keys of the flags
    whose evaluation changed; :meth:`on_state` listeners receive ``STALE``
    when a refresh fails (the held values stay) and ``READY`` when one
    succeeds again. Listeners run on the refresh thread and must not block.
    """

    def __init__(
        self,
        client: OFREPClient,
        context: Optional[Mapping[str, Any]] = None,
        *,
        poll_interval: float = 30.0,
        use_event_stream: bool = True,
        reconnect_delay: Optional[float] = None,
        max_reconnect_delay: float = 30.0,
        stream_timeout: float = 45.0,
        remote_fallback: bool = True,
    ):
        self.client = client
        self.context: Dict[str, Any] = _jsonable(dict(context or {}))
        self.poll_interval = poll_interval
        self.use_event_stream = use_event_stream
        self._reconnect_override = reconnect_delay
        self._reconnect = reconnect_delay if reconnect_delay is not None else 1.0
        self.max_reconnect_delay = max_reconnect_delay
        self.stream_timeout = stream_timeout
        self.remote_fallback = remote_fallback

        self._bulk: Optional[BulkEvaluation] = None  # replaced whole, never mutated
        self._change_listeners: List[ChangeListener] = []
        self._state_listeners: List[StateListener] = []
        self.state = ERROR
        self._wake = threading.Event()  # set: refresh now
        self._stop = threading.Event()
        self._streaming = threading.Event()  # set while an event stream is open
        self._stream: Optional[Stream] = None
        self._stream_lock = threading.Lock()  # guards _stream
        self._threads: List[threading.Thread] = []
        self._last_event_id: Optional[str] = None
        # Counters for diagnostics and tests.
        self.refreshes = 0
        self.not_modified = 0
        self.stream_connects = 0
        self.polls = 0

    # -- listeners

    def on_change(self, fn: ChangeListener) -> None:
        self._change_listeners.append(fn)

    def on_state(self, fn: StateListener) -> None:
        self._state_listeners.append(fn)

    def _set_state(self, state: str, err: Optional[Exception]) -> None:
        if state == self.state:
            return
        self.state = state
        for fn in list(self._state_listeners):
            try:
                fn(state, err)
            except Exception:  # a listener's failure must not stop refreshing
                log.exception("flagops: state listener failed")

    # -- lifecycle

    def start(self) -> "CachedEvaluator":
        """Fetch the first bulk evaluation and start following changes."""
        if self._threads:
            return self
        self._refresh()
        self._set_state(READY, None)
        t = threading.Thread(target=self._refresher, name="flagops-refresh", daemon=True)
        self._threads.append(t)
        t.start()
        if self.use_event_stream:
            s = threading.Thread(target=self._streamer, name="flagops-events", daemon=True)
            self._threads.append(s)
            s.start()
        return self

    def close(self) -> None:
        """Stop following changes; evaluations keep answering from memory."""
        self._stop.set()
        self._wake.set()
        with self._stream_lock:
            st = self._stream
        if st is not None:
            st.close()
        for t in self._threads:
            if t is not threading.current_thread():
                t.join(timeout=5)
        self._threads = []

    def __enter__(self) -> "CachedEvaluator":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def snapshot(self) -> Optional[BulkEvaluation]:
        """The bulk evaluation held now (None before the first)."""
        return self._bulk

    @property
    def streaming(self) -> bool:
        """Whether the event stream is connected."""
        return self._streaming.is_set()

    # -- evaluation

    def evaluate(self, key: str, context: Optional[Mapping[str, Any]] = None) -> Evaluation:
        """Answer from the held evaluation; see the class comment for a
        context that differs from the fixed one."""
        if context:
            merged = {**self.context, **_jsonable(dict(context))}
            if merged != self.context:
                if not self.remote_fallback:
                    raise OFREPError("context differs from the cached evaluator's fixed context", flag_key=key)
                return self.client.evaluate(key, merged)
        bulk = self._bulk
        if bulk is None:
            raise ProviderNotReadyError("no bulk evaluation yet; call start()", flag_key=key)
        r = bulk.flags.get(key)
        if r is None:
            raise FlagNotFoundError("flag not found in the cached evaluation", flag_key=key)
        if isinstance(r, OFREPError):
            raise _copy_error(r)
        return r

    # -- refreshing

    def refresh(self) -> None:
        """Ask the refresh thread to fetch now (returns at once)."""
        self._wake.set()

    def _refresh(self) -> List[str]:
        old = self._bulk
        new = self.client.bulk(self.context, etag=old.etag if old else None)
        self.refreshes += 1
        if new is None:
            self.not_modified += 1
            return []
        self._bulk = new
        if old is None:
            return []
        keys = set(old.flags) | set(new.flags)
        changed = sorted(k for k in keys if not _same(old.flags.get(k), new.flags.get(k)))
        if changed:
            for fn in list(self._change_listeners):
                try:
                    fn(changed)
                except Exception:
                    log.exception("flagops: change listener failed")
        return changed

    def _refresher(self) -> None:
        while not self._stop.is_set():
            timeout = None if self._streaming.is_set() else self.poll_interval
            woke = self._wake.wait(timeout)
            self._wake.clear()
            if self._stop.is_set():
                return
            if not woke:
                self.polls += 1
            try:
                self._refresh()
                self._set_state(READY, None)
            except RateLimitedError as e:
                # Honour Retry-After: wait, then fetch (the change is still due).
                delay = 1.0
                if e.retry_after is not None:
                    delay = max(0.05, e.retry_after.timestamp() - time.time())
                self._set_state(STALE, e)
                if self._stop.wait(delay):
                    return
                self._wake.set()
            except OFREPError as e:
                log.warning("flagops: refresh failed: %s", e)
                self._set_state(STALE, e)
                if not self._streaming.is_set():
                    continue
                # Retry soon even while streaming: the stream has told us
                # something changed and the fetch failed.
                if self._stop.wait(min(self._reconnect, self.poll_interval)):
                    return
                self._wake.set()

    # -- the event stream

    def _events_url(self) -> Optional[str]:
        bulk = self._bulk
        if bulk is None:
            return None
        for s in bulk.event_streams:
            if s.type == "sse":
                return s.url
        return None

    def _set_retry(self, ms: int) -> None:
        if self._reconnect_override is None:
            self._reconnect = ms / 1000.0

    def _streamer(self) -> None:
        delay = self._reconnect
        while not self._stop.is_set():
            url = self._events_url()
            if url is None:
                # The server advertises no event stream: polling only.
                if self._stop.wait(self.poll_interval):
                    return
                continue
            opened = False
            try:
                opened = self._follow(url)
            except Exception as e:  # any failure means: reconnect
                log.info("flagops: event stream lost: %s", e.__class__.__name__)
            finally:
                self._streaming.clear()
                with self._stream_lock:
                    st, self._stream = self._stream, None
                if st is not None:
                    st.close()
            if self._stop.is_set():
                return
            # Changes made while disconnected are fetched now, and polled
            # for until the stream is back.
            self._wake.set()
            if opened:
                delay = self._reconnect
            if self._stop.wait(delay):
                return
            delay = min(max(delay, 0.05) * 2, self.max_reconnect_delay)

    def _follow(self, url: str) -> bool:
        headers = {k: v for k, v in self.client.headers.items() if k.lower() not in ("content-type", "accept")}
        headers["Accept"] = "text/event-stream"
        headers["Cache-Control"] = "no-cache"
        if self._last_event_id:
            headers["Last-Event-ID"] = self._last_event_id
        st = self.client.transport.stream("GET", url, headers=headers, timeout=self.stream_timeout)
        with self._stream_lock:
            if self._stop.is_set():
                st.close()
                return False
            self._stream = st
        if st.status != 200 or not st.headers.get("content-type", "").startswith("text/event-stream"):
            log.info("flagops: event stream answered HTTP %d; polling", st.status)
            return False
        self.stream_connects += 1
        self._streaming.set()
        self._wake.set()  # whatever changed before we connected
        for ev in sse.parse(st.readline, self._set_retry):
            if ev.id:
                self._last_event_id = ev.id
            if ev.event != "message":
                continue
            try:
                msg = json.loads(ev.data)
            except ValueError:
                continue
            if isinstance(msg, dict) and msg.get("type") == "refetchEvaluation":
                self._wake.set()
        return True
