"""The Connect JSON client: facts, secrets, versions, releases and error
mapping, against a real flagops server."""

from __future__ import annotations

import io
import json
import unittest

from _server import Server
import _fixtures as fx

import flagops
from flagops import connect as cx

srv: Server
admin: flagops.Client

COMMIT = "0123456789abcdef0123456789abcdef01234567"
SHA = "ab" * 32


def setUpModule():
    global srv, admin
    srv = Server().start()
    admin = srv.admin()
    fx.seed(admin)


def tearDownModule():
    admin.close()
    srv.stop()


def key_client(name: str, *bindings: str) -> flagops.Client:
    return flagops.Client(srv.url, fx.create_key(admin, name, *bindings))


class Facts(unittest.TestCase):
    def test_set_get_resolve_with_sources(self):
        admin.set_facts("environment/prod", {"region": "eu", "maxReplicas": 2})
        rev = admin.set_facts("deployment/shop@eu-1", {"maxReplicas": 3, "owner": {"team": "web"}})
        got = admin.get_facts("deployment/shop@eu-1")
        self.assertEqual(got.values(), {"maxReplicas": 3, "owner": {"team": "web"}})
        self.assertEqual(got.revision, rev)
        self.assertEqual(got.facts["maxReplicas"].revision, rev)
        self.assertIsNotNone(got.facts["maxReplicas"].update_time)
        r = admin.resolve_facts("shop", "eu-1")
        self.assertEqual((r.project, r.environment, r.target), ("shop", "prod", "eu-1"))
        self.assertEqual(r.facts["maxReplicas"], 3)
        self.assertEqual(r.facts["region"], "eu")
        self.assertEqual(r.sources["maxReplicas"], "deployment/shop@eu-1")
        self.assertEqual(r.sources["region"], "environment/prod")
        self.assertEqual(r.sources["project"], "builtin")
        self.assertGreaterEqual(r.revision, rev)

    def test_bulk_set_is_one_revision(self):
        res = admin.bulk_set_facts({"target/eu-1": {"zone": "a"}, "target/us-1": {"zone": "b"}})
        self.assertEqual(res.scopes, 2)
        self.assertEqual(admin.get_facts("target/eu-1").revision, res.revision)
        self.assertEqual(admin.get_facts("target/us-1").revision, res.revision)

    def test_unset(self):
        admin.set_facts("project/shop", {"a": 1, "b": 2})
        admin.unset_facts("project/shop", ["a"])
        self.assertEqual(admin.get_facts("project/shop").values(), {"b": 2})

    def test_expected_revision_conflict(self):
        rev = admin.set_facts("target/us-1", {"x": 1})
        admin.set_facts("target/us-1", {"x": 2}, expected_revision=rev)
        with self.assertRaises(flagops.AbortedError) as cm:
            admin.set_facts("target/us-1", {"x": 3}, expected_revision=rev)
        self.assertEqual(cm.exception.code, "aborted")
        self.assertEqual(admin.get_facts("target/us-1").values()["x"], 2)


class ErrorMapping(unittest.TestCase):
    def test_codes_and_fields(self):
        bad_token = flagops.Client(srv.url, "fo_" + "z" * 43)
        self.addCleanup(bad_token.close)
        cases = [
            ("invalid fact key", lambda: admin.set_facts("project/shop", {"Bad Key!": 1}),
             flagops.InvalidArgumentError, "invalid_argument", "values.Bad Key!"),
            ("invalid scope", lambda: admin.set_facts("galaxy/far", {"a": 1}),
             flagops.InvalidArgumentError, "invalid_argument", "scope"),
            ("unknown deployment", lambda: admin.resolve_facts("shop", "nowhere"),
             flagops.NotFoundError, "not_found", ""),
            ("unknown release", lambda: admin.get_release("shop", "9.9.9"),
             flagops.NotFoundError, "not_found", ""),
            ("bad token", lambda: bad_token.get_facts("project/shop"),
             flagops.UnauthenticatedError, "unauthenticated", ""),
            ("unknown procedure", lambda: admin.call("FactService", "Nope"),
             flagops.ConnectError, None, ""),
        ]
        for name, fn, exc, code, field in cases:
            with self.subTest(name):
                with self.assertRaises(exc) as cm:
                    fn()
                if code:
                    self.assertEqual(cm.exception.code, code)
                self.assertEqual(cm.exception.field, field)
                if field:
                    self.assertTrue(cm.exception.rule)
        self.assertNotIn("z" * 43, str(cm.exception))

    def test_error_detail_decoded_from_protobuf(self):
        # The binary ErrorDetail, as a server without debug JSON sends it.
        value = "Cg92YWx1ZXMuQmFkIEtleSESBHJ1bGU"  # field "values.Bad Key!", rule "rule"
        e = cx.error_from_json({"code": "invalid_argument", "message": "m",
                                "details": [{"type": "flagops.v1.ErrorDetail", "value": value}]})
        self.assertIsInstance(e, flagops.InvalidArgumentError)
        self.assertEqual((e.field, e.rule), ("values.Bad Key!", "rule"))

    def test_http_status_without_connect_error(self):
        e = cx.error_from_json(None, "/x", 503)
        self.assertEqual(e.code, "unavailable")
        self.assertIsInstance(e, flagops.UnavailableError)

    def test_unreachable_server_is_unavailable(self):
        import socket
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        c = flagops.Client(f"http://127.0.0.1:{port}", "t")
        with self.assertRaises(flagops.UnavailableError):
            c.revision()


class Secrets(unittest.TestCase):
    def test_put_get_and_refusal_without_the_right(self):
        value = "s3cr3t-" + "q" * 20
        s = admin.put_secret("deployment/shop@eu-1", "dbPassword", value)
        self.assertEqual((s.key, s.version), ("dbPassword", 1))
        self.assertTrue(s.fingerprint)
        got = admin.get_secret("deployment/shop@eu-1", "dbPassword")
        self.assertEqual((got.text, got.version), (value, 1))
        self.assertNotIn(value, repr(got))
        s2 = admin.put_secret("deployment/shop@eu-1", "dbPassword", b"\x00\xffbinary", cas=1)
        self.assertEqual(s2.version, 2)
        self.assertEqual(admin.get_secret("deployment/shop@eu-1", "dbPassword").value, b"\x00\xffbinary")
        self.assertEqual(admin.get_secret("deployment/shop@eu-1", "dbPassword", version=1).text, value)
        with self.assertRaises(flagops.ConnectError):
            admin.put_secret("deployment/shop@eu-1", "dbPassword", "x", cas=1)

        viewer = key_client("viewer", "viewer")
        self.addCleanup(viewer.close)
        listed = viewer.list_secrets("deployment/shop@eu-1")
        self.assertEqual([x.key for x in listed], ["dbPassword"])
        for name, fn in [("get", lambda: viewer.get_secret("deployment/shop@eu-1", "dbPassword")),
                         ("put", lambda: viewer.put_secret("deployment/shop@eu-1", "other", "v"))]:
            with self.subTest(name):
                with self.assertRaises(flagops.PermissionDeniedError) as cm:
                    fn()
                self.assertEqual(cm.exception.code, "permission_denied")
                self.assertNotIn(value, str(cm.exception))

        # A secret-reader bound to project/shop reads shop's values, and
        # nothing of another project.
        reader = key_client("reader", "secret-reader@project/shop")
        self.addCleanup(reader.close)
        self.assertEqual(reader.get_secret("deployment/shop@eu-1", "dbPassword").value, b"\x00\xffbinary")
        with self.assertRaises(flagops.PermissionDeniedError):
            reader.get_secret("environment/prod", "anything")


class Versions(unittest.TestCase):
    def test_set_report_drift(self):
        r = admin.set_version("shop", "prod", "1.0.0", reason="first")
        self.assertEqual((r.version.version, r.version.environment, r.version.reason), ("1.0.0", "prod", "first"))
        self.assertGreater(r.revision, 0)
        self.assertEqual(admin.set_version("shop", "prod", "1.0.0").revision, 0, "an unchanged set takes no revision")
        agent = key_client("agent-eu", "agent@target/eu-1")
        self.addCleanup(agent.close)
        self.assertGreater(agent.report_version("shop", "eu-1", "0.9.0", status="healthy"), 0)
        with self.assertRaises(flagops.PermissionDeniedError):
            agent.report_version("shop", "us-1", "0.9.0")
        admin.report_version("shop", "us-1", "1.0.0", status="healthy")
        drift = admin.drift(project="shop")
        self.assertEqual([(d.target, d.desired, d.deployed) for d in drift], [("eu-1", "1.0.0", "0.9.0")])
        self.assertIsNotNone(drift[0].since)
        vs = {d.target: d for d in admin.get_versions(project="shop")}
        self.assertEqual((vs["us-1"].deployed, vs["us-1"].status), ("1.0.0", "healthy"))
        pin = admin.set_version("shop", "prod", "0.9.0", target="eu-1")
        self.assertEqual(pin.version.target, "eu-1")
        self.assertEqual(admin.drift(project="shop"), [])


class Releases(unittest.TestCase):
    def test_create_get_find(self):
        art = flagops.Artifact("shop", "linux/amd64", "https://dl.example.com/shop-2.0.0", SHA, 1234)
        rel = admin.create_release("shop", "2.0.0", commits={"github.com/acme/shop": COMMIT}, artifacts=[art],
                                   notes="big", labels={"channel": "stable"})
        self.assertEqual((rel.project, rel.version, rel.notes), ("shop", "2.0.0", "big"))
        self.assertEqual(rel.artifacts, [art])
        self.assertGreater(rel.revision, 0)
        self.assertIsNotNone(rel.create_time)
        self.assertEqual(admin.get_release("shop", "2.0.0"), rel)
        self.assertEqual([r.version for r in admin.find_releases_by_commit(COMMIT)], ["2.0.0"])
        self.assertEqual([r.version for r in admin.find_releases_by_sha256(SHA)], ["2.0.0"])
        self.assertEqual(admin.find_releases_by_sha256("cd" * 32), [])
        with self.assertRaises(flagops.AlreadyExistsError):
            admin.create_release("shop", "2.0.0", commits={"github.com/acme/shop": COMMIT})
        with self.assertRaises(flagops.InvalidArgumentError) as cm:
            admin.create_release("shop", "2.0.1", artifacts=[{"name": "x", "sha256": "nothex"}])
        self.assertTrue(cm.exception.field.startswith("release.artifacts"), cm.exception.field)


class _BytesStream:
    """A Stream stand-in over fixed bytes, for the framing edge cases that a
    healthy server never sends."""

    def __init__(self, data: bytes):
        self._b = io.BytesIO(data)

    def read(self, n: int) -> bytes:
        return self._b.read(n)


class Envelopes(unittest.TestCase):
    def _messages(self, data: bytes):
        return list(cx.ConnectTransport(None).messages(_BytesStream(data), "/p"))

    def test_framing(self):
        msg = cx.envelope(b'{"revision":"3"}')
        end = cx.envelope(b"{}", cx.FLAG_END_STREAM)
        self.assertEqual(self._messages(msg + msg + end), [{"revision": "3"}, {"revision": "3"}])
        err = cx.envelope(json.dumps({"error": {"code": "out_of_range", "message": "compacted"}}).encode(), cx.FLAG_END_STREAM)
        with self.assertRaises(flagops.OutOfRangeError):
            self._messages(msg + err)
        cases = [
            ("dropped before end", msg, "unavailable"),
            ("dropped inside header", msg[:3], "unavailable"),
            ("dropped inside payload", msg[:-2], "unavailable"),
            ("compressed", cx.envelope(b"x", cx.FLAG_COMPRESSED), "internal"),
            ("unknown flags", cx.envelope(b"{}", 0x80), "internal"),
        ]
        for name, data, code in cases:
            with self.subTest(name):
                with self.assertRaises(flagops.ConnectError) as cm:
                    self._messages(data)
                self.assertEqual(cm.exception.code, code)


if __name__ == "__main__":
    unittest.main()
