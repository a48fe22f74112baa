"""Cached mode: a bulk evaluation held in memory, refreshed by the event
stream's push, reconnecting, and polling when there is no stream."""

from __future__ import annotations

import socket
import statistics
import sys
import threading
import time
import unittest

from _server import Server, wait_for
import _fixtures as fx

import flagops
from flagops import CachedEvaluator, make_context

srv: Server
admin: flagops.Client
token: str


def setUpModule():
    global srv, admin, token
    srv = Server().start()
    admin = srv.admin()
    fx.seed(admin)
    token = fx.create_key(admin, "sdk-prod", "evaluator@environment/prod")


def tearDownModule():
    admin.close()
    srv.stop()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Push(unittest.TestCase):
    def setUp(self):
        admin.set_facts("deployment/shop@eu-1", {"tier": "free"})
        self.core = flagops.OFREPClient(srv.url, token)
        # A poll interval far beyond the test: changes can only arrive by push.
        self.ce = CachedEvaluator(self.core, make_context("svc", project=fx.PROJECT, target="eu-1"), poll_interval=3600)
        self.changes = []
        self.ce.on_change(self.changes.append)
        self.ce.start()
        self.addCleanup(self.core.close)
        self.addCleanup(self.ce.close)
        wait_for(lambda: self.ce.streaming, what="event stream")

    def test_fact_change_reaches_cached_mode_by_push(self):
        self.assertEqual(self.ce.integer("replicas", 0), 1)
        lat = []
        for i, (tier, want) in enumerate([("enterprise", 5), ("pro", 3), ("free", 1), ("enterprise", 5), ("pro", 3)]):
            start = time.monotonic()
            admin.set_facts("deployment/shop@eu-1", {"tier": tier})
            wait_for(lambda: self.ce.integer("replicas", 0) == want, what=f"replicas={want} by push")
            lat.append(time.monotonic() - start)
        self.assertEqual(self.ce.polls, 0, "no poll may have happened")
        self.assertEqual(self.ce.stream_connects, 1)
        self.assertIn(["limits", "new-checkout", "replicas"], self.changes)
        print(f"\n[cached] fact write -> cached value by push: median {statistics.median(lat)*1000:.1f} ms, "
              f"max {max(lat)*1000:.1f} ms (n={len(lat)}, SetFacts round trip included)", file=sys.stderr)

    def test_flag_change_reaches_cached_mode(self):
        self.assertEqual(self.ce.string("banner", ""), "Hello")
        flag = dict(next(f for f in fx.FLAGS if f["key"] == "banner"), project=fx.PROJECT)
        flag["variations"] = [{"key": "hello", "value": "Bonjour"}, {"key": "sale", "value": "Sale!"}]
        admin.call("FlagService", "PutFlag", {"flag": flag})
        self.addCleanup(admin.call, "FlagService", "PutFlag", {"flag": dict(next(f for f in fx.FLAGS if f["key"] == "banner"), project=fx.PROJECT)})
        wait_for(lambda: self.ce.string("banner", "") == "Bonjour", what="flag change by push")
        self.assertIn(["banner"], self.changes)

    def test_evaluations_read_memory(self):
        sent = self.core.transport.requests_sent
        for _ in range(200):
            self.assertIs(self.ce.boolean("new-checkout", None), False)
            self.assertEqual(self.ce.object("limits", {})["cpu"], 1)
            self.assertEqual(self.ce.float("ratio", 0.0), 0.25)
        self.assertEqual(self.core.transport.requests_sent, sent)

    def test_errors_from_the_cache(self):
        with self.assertRaises(flagops.FlagNotFoundError):
            self.ce.evaluate("nope")
        self.assertEqual(self.ce.details("integer", "banner", 4).error_code, "TYPE_MISMATCH")
        self.assertEqual(self.ce.details("string", "dormant", "d").value, "d")

    def test_other_context_is_evaluated_remotely(self):
        sent = self.core.transport.requests_sent
        self.assertEqual(self.ce.integer("replicas", 0, {"tier": "pro"}), 3)
        self.assertEqual(self.core.transport.requests_sent, sent + 1)
        self.assertEqual(self.ce.integer("replicas", 0, {"project": fx.PROJECT}), 1)  # same as the fixed context
        self.assertEqual(self.core.transport.requests_sent, sent + 1)


class NotReady(unittest.TestCase):
    def test_before_start(self):
        core = flagops.OFREPClient(srv.url, token)
        self.addCleanup(core.close)
        ce = CachedEvaluator(core, make_context("u", project=fx.PROJECT))
        with self.assertRaises(flagops.ProviderNotReadyError):
            ce.evaluate("banner")

    def test_start_raises_the_first_fetch_error(self):
        core = flagops.OFREPClient(srv.url, "fo_" + "y" * 43)
        self.addCleanup(core.close)
        ce = CachedEvaluator(core, make_context("u", project=fx.PROJECT))
        with self.assertRaises(flagops.UnauthorizedError):
            ce.start()


class PollingFallback(unittest.TestCase):
    """A server whose advertised event stream cannot be reached: the
    evaluator keeps trying to connect and polls meanwhile."""

    def test_change_reaches_cached_mode_by_polling(self):
        s = Server("--public-url", f"http://127.0.0.1:{_closed_port()}").start()
        self.addCleanup(s.stop)
        a = s.admin()
        fx.seed(a)
        tok = fx.create_key(a, "sdk", "evaluator@environment/prod")
        a.set_facts("deployment/shop@eu-1", {"tier": "free"})
        a.close()
        core = flagops.OFREPClient(s.url, tok)
        self.addCleanup(core.close)
        ce = CachedEvaluator(core, make_context("svc", project=fx.PROJECT, target="eu-1"), poll_interval=0.2,
                             reconnect_delay=0.1, max_reconnect_delay=0.5)
        ce.start()
        self.addCleanup(ce.close)
        self.assertEqual(ce.integer("replicas", 0), 1)
        with s.admin() as a:
            a.set_facts("deployment/shop@eu-1", {"tier": "enterprise"})
        wait_for(lambda: ce.integer("replicas", 0) == 5, what="replicas=5 by polling")
        self.assertEqual(ce.stream_connects, 0)
        self.assertFalse(ce.streaming)
        self.assertGreater(ce.refreshes, 1)
        # Later polls find nothing new: the ETag makes them 304s.
        wait_for(lambda: ce.not_modified > 0, what="a 304 poll")

    def test_polling_only(self):
        core = flagops.OFREPClient(srv.url, token)
        self.addCleanup(core.close)
        ce = CachedEvaluator(core, make_context("svc", project=fx.PROJECT, target="us-1"), poll_interval=0.1, use_event_stream=False)
        ce.start()
        self.addCleanup(ce.close)
        admin.set_facts("deployment/shop@us-1", {"tier": "pro"})
        self.addCleanup(admin.unset_facts, "deployment/shop@us-1", ["tier"])
        wait_for(lambda: ce.integer("replicas", 0) == 3, what="replicas=3 by polling")
        self.assertGreater(ce.polls, 0)
        self.assertEqual(ce.stream_connects, 0)


class Reconnect(unittest.TestCase):
    """The event stream survives a server restart: the evaluator serves the
    held values while the server is down (STALE), reconnects, and a change
    made after the restart arrives by push."""

    def test_server_restart(self):
        s = Server().start()
        self.addCleanup(s.stop)
        a = s.admin()
        fx.seed(a)
        tok = fx.create_key(a, "sdk", "evaluator@environment/prod")
        a.set_facts("deployment/shop@eu-1", {"tier": "free"})
        a.close()
        core = flagops.OFREPClient(s.url, tok, timeout=1)
        self.addCleanup(core.close)
        states = []
        ce = CachedEvaluator(core, make_context("svc", project=fx.PROJECT, target="eu-1"), poll_interval=3600,
                             reconnect_delay=0.1, max_reconnect_delay=0.5)
        ce.on_state(lambda st, err: states.append(st))
        ce.start()
        self.addCleanup(ce.close)
        wait_for(lambda: ce.streaming, what="event stream")
        s.stop()
        wait_for(lambda: not ce.streaming, what="stream lost")
        wait_for(lambda: "STALE" in states, what="STALE state")
        self.assertEqual(ce.integer("replicas", 0), 1, "held values are served while the server is down")
        s.start()
        wait_for(lambda: ce.streaming and ce.stream_connects >= 2, timeout=15, what="stream reconnected")
        wait_for(lambda: states[-1] == "READY", what="READY again")
        polls = ce.polls
        with s.admin() as a:
            a.set_facts("deployment/shop@eu-1", {"tier": "enterprise"})
        wait_for(lambda: ce.integer("replicas", 0) == 5, what="replicas=5 by push after restart")
        self.assertEqual(ce.polls, polls)


if __name__ == "__main__":
    unittest.main()
