"""flagops: a client of the flagops server, standard library only.

* :class:`OFREPClient` evaluates flags over OFREP (single and bulk with
  ETag), and :class:`CachedEvaluator` holds a bulk evaluation for a fixed
  context, refreshed by the server's event stream.
* :class:`Client` calls the Connect API: facts, secrets, versions,
  releases and ``watch``.
* ``flagops.provider.FlagopsProvider`` is the OpenFeature provider; it is
  imported on first use, since it needs the OpenFeature SDK.
"""

from __future__ import annotations

from typing import Any

from ._http import HTTPTransport
from ._resolve import Resolution, coerce
from .cached import CachedEvaluator
from .client import Client, Watch
from .errors import *  # noqa: F401,F403 - the exceptions are part of the API
from .errors import __all__ as _errors_all
from .ofrep import BulkEvaluation, Evaluation, EventStream, OFREPClient, make_context, parse_retry_after
from .types import *  # noqa: F401,F403
from .types import __all__ as _types_all

__version__ = "0.1.0"

__all__ = [
    "HTTPTransport", "Resolution", "coerce", "CachedEvaluator", "Client", "Watch", "BulkEvaluation",
    "Evaluation", "EventStream", "OFREPClient", "make_context", "parse_retry_after", "FlagopsProvider",
    *_errors_all, *_types_all,
]


def __getattr__(name: str) -> Any:
    # The provider imports the OpenFeature SDK; load it only when asked for.
    if name == "FlagopsProvider":
        from .provider import FlagopsProvider

        return FlagopsProvider
    raise AttributeError(f"module 'flagops' has no attribute {name!r}")
