"""The provider through the real OpenFeature SDK, when it is importable.

The SDK is not a dependency of the package (only of its ``openfeature``
extra); where it is not installed these tests skip and test_adapter.py
covers the provider's logic with the core on its own."""

from __future__ import annotations

import threading
import unittest

try:
    # Import what the provider needs, not just the name: from the repository
    # root, the Go package directory "openfeature/" is an importable
    # namespace package without any of it.
    from openfeature import api as _api  # noqa: F401
    from openfeature.provider import AbstractProvider as _ap  # noqa: F401

    HAVE_SDK = True
except ImportError:
    HAVE_SDK = False
SKIP = "the OpenFeature SDK (openfeature-sdk) is not installed; provider logic is covered by test_adapter.py"

if HAVE_SDK:
    from _server import Server, wait_for
    import _fixtures as fx

    import flagops
    from flagops import CachedEvaluator, make_context


@unittest.skipUnless(HAVE_SDK, SKIP)
class ThroughTheSDK(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        from openfeature import api

        cls.api = api
        cls.srv = Server().start()
        cls.admin = cls.srv.admin()
        fx.seed(cls.admin)
        cls.token = fx.create_key(cls.admin, "sdk-prod", "evaluator@environment/prod")

    @classmethod
    def tearDownClass(cls):
        cls.api.shutdown()
        cls.admin.close()
        cls.srv.stop()

    def test_remote(self):
        from openfeature.evaluation_context import EvaluationContext
        from openfeature.exception import ErrorCode
        from openfeature.flag_evaluation import Reason
        from flagops.provider import FlagopsProvider

        self.api.set_provider(FlagopsProvider(flagops.OFREPClient(self.srv.url, self.token)), "flagops-remote")
        client = self.api.get_client("flagops-remote")
        self.assertEqual(client.provider.get_metadata().name, "flagops")
        ctx = EvaluationContext("user-1", {"project": fx.PROJECT, "tier": "enterprise", "country": "fr"})
        self.assertIs(client.get_boolean_value("new-checkout", False, ctx), True)
        self.assertEqual(client.get_string_value("banner", "", ctx), "Sale!")
        self.assertEqual(client.get_integer_value("replicas", 0, ctx), 5)
        self.assertEqual(client.get_float_value("ratio", 0.0, ctx), 0.25)
        self.assertEqual(client.get_object_value("limits", {}, ctx)["cpu"], 4)
        d = client.get_integer_details("replicas", 0, ctx)
        self.assertEqual((d.reason, d.variant), (Reason.TARGETING_MATCH, "enterprise"))
        for key, getter, default, code in [
            ("nope", client.get_integer_details, 7, ErrorCode.FLAG_NOT_FOUND),
            ("banner", client.get_boolean_details, True, ErrorCode.TYPE_MISMATCH),
        ]:
            d = getter(key, default, ctx)
            self.assertEqual((d.value, d.reason, d.error_code), (default, Reason.ERROR, code))
        d = client.get_boolean_details("rollout", False, EvaluationContext(None, {"project": fx.PROJECT}))
        self.assertEqual(d.error_code, ErrorCode.TARGETING_KEY_MISSING)

    def test_cached_emits_configuration_changed(self):
        from openfeature.event import ProviderEvent
        from flagops.provider import FlagopsProvider

        self.admin.set_facts("deployment/shop@eu-1", {"tier": "free"})
        ce = CachedEvaluator(flagops.OFREPClient(self.srv.url, self.token),
                             make_context("svc", project=fx.PROJECT, target="eu-1"), poll_interval=3600)
        self.api.set_provider(FlagopsProvider(ce), "flagops-cached")
        client = self.api.get_client("flagops-cached")
        changed = []
        got = threading.Event()

        def handler(details):
            changed.append(details.flags_changed)
            got.set()

        client.add_handler(ProviderEvent.PROVIDER_CONFIGURATION_CHANGED, handler)
        wait_for(lambda: ce.streaming, what="event stream")
        self.assertEqual(client.get_integer_value("replicas", 0), 1)
        self.admin.set_facts("deployment/shop@eu-1", {"tier": "enterprise"})
        self.assertTrue(got.wait(10), "no PROVIDER_CONFIGURATION_CHANGED")
        self.assertIn(["limits", "new-checkout", "replicas"], changed)
        self.assertEqual(client.get_integer_value("replicas", 0), 5)


if __name__ == "__main__":
    unittest.main()
