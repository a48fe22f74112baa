"""The OFREP evaluation core against a real flagops server."""

from __future__ import annotations

import datetime as dt
import json
import socket
import threading
import time
import unittest

from _server import Server, wait_for
import _fixtures as fx

import flagops
from flagops import make_context

srv: Server
admin: flagops.Client
token: str


def setUpModule():
    global srv, admin, token
    srv = Server().start()
    admin = srv.admin()
    fx.seed(admin)
    admin.call("CatalogService", "PutProject", {"project": {"meta": {"name": "other"}, "environments": [fx.ENV]}})
    token = fx.create_key(admin, "sdk-prod", "evaluator@environment/prod")


def tearDownModule():
    admin.close()
    srv.stop()


class EveryFlagType(unittest.TestCase):
    def setUp(self):
        self.c = flagops.OFREPClient(srv.url, token)
        self.addCleanup(self.c.close)

    def test_values_reasons_and_variants(self):
        ctx = make_context("user-1", {"tier": "pro", "country": "fr"}, project=fx.PROJECT)
        cases = [
            ("boolean", "new-checkout", False, True, "TARGETING_MATCH", "on"),
            ("string", "banner", "", "Sale!", "TARGETING_MATCH", "sale"),
            ("integer", "replicas", 0, 3, "TARGETING_MATCH", "pro"),
            ("float", "ratio", 0.0, 0.25, "STATIC", "low"),
            ("object", "limits", {}, {"cpu": 1, "memory": "512Mi", "zones": ["a"]}, "DEFAULT", "small"),
        ]
        for flag_type, key, default, want, reason, variant in cases:
            with self.subTest(flag_type=flag_type):
                r = self.c.details(flag_type, key, default, ctx)
                self.assertIsNone(r.error_code, r.error_message)
                self.assertEqual(r.value, want)
                self.assertIs(type(r.value), type(want))
                self.assertEqual((r.reason, r.variant), (reason, variant))
                self.assertEqual(getattr(self.c, flag_type)(key, default, ctx), want)

    def test_number_flag_as_float_and_integer(self):
        ctx = make_context("u", project=fx.PROJECT)
        self.assertEqual(self.c.float("replicas", 0.0, ctx), 1.0)
        self.assertIs(type(self.c.float("replicas", 0.0, ctx)), float)
        r = self.c.details("integer", "ratio", 7, ctx)
        self.assertEqual((r.value, r.error_code), (7, "TYPE_MISMATCH"))

    def test_type_mismatch_gives_default(self):
        ctx = make_context("u", project=fx.PROJECT)
        for flag_type, key, default in [("boolean", "banner", True), ("string", "replicas", "x"),
                                        ("integer", "new-checkout", 9), ("object", "banner", {"d": 1})]:
            with self.subTest(flag_type=flag_type, key=key):
                r = self.c.details(flag_type, key, default, ctx)
                self.assertEqual((r.value, r.reason, r.error_code), (default, "ERROR", "TYPE_MISMATCH"))
                with self.assertRaises(flagops.TypeMismatchError):
                    flagops._resolve.resolve(self.c, flag_type, key, default, ctx)

    def test_disabled_flag_without_value_serves_default(self):
        r = self.c.details("string", "dormant", "fallback", make_context("u", project=fx.PROJECT))
        self.assertEqual((r.value, r.reason, r.error_code), ("fallback", "DISABLED", None))

    def test_rollout_splits_by_targeting_key(self):
        seen = {self.c.boolean("rollout", None, make_context(f"user-{i}", project=fx.PROJECT)) for i in range(40)}
        self.assertEqual(seen, {True, False})

    def test_deployment_facts_through_project_and_target(self):
        admin.set_facts("deployment/shop@us-1", {"tier": "enterprise"})
        self.addCleanup(admin.unset_facts, "deployment/shop@us-1", ["tier"])
        ev = self.c.evaluate("replicas", make_context("u", project=fx.PROJECT, target="us-1"))
        self.assertEqual((ev.value, ev.variant), (5, "enterprise"))
        # The caller's attributes win over the deployment's facts.
        ev = self.c.evaluate("replicas", make_context("u", {"tier": "pro"}, project=fx.PROJECT, target="us-1"))
        self.assertEqual(ev.value, 3)

    def test_datetime_attribute_is_sent_as_rfc3339(self):
        ctx = make_context("u", {"since": dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)}, project=fx.PROJECT)
        self.assertEqual(ctx["since"], "2030-01-02T03:04:05Z")
        self.assertEqual(self.c.evaluate("banner", ctx).value, "Hello")


class Bulk(unittest.TestCase):
    def setUp(self):
        self.c = flagops.OFREPClient(srv.url, token)
        self.addCleanup(self.c.close)

    def test_bulk_etag_and_change(self):
        ctx = make_context("u", project=fx.PROJECT, target="eu-1")
        b = self.c.bulk(ctx)
        self.assertEqual(set(b.flags), {f["key"] for f in fx.FLAGS})
        self.assertEqual(b.flags["replicas"].value, 1)
        self.assertTrue(b.etag)
        self.assertEqual(b.event_streams[0].type, "sse")
        self.assertIn("/ofrep/v1/events?project=shop&target=eu-1", b.event_streams[0].url)
        self.assertIsNone(self.c.bulk(ctx, etag=b.etag), "an unchanged bulk must be 304")
        admin.set_facts("deployment/shop@eu-1", {"tier": "enterprise"})
        self.addCleanup(admin.unset_facts, "deployment/shop@eu-1", ["tier"])
        b2 = self.c.bulk(ctx, etag=b.etag)
        self.assertIsNotNone(b2, "a fact change must change the ETag")
        self.assertNotEqual(b2.etag, b.etag)
        self.assertEqual(b2.flags["replicas"].value, 5)

    def test_bulk_reports_per_flag_errors(self):
        b = self.c.bulk(make_context(project=fx.PROJECT))  # no targeting key
        self.assertIsInstance(b.flags["rollout"], flagops.TargetingKeyMissingError)
        self.assertEqual(b.flags["banner"].value, "Hello")

    def test_keep_alive_reuses_one_connection(self):
        ctx = make_context("u", project=fx.PROJECT)
        for _ in range(25):
            self.c.evaluate("banner", ctx)
            self.c.bulk(ctx)
        self.assertEqual(self.c.transport.requests_sent, 50)
        self.assertEqual(self.c.transport.connections_opened, 1)

    def test_threads_share_the_pool(self):
        ctx = make_context("u", project=fx.PROJECT)
        errors = []

        def work():
            try:
                for _ in range(20):
                    assert self.c.evaluate("banner", ctx).value == "Hello"
            except Exception as e:  # reported below
                errors.append(e)

        ts = [threading.Thread(target=work) for _ in range(4)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        self.assertEqual(errors, [])
        self.assertLessEqual(self.c.transport.connections_opened, 4)


class ErrorMapping(unittest.TestCase):
    def test_spec_error_codes(self):
        c = flagops.OFREPClient(srv.url, token)
        self.addCleanup(c.close)
        cases = [
            ("unknown flag", "nope", make_context("u", project=fx.PROJECT), flagops.FlagNotFoundError, "FLAG_NOT_FOUND", 404),
            ("rollout without targeting key", "rollout", make_context(project=fx.PROJECT), flagops.TargetingKeyMissingError, "TARGETING_KEY_MISSING", 400),
            ("unknown target", "banner", make_context("u", project=fx.PROJECT, target="nowhere"), flagops.InvalidContextError, "INVALID_CONTEXT", 400),
            ("no project", "banner", make_context("u"), flagops.InvalidContextError, "INVALID_CONTEXT", 400),
            ("project not a string", "banner", {"targetingKey": "u", "project": 7}, flagops.InvalidContextError, "INVALID_CONTEXT", 400),
        ]
        for name, key, ctx, exc, code, status in cases:
            with self.subTest(name):
                with self.assertRaises(exc) as cm:
                    c.evaluate(key, ctx)
                self.assertEqual((cm.exception.error_code, cm.exception.status, cm.exception.flag_key), (code, status, key))
                self.assertEqual(c.details("string", key, "d", ctx).error_code, code)

    def test_parse_error_from_server(self):
        # A body the client would never send: the server's PARSE_ERROR
        # answer must map to ParseError.
        c = flagops.OFREPClient(srv.url, token)
        self.addCleanup(c.close)
        resp = c.transport.request("POST", "/ofrep/v1/evaluate/flags/banner", b"{not json", c.headers)
        self.assertEqual(resp.status, 400)
        with self.assertRaises(flagops.ParseError) as cm:
            c._raise_status(resp, "banner")
        self.assertEqual(cm.exception.error_code, "PARSE_ERROR")

    def test_context_that_is_not_json_is_a_parse_error(self):
        c = flagops.OFREPClient(srv.url, token)
        self.addCleanup(c.close)
        with self.assertRaises(flagops.ParseError):
            c.evaluate("banner", {"project": fx.PROJECT, "x": object()})
        self.assertEqual(c.transport.requests_sent, 0)

    def test_unauthorized_and_forbidden(self):
        bad = flagops.OFREPClient(srv.url, "fo_" + "x" * 43)
        self.addCleanup(bad.close)
        with self.assertRaises(flagops.UnauthorizedError) as cm:
            bad.evaluate("banner", make_context("u", project=fx.PROJECT))
        self.assertEqual((cm.exception.status, cm.exception.error_code), (401, "GENERAL"))
        self.assertNotIn("x" * 43, str(cm.exception))
        # A key bound to project "other" may not evaluate project "shop".
        other = fx.create_key(admin, "sdk-other", "evaluator@environment/prod", "evaluator@project/other")
        c = flagops.OFREPClient(srv.url, other)
        self.addCleanup(c.close)
        with self.assertRaises(flagops.ForbiddenError) as cm:
            c.evaluate("banner", make_context("u", project=fx.PROJECT))
        self.assertEqual(cm.exception.status, 403)
        # A key without flags.evaluate (a viewer) is refused too.
        viewer = flagops.OFREPClient(srv.url, fx.create_key(admin, "viewer-ofrep", "viewer"))
        self.addCleanup(viewer.close)
        with self.assertRaises((flagops.ForbiddenError, flagops.UnauthorizedError)):
            viewer.evaluate("banner", make_context("u", project=fx.PROJECT))

    def test_timeout(self):
        # A server that accepts the connection and never answers.
        ls = socket.socket()
        ls.bind(("127.0.0.1", 0))
        ls.listen(8)
        self.addCleanup(ls.close)
        c = flagops.OFREPClient(f"http://127.0.0.1:{ls.getsockname()[1]}", token, timeout=0.3)
        self.addCleanup(c.close)
        start = time.monotonic()
        with self.assertRaises(flagops.EvaluationTimeoutError) as cm:
            c.evaluate("banner", make_context("u", project=fx.PROJECT))
        took = time.monotonic() - start
        self.assertEqual(cm.exception.error_code, "GENERAL")
        self.assertLess(took, 2.0)
        self.assertGreaterEqual(took, 0.25)

    def test_connection_refused_is_general(self):
        c = flagops.OFREPClient(f"http://127.0.0.1:{_closed_port()}", token, timeout=1)
        self.addCleanup(c.close)
        with self.assertRaises(flagops.GeneralError):
            c.evaluate("banner", make_context("u", project=fx.PROJECT))


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RetryAfter(unittest.TestCase):
    """A server limiting each key to one evaluation per 2 s."""

    @classmethod
    def setUpClass(cls):
        cls.srv = Server("--ofrep-rate-limit", "0.5", "--ofrep-rate-burst", "1").start()
        a = cls.srv.admin()
        fx.seed(a)
        cls.token = fx.create_key(a, "sdk", "evaluator@environment/prod")
        a.close()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def test_retry_after_is_honoured(self):
        c = flagops.OFREPClient(self.srv.url, self.token)
        self.addCleanup(c.close)
        ctx = make_context("u", project=fx.PROJECT)
        self.assertEqual(c.evaluate("banner", ctx).value, "Hello")
        with self.assertRaises(flagops.RateLimitedError) as cm:
            c.evaluate("banner", ctx)
        e = cm.exception
        self.assertEqual((e.status, e.error_code), (429, "GENERAL"))
        now = dt.datetime.now(dt.timezone.utc)
        self.assertIsNotNone(e.retry_after)
        self.assertGreater(e.retry_after, now)
        self.assertLess(e.retry_after, now + dt.timedelta(seconds=5))
        # Until then nothing is sent: the client refuses on its own.
        sent = c.transport.requests_sent
        with self.assertRaises(flagops.RateLimitedError):
            c.evaluate("banner", ctx)
        with self.assertRaises(flagops.RateLimitedError):
            c.bulk(ctx)
        self.assertEqual(c.transport.requests_sent, sent)
        self.assertEqual(c.details("string", "banner", "d", ctx).error_code, "GENERAL")
        # After it, evaluation works again.
        wait_for(lambda: c.retry_after() is None, timeout=6, what="Retry-After to pass")
        self.assertEqual(c.evaluate("banner", ctx).value, "Hello")
        self.assertEqual(c.transport.requests_sent, sent + 1)


class RetryAfterParsing(unittest.TestCase):
    def test_formats(self):
        now = dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc)
        cases = [
            ("120", now + dt.timedelta(seconds=120)),
            ("2030-01-01T00:00:05Z", now + dt.timedelta(seconds=5)),
            ("Tue, 01 Jan 2030 00:00:07 GMT", now + dt.timedelta(seconds=7)),
            ("", None),
            ("soon", None),
        ]
        for header, want in cases:
            with self.subTest(header=header):
                self.assertEqual(flagops.parse_retry_after(header, now), want)


if __name__ == "__main__":
    unittest.main()
