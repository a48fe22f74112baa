"""Evaluations per second of the Python client against a real flagops server.

    python3 clients/python/bench/bench_eval.py [--duration 3] [--runs 3]

Starts ``flagops serve`` (SQLite; built once, or $FLAGOPS_BIN), creates the
``replicas`` flag and an evaluator key, and evaluates ``replicas`` for the
context {targetingKey: u1, tier: enterprise, project: shop} on one thread:

* remote: one OFREP request per evaluation over a keep-alive connection
  (``OFREPClient.evaluate``, and the provider adapter's typed resolve on
  top of it, which is what ``FlagopsProvider.resolve_integer_details`` does);
* cached: from the bulk evaluation held in memory (``CachedEvaluator``), the
  same two ways.

The Go provider's figures for the same flag and context come from
``go test ./openfeature -run '^$' -bench Provider``.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))

from _server import Server  # noqa: E402  (puts the package's src on the path)
import _fixtures as fx  # noqa: E402

import flagops  # noqa: E402
from flagops._adapter import ProviderCore  # noqa: E402

CTX = {"targetingKey": "u1", "tier": "enterprise", "project": fx.PROJECT}


def measure(fn, duration: float, timed: bool):
    """Run fn for ``duration`` seconds; return evals/s and (if timed) p50/p99 µs."""
    for _ in range(200):  # warm-up
        fn()
    lat = []
    n = 0
    start = time.perf_counter()
    end = start + duration
    if timed:
        while True:
            t0 = time.perf_counter()
            fn()
            t1 = time.perf_counter()
            lat.append(t1 - t0)
            n += 1
            if t1 >= end:
                break
    else:
        while time.perf_counter() < end:
            for _ in range(1000):
                fn()
            n += 1000
    elapsed = time.perf_counter() - start
    p = None
    if lat:
        lat.sort()
        p = (lat[len(lat) // 2] * 1e6, lat[int(len(lat) * 0.99)] * 1e6)
    return n / elapsed, p


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=float, default=3.0, help="seconds per measurement")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()

    srv = Server().start()
    try:
        admin = srv.admin()
        fx.seed(admin)
        token = fx.create_key(admin, "bench", "evaluator@environment/prod", "evaluator@project/shop")
        admin.close()
        remote = flagops.OFREPClient(srv.url, token)
        cached = flagops.CachedEvaluator(flagops.OFREPClient(srv.url, token), CTX, poll_interval=3600).start()
        rcore, ccore = ProviderCore(remote), ProviderCore(cached)
        assert remote.evaluate("replicas", CTX).value == 5 and cached.evaluate("replicas").value == 5
        cases = [
            ("remote", "OFREPClient.evaluate", lambda: remote.evaluate("replicas", CTX), True),
            ("remote", "provider adapter (typed)", lambda: rcore.resolve("integer", "replicas", -1, "u1", CTX), True),
            ("cached", "CachedEvaluator.evaluate", lambda: cached.evaluate("replicas"), False),
            ("cached", "provider adapter (typed)", lambda: ccore.resolve("integer", "replicas", -1), False),
        ]
        print(f"python {platform.python_version()} on {platform.machine()}, nproc={os.cpu_count()}; "
              f"{args.runs} runs of {args.duration:g}s each")
        for mode, what, fn, timed in cases:
            rates, pcts = [], []
            for _ in range(args.runs):
                r, p = measure(fn, args.duration, timed)
                rates.append(r)
                if p:
                    pcts.append(p)
            line = f"{mode:7} {what:28} evals/s: " + ", ".join(f"{r:,.0f}" for r in rates) + f"  (median {statistics.median(rates):,.0f})"
            if pcts:
                line += "  p50/p99 µs: " + ", ".join(f"{a:.0f}/{b:.0f}" for a, b in pcts)
            print(line, flush=True)
        cached.close()
        remote.close()
        print(f"connections opened by the remote client: {remote.transport.connections_opened}")
    finally:
        srv.stop()


if __name__ == "__main__":
    main()
