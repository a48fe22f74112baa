"""Typed results of the Connect API: plain dataclasses built from the
protobuf JSON messages (int64 fields arrive as strings, timestamps as
RFC 3339, bytes as base64; absent fields are zero values)."""

from __future__ import annotations

import base64
import datetime as _dt
import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional

__all__ = [
    "Fact", "Facts", "ResolvedFacts", "BulkSetResult", "Secret", "SecretValue", "DesiredVersion",
    "SetVersionResult", "DeploymentVersion", "Artifact", "Release", "Change", "WatchEvent",
]

_TS = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})$")


def parse_time(v: Any) -> Optional[_dt.datetime]:
    """Parse a protobuf JSON Timestamp (nanosecond precision is cut to
    microseconds). None when absent."""
    if not isinstance(v, str) or not v:
        return None
    m = _TS.match(v)
    if not m:
        raise ValueError(f"not an RFC 3339 timestamp: {v!r}")
    frac = (m.group(2) or "")[:6].ljust(6, "0")
    tz = "+00:00" if m.group(3) == "Z" else m.group(3)
    return _dt.datetime.fromisoformat(f"{m.group(1)}.{frac}{tz}")


def _int(v: Any) -> int:
    return int(v) if v not in (None, "") else 0


def _str(v: Any) -> str:
    return v if isinstance(v, str) else ""


def _bytes(v: Any) -> bytes:
    if not v:
        return b""
    s = str(v)
    # protojson emits standard base64 with padding, and accepts URL-safe.
    s = s.replace("-", "+").replace("_", "/")
    return base64.b64decode(s + "=" * (-len(s) % 4))


@dataclass(frozen=True)
class Fact:
    scope: str
    key: str
    value: Any
    revision: int
    update_time: Optional[_dt.datetime] = None

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "Fact":
        return cls(_str(d.get("scope")), _str(d.get("key")), d.get("value"), _int(d.get("revision")), parse_time(d.get("updateTime")))


@dataclass(frozen=True)
class Facts:
    """The facts set on one scope, by key, and the scope's revision (pass it
    as ``expected_revision`` to write only if nothing moved)."""

    scope: str
    facts: Dict[str, Fact]
    revision: int

    def values(self) -> Dict[str, Any]:
        return {k: f.value for k, f in self.facts.items()}


@dataclass(frozen=True)
class ResolvedFacts:
    """A deployment's facts merged from general to specific scopes;
    ``sources`` names the scope every value came from (or ``builtin``)."""

    workspace: str
    project: str
    environment: str
    target: str
    facts: Dict[str, Any]
    sources: Dict[str, str]
    revision: int

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "ResolvedFacts":
        return cls(_str(d.get("workspace")), _str(d.get("project")), _str(d.get("environment")), _str(d.get("target")),
                   dict(d.get("facts") or {}), dict(d.get("sources") or {}), _int(d.get("revision")))


@dataclass(frozen=True)
class BulkSetResult:
    revision: int
    scopes: int


@dataclass(frozen=True)
class Secret:
    """A secret's metadata; never its value."""

    scope: str
    key: str
    version: int
    fingerprint: str
    deleted: bool = False
    revision: int = 0
    update_time: Optional[_dt.datetime] = None
    source: str = ""

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "Secret":
        return cls(_str(d.get("scope")), _str(d.get("key")), _int(d.get("version")), _str(d.get("fingerprint")),
                   bool(d.get("deleted")), _int(d.get("revision")), parse_time(d.get("updateTime")), _str(d.get("source")))


@dataclass(frozen=True)
class SecretValue:
    """A secret version's value. The value is left out of ``repr`` so that
    logging the object does not leak it."""

    secret: Secret
    version: int
    value: bytes = field(repr=False)

    @property
    def text(self) -> str:
        return self.value.decode("utf-8")


@dataclass(frozen=True)
class DesiredVersion:
    workspace: str
    project: str
    environment: str
    target: str
    version: str
    reason: str = ""
    actor: str = ""
    revision: int = 0
    update_time: Optional[_dt.datetime] = None

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "DesiredVersion":
        return cls(_str(d.get("workspace")), _str(d.get("project")), _str(d.get("environment")), _str(d.get("target")),
                   _str(d.get("version")), _str(d.get("reason")), _str(d.get("actor")), _int(d.get("revision")),
                   parse_time(d.get("updateTime")))


@dataclass(frozen=True)
class SetVersionResult:
    """``revision`` is 0 when the version was already set."""

    version: DesiredVersion
    revision: int


@dataclass(frozen=True)
class DeploymentVersion:
    project: str
    environment: str
    target: str
    desired: str
    pinned: bool
    deployed: str
    status: str = ""
    message: str = ""
    since: Optional[_dt.datetime] = None

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "DeploymentVersion":
        return cls(_str(d.get("project")), _str(d.get("environment")), _str(d.get("target")), _str(d.get("desired")),
                   bool(d.get("pinned")), _str(d.get("deployed")), _str(d.get("status")), _str(d.get("message")),
                   parse_time(d.get("since")))


@dataclass(frozen=True)
class Artifact:
    name: str
    platform: str = ""
    url: str = ""
    sha256: str = ""
    size: int = 0
    signature: str = ""

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "Artifact":
        return cls(_str(d.get("name")), _str(d.get("platform")), _str(d.get("url")), _str(d.get("sha256")),
                   _int(d.get("size")), _str(d.get("signature")))

    def to_json(self) -> Dict[str, Any]:
        out: Dict[str, Any] = {"name": self.name}
        for k in ("platform", "url", "sha256", "signature"):
            if getattr(self, k):
                out[k] = getattr(self, k)
        if self.size:
            out["size"] = str(self.size)
        return out


@dataclass(frozen=True)
class Release:
    workspace: str
    project: str
    version: str
    commits: Dict[str, str] = field(default_factory=dict)
    artifacts: List[Artifact] = field(default_factory=list)
    notes: str = ""
    labels: Dict[str, str] = field(default_factory=dict)
    actor: str = ""
    revision: int = 0
    create_time: Optional[_dt.datetime] = None

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "Release":
        return cls(_str(d.get("workspace")), _str(d.get("project")), _str(d.get("version")), dict(d.get("commits") or {}),
                   [Artifact.from_json(a) for a in d.get("artifacts") or []], _str(d.get("notes")),
                   dict(d.get("labels") or {}), _str(d.get("actor")), _int(d.get("revision")), parse_time(d.get("createTime")))


@dataclass(frozen=True)
class Change:
    """One change-log entry. ``operation`` is ``create``, ``update``,
    ``delete`` or ``none``; ``before`` / ``after`` are the resource's JSON."""

    revision: int
    seq: int
    time: Optional[_dt.datetime]
    actor: str
    request_id: str
    workspace: str
    kind: str
    key: str
    operation: str
    before: Any = None
    after: Any = None

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "Change":
        op = _str(d.get("operation")).removeprefix("OPERATION_").lower()
        return cls(_int(d.get("revision")), _int(d.get("seq")), parse_time(d.get("time")), _str(d.get("actor")),
                   _str(d.get("requestId")), _str(d.get("workspace")), _str(d.get("kind")), _str(d.get("key")),
                   op or "unspecified", d.get("before"), d.get("after"))


@dataclass(frozen=True)
class WatchEvent:
    """One message of the watch stream: the changes of one revision; or,
    with no changes, the end of the replay (``caught_up``) or a progress
    notice carrying the current revision."""

    revision: int
    changes: List[Change]
    caught_up: bool = False

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "WatchEvent":
        return cls(_int(d.get("revision")), [Change.from_json(c) for c in d.get("changes") or []], bool(d.get("caughtUp")))
