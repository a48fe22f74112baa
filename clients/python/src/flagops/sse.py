"""A server-sent events parser (the WHATWG event-stream format), enough for
OFREP event streams: ``data`` lines joined with newlines, ``event``, ``id``
and ``retry`` fields, comments ignored."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator, Optional

__all__ = ["Event", "parse"]


@dataclass(frozen=True)
class Event:
    event: str
    data: str
    id: Optional[str] = None


def parse(readline: Callable[[], bytes], on_retry: Optional[Callable[[int], None]] = None) -> Iterator[Event]:
    """Yield the events of a stream read line by line until ``readline``
    returns b"". ``on_retry`` receives every ``retry:`` value (milliseconds)."""
    data: list = []
    event = ""
    last_id: Optional[str] = None
    while True:
        raw = readline()
        if not raw:
            return
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        if line == "":
            if data:
                yield Event(event or "message", "\n".join(data), last_id)
            data, event = [], ""
            continue
        if line.startswith(":"):
            continue
        name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if name == "data":
            data.append(value)
        elif name == "event":
            event = value
        elif name == "id":
            if "\0" not in value:
                last_id = value
        elif name == "retry":
            if value.isdigit() and on_retry is not None:
                on_retry(int(value))
