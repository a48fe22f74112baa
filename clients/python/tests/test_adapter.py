"""The OpenFeature provider's logic (flagops._adapter.ProviderCore) with the
core on its own: runs whether or not the OpenFeature SDK is installed."""

from __future__ import annotations

import threading
import unittest

from _server import Server, wait_for
import _fixtures as fx

import flagops
from flagops import CachedEvaluator, make_context
from flagops._adapter import CONFIGURATION_CHANGED, PROVIDER_READY, ProviderCore

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


class Remote(unittest.TestCase):
    def setUp(self):
        self.core = ProviderCore(flagops.OFREPClient(srv.url, token))
        self.addCleanup(self.core.shutdown)
        self.core.initialize()

    def test_every_type(self):
        attrs = {"project": fx.PROJECT, "tier": "enterprise", "country": "fr"}
        cases = [
            ("boolean", "new-checkout", False, True),
            ("string", "banner", "", "Sale!"),
            ("integer", "replicas", 0, 5),
            ("float", "ratio", 0.0, 0.25),
            ("object", "limits", {}, {"cpu": 4, "memory": "4Gi", "zones": ["a", "b"]}),
        ]
        for flag_type, key, default, want in cases:
            with self.subTest(flag_type):
                r = self.core.resolve(flag_type, key, default, "user-1", attrs)
                self.assertEqual(r.value, want)
                self.assertIs(type(r.value), type(want))
                self.assertIn(r.reason, ("TARGETING_MATCH", "STATIC"))

    def test_errors_carry_openfeature_codes(self):
        cases = [
            ("integer", "nope", "u", {"project": fx.PROJECT}, "FLAG_NOT_FOUND"),
            ("boolean", "banner", "u", {"project": fx.PROJECT}, "TYPE_MISMATCH"),
            ("boolean", "rollout", None, {"project": fx.PROJECT}, "TARGETING_KEY_MISSING"),
            ("string", "banner", "u", {"project": fx.PROJECT, "target": "nowhere"}, "INVALID_CONTEXT"),
            ("string", "banner", "u", {}, "INVALID_CONTEXT"),
        ]
        for flag_type, key, tk, attrs, code in cases:
            with self.subTest(key=key, code=code):
                with self.assertRaises(flagops.OFREPError) as cm:
                    self.core.resolve(flag_type, key, None, tk, attrs)
                self.assertEqual(cm.exception.error_code, code)

    def test_disabled_flag_resolves_to_default(self):
        r = self.core.resolve("string", "dormant", "fallback", "u", {"project": fx.PROJECT})
        self.assertEqual((r.value, r.reason, r.error_code), ("fallback", "DISABLED", None))


class Cached(unittest.TestCase):
    def test_configuration_changed_on_push(self):
        admin.set_facts("deployment/shop@us-1", {"tier": "free"})
        events = []
        got = threading.Event()

        def emit(event, flags, message):
            events.append((event, flags))
            if event == CONFIGURATION_CHANGED:
                got.set()

        ofrep = flagops.OFREPClient(srv.url, token)
        ce = CachedEvaluator(ofrep, make_context("svc", project=fx.PROJECT, target="us-1"), poll_interval=3600)
        core = ProviderCore(ce, emit)
        self.assertTrue(core.cached)
        core.initialize()
        self.addCleanup(core.shutdown)
        wait_for(lambda: ce.streaming, what="event stream")
        # The SDK emits PROVIDER_READY when initialize returns; the provider
        # must not repeat it.
        self.assertNotIn(PROVIDER_READY, [e for e, _ in events])
        # With no context (the SDK's empty context) the cache answers.
        self.assertEqual(core.resolve("integer", "replicas", 0).value, 1)
        admin.set_facts("deployment/shop@us-1", {"tier": "enterprise"})
        self.assertTrue(got.wait(10), "no PROVIDER_CONFIGURATION_CHANGED")
        self.assertIn((CONFIGURATION_CHANGED, ["limits", "new-checkout", "replicas"]), events)
        self.assertEqual(core.resolve("integer", "replicas", 0).value, 5)
        self.assertEqual(core.resolve("integer", "replicas", 0, "svc", {"project": fx.PROJECT, "target": "us-1"}).value, 5)
        self.assertEqual(ce.polls, 0)


if __name__ == "__main__":
    unittest.main()
