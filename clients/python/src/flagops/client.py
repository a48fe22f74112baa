"""The flagops API over Connect's JSON protocol: facts, secrets, versions,
releases and the change log's watch stream, with typed results."""

from __future__ import annotations

import base64
import logging
import threading
from typing import Any, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Union

from ._http import HTTPTransport, Stream
from .connect import ConnectTransport
from .errors import ConnectError
from .types import (
    Artifact,
    BulkSetResult,
    DeploymentVersion,
    DesiredVersion,
    Fact,
    Facts,
    Release,
    ResolvedFacts,
    Secret,
    SecretValue,
    SetVersionResult,
    WatchEvent,
)

__all__ = ["Client", "Watch", "RETRYABLE_CODES"]

log = logging.getLogger("flagops.client")

#: Connect codes after which a watch reconnects instead of raising.
RETRYABLE_CODES = frozenset({"unavailable", "deadline_exceeded", "unknown"})


def _i64(v: int) -> str:
    # protobuf JSON carries int64 as a string.
    return str(int(v))


class Client:
    """A client of one flagops server.

    ``token`` is an API key (``fo_…``), sent as ``Authorization: Bearer``;
    ``workspace`` is the workspace of every call ("" means the server's
    default). Calls share keep-alive connections and are safe from several
    threads. Failures raise :class:`~flagops.errors.ConnectError`
    subclasses carrying the Connect ``code`` and, for validation errors,
    the ``field`` and ``rule``.
    """

    def __init__(
        self,
        base_url: str,
        token: Optional[str] = None,
        *,
        workspace: str = "",
        timeout: float = 10.0,
        headers: Optional[Mapping[str, str]] = None,
        transport: Optional[HTTPTransport] = None,
    ):
        self.http = transport or HTTPTransport(base_url, timeout=timeout)
        h = dict(headers or {})
        if token:
            h["Authorization"] = "Bearer " + token
        self.connect = ConnectTransport(self.http, h)
        self.workspace = workspace

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def call(self, service: str, method: str, message: Optional[Mapping[str, Any]] = None, *, timeout: Optional[float] = None) -> Dict[str, Any]:
        """Call any unary procedure of ``flagops.v1`` with a protobuf-JSON
        message, e.g. ``call("CatalogService", "PutEnvironment", {...})``."""
        return self.connect.unary(f"/flagops.v1.{service}/{method}", message or {}, timeout)

    def _ws(self, m: Dict[str, Any]) -> Dict[str, Any]:
        if self.workspace:
            m["workspace"] = self.workspace
        return m

    # -- facts

    def get_facts(self, scope: str) -> Facts:
        """The facts set directly on ``scope`` ("environment/prod",
        "deployment/shop@eu-1", …)."""
        r = self.call("FactService", "GetFacts", self._ws({"scope": scope}))
        facts = [Fact.from_json(f) for f in r.get("facts") or []]
        return Facts(scope, {f.key: f for f in facts}, int(r.get("revision") or 0))

    def set_facts(self, scope: str, values: Mapping[str, Any], *, expected_revision: Optional[int] = None) -> int:
        """Set keys of ``scope``; returns the write's revision. With
        ``expected_revision`` the write fails with ``aborted`` if the
        scope's facts moved since."""
        m = self._ws({"scope": scope, "values": dict(values)})
        if expected_revision is not None:
            m["expectedRevision"] = _i64(expected_revision)
        return int(self.call("FactService", "SetFacts", m).get("revision") or 0)

    def unset_facts(self, scope: str, keys: Sequence[str], *, expected_revision: Optional[int] = None) -> int:
        m = self._ws({"scope": scope, "keys": list(keys)})
        if expected_revision is not None:
            m["expectedRevision"] = _i64(expected_revision)
        return int(self.call("FactService", "UnsetFacts", m).get("revision") or 0)

    def bulk_set_facts(self, entries: Union[Mapping[str, Mapping[str, Any]], Iterable[tuple]]) -> BulkSetResult:
        """Set the facts of many scopes in one transaction (all or nothing,
        one revision). ``entries`` maps scope → values."""
        items = entries.items() if isinstance(entries, Mapping) else entries
        m = self._ws({"entries": [{"scope": s, "values": dict(v)} for s, v in items]})
        r = self.call("FactService", "BulkSetFacts", m)
        return BulkSetResult(int(r.get("revision") or 0), int(r.get("scopes") or 0))

    def resolve_facts(self, project: str, target: str) -> ResolvedFacts:
        """The facts of deployment project@target, merged from every scope,
        with the scope each value came from."""
        return ResolvedFacts.from_json(self.call("FactService", "ResolveFacts", self._ws({"project": project, "target": target})))

    # -- secrets

    def put_secret(self, scope: str, key: str, value: Union[bytes, str], *, cas: Optional[int] = None) -> Secret:
        """Store a new version of a secret; ``cas`` is the version expected
        to be current (0: the secret must not exist yet)."""
        raw = value.encode("utf-8") if isinstance(value, str) else bytes(value)
        m = self._ws({"scope": scope, "key": key, "value": base64.b64encode(raw).decode("ascii")})
        if cas is not None:
            m["cas"] = _i64(cas)
        return Secret.from_json(self.call("SecretService", "PutSecret", m).get("secret") or {})

    def get_secret(self, scope: str, key: str, version: int = 0) -> SecretValue:
        """Read a secret's value (version 0: the current one). Needs the
        ``secrets.read`` permission; the server audits every read."""
        m = self._ws({"scope": scope, "key": key})
        if version:
            m["version"] = _i64(version)
        r = self.call("SecretService", "GetSecret", m)
        return SecretValue(Secret.from_json(r.get("secret") or {}), int(r.get("version") or 0),
                           base64.b64decode(r.get("value") or ""))

    def list_secrets(self, scope: str = "") -> List[Secret]:
        """Keys, versions and fingerprints of a scope (or the workspace)."""
        r = self.call("SecretService", "ListSecrets", self._ws({"scope": scope} if scope else {}))
        return [Secret.from_json(s) for s in r.get("secrets") or []]

    # -- versions

    def set_version(self, project: str, environment: str, version: str = "", *, target: str = "", reason: str = "", unpin: bool = False) -> SetVersionResult:
        """Set a project's version in an environment, or pin (``target``) or
        unpin one target."""
        m = self._ws({"project": project, "environment": environment})
        for k, v in (("version", version), ("target", target), ("reason", reason)):
            if v:
                m[k] = v
        if unpin:
            m["unpin"] = True
        r = self.call("VersionService", "SetVersion", m)
        return SetVersionResult(DesiredVersion.from_json(r.get("version") or {}), int(r.get("revision") or 0))

    def get_versions(self, project: str = "", environment: str = "", target: str = "") -> List[DeploymentVersion]:
        m = self._ws({k: v for k, v in (("project", project), ("environment", environment), ("target", target)) if v})
        return [DeploymentVersion.from_json(d) for d in self.call("VersionService", "GetVersions", m).get("deployments") or []]

    def report_version(self, project: str, target: str, version: str, *, status: str = "", message: str = "") -> int:
        """Report what runs on a target (an agent's call); returns the revision."""
        m = self._ws({"project": project, "target": target, "version": version})
        if status:
            m["status"] = status
        if message:
            m["message"] = message
        return int(self.call("VersionService", "ReportVersion", m).get("revision") or 0)

    def drift(self, project: str = "", environment: str = "", page_size: int = 0) -> List[DeploymentVersion]:
        """Deployments whose deployed version is not the desired one, oldest
        drift first."""
        m = self._ws({k: v for k, v in (("project", project), ("environment", environment)) if v})
        if page_size:
            m["pageSize"] = page_size
        return [DeploymentVersion.from_json(d) for d in self.call("VersionService", "Drift", m).get("deployments") or []]

    # -- releases

    def create_release(
        self,
        project: str,
        version: str,
        *,
        commits: Optional[Mapping[str, str]] = None,
        artifacts: Optional[Sequence[Union[Artifact, Mapping[str, Any]]]] = None,
        notes: str = "",
        labels: Optional[Mapping[str, str]] = None,
    ) -> Release:
        """Record a release: ``commits`` maps repository → 40-hex commit,
        ``artifacts`` are :class:`Artifact` values (or dicts of its fields)."""
        rel: Dict[str, Any] = {"project": project, "version": version}
        if self.workspace:
            rel["workspace"] = self.workspace
        if commits:
            rel["commits"] = dict(commits)
        if artifacts:
            rel["artifacts"] = [a.to_json() if isinstance(a, Artifact) else Artifact(**a).to_json() for a in artifacts]
        if notes:
            rel["notes"] = notes
        if labels:
            rel["labels"] = dict(labels)
        return Release.from_json(self.call("ReleaseService", "CreateRelease", {"release": rel}).get("release") or {})

    def get_release(self, project: str, version: str) -> Release:
        r = self.call("ReleaseService", "GetRelease", self._ws({"project": project, "version": version}))
        return Release.from_json(r.get("release") or {})

    def list_releases(self, project: str = "", *, commit: str = "", sha256: str = "", page_size: int = 0) -> List[Release]:
        """A project's releases newest first, or those containing a commit
        hash or an artifact sha256."""
        m = self._ws({k: v for k, v in (("project", project), ("commit", commit), ("sha256", sha256)) if v})
        if page_size:
            m["pageSize"] = page_size
        return [Release.from_json(r) for r in self.call("ReleaseService", "ListReleases", m).get("releases") or []]

    def find_releases_by_commit(self, commit: str, project: str = "") -> List[Release]:
        return self.list_releases(project, commit=commit)

    def find_releases_by_sha256(self, sha256: str, project: str = "") -> List[Release]:
        return self.list_releases(project, sha256=sha256)

    # -- the change log

    def revision(self) -> int:
        """The server's current revision."""
        return int(self.call("ChangeService", "GetRevision").get("revision") or 0)

    def watch(
        self,
        from_revision: int = 0,
        *,
        kinds: Optional[Sequence[str]] = None,
        key_prefixes: Optional[Sequence[str]] = None,
        workspace: Optional[str] = None,
        reconnect: bool = True,
        min_backoff: float = 0.1,
        max_backoff: float = 10.0,
        read_timeout: Optional[float] = 35.0,
    ) -> "Watch":
        """Follow the change log after ``from_revision``: the replay, a
        ``caught_up`` marker, then live changes. Iterate the result; see
        :class:`Watch`."""
        filt: Dict[str, Any] = {}
        ws = self.workspace if workspace is None else workspace
        if ws:
            filt["workspace"] = ws
        if kinds:
            filt["kinds"] = list(kinds)
        if key_prefixes:
            filt["keyPrefixes"] = list(key_prefixes)
        return Watch(self.connect, from_revision, filt, reconnect=reconnect, min_backoff=min_backoff,
                     max_backoff=max_backoff, read_timeout=read_timeout)


class Watch:
    """An iterator of :class:`~flagops.types.WatchEvent` that resumes.

    When the connection drops, the server restarts, or the stream ends
    (the server shutting down ends it cleanly), the watch reconnects with
    exponential backoff from ``revision``, the last revision it yielded, so
    nothing is skipped and nothing is repeated. Errors whose code is not in
    :data:`RETRYABLE_CODES` (``permission_denied``, ``out_of_range`` for a
    compacted revision, …) are raised. ``close()`` (from any thread) ends
    the iteration. ``reconnects`` counts the resumptions.
    """

    PROCEDURE = "/flagops.v1.ChangeService/Watch"

    def __init__(self, transport: ConnectTransport, from_revision: int, filt: Dict[str, Any], *, reconnect: bool,
                 min_backoff: float, max_backoff: float, read_timeout: Optional[float]):
        self._t = transport
        self.revision = int(from_revision)
        self._filter = filt
        self._reconnect = reconnect
        self._min = min_backoff
        self._max = max_backoff
        self._read_timeout = read_timeout
        self._closed = threading.Event()
        self._stream: Optional[Stream] = None
        self._lock = threading.Lock()  # guards _stream
        self.reconnects = 0
        self._gen = self._run()

    def __iter__(self) -> Iterator[WatchEvent]:
        return self

    def __next__(self) -> WatchEvent:
        return next(self._gen)

    def close(self) -> None:
        self._closed.set()
        with self._lock:
            st = self._stream
        if st is not None:
            st.close()

    def __enter__(self) -> "Watch":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self) -> Iterator[WatchEvent]:
        backoff = self._min
        while not self._closed.is_set():
            req: Dict[str, Any] = {"fromRevision": _i64(self.revision)}
            if self._filter:
                req["filter"] = self._filter
            try:
                st = self._t.open_server_stream(self.PROCEDURE, req, self._read_timeout)
            except ConnectError as e:
                if self._closed.is_set():
                    return
                if not (self._reconnect and e.code in RETRYABLE_CODES):
                    raise
                log.info("flagops: watch connect failed (%s); retrying in %.2fs", e.code, backoff)
                if self._closed.wait(backoff):
                    return
                backoff = min(backoff * 2, self._max)
                continue
            with self._lock:
                self._stream = st
            try:
                for msg in self._t.messages(st, self.PROCEDURE):
                    ev = WatchEvent.from_json(msg)
                    if ev.revision > self.revision:
                        self.revision = ev.revision
                    backoff = self._min
                    yield ev
            except ConnectError as e:
                if self._closed.is_set():
                    return
                if not (self._reconnect and e.code in RETRYABLE_CODES):
                    raise
                log.info("flagops: watch lost (%s) at revision %d; resuming", e.code, self.revision)
            finally:
                with self._lock:
                    self._stream = None
                st.close()
            if not self._reconnect or self._closed.is_set():
                return
            self.reconnects += 1
            if self._closed.wait(backoff):
                return
            backoff = min(backoff * 2, self._max)
