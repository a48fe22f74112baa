"""watch(from_revision): the Connect server stream of the change log,
resuming across dropped connections and a server restart."""

from __future__ import annotations

import queue
import threading
import unittest

from _server import Server, wait_for
import _fixtures as fx

import flagops


class Watch(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server().start()
        with cls.srv.admin() as a:
            fx.seed(a)

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def setUp(self):
        self.seen = []
        self.admin = self.srv.admin()
        self.addCleanup(self.admin.close)

    def follow(self, w: flagops.Watch) -> "queue.Queue":
        """Iterate ``w`` on a thread; events (and a final error) go to a queue."""
        q: "queue.Queue" = queue.Queue()

        def run():
            try:
                for ev in w:
                    q.put(ev)
            except Exception as e:  # handed to the test
                q.put(e)

        t = threading.Thread(target=run, daemon=True)
        t.start()
        self.addCleanup(t.join, 5)
        self.addCleanup(w.close)
        return q

    def next_fact(self, q: "queue.Queue", key: str, timeout: float = 15) -> flagops.WatchEvent:
        while True:
            ev = q.get(timeout=timeout)
            if isinstance(ev, Exception):
                raise ev
            self.seen.append(ev)
            if any(c.kind == "fact" and c.key.endswith(":" + key) for c in ev.changes):
                return ev

    def test_replay_then_live(self):
        start = self.admin.set_facts("project/shop", {"w1": 1})
        w = self.admin.watch(start - 1, kinds=["fact"])
        q = self.follow(w)
        ev = q.get(timeout=10)
        self.assertEqual(ev.revision, start)
        self.assertEqual([(c.kind, c.key, c.operation) for c in ev.changes], [("fact", "project/shop:w1", "create")])
        self.assertEqual(ev.changes[0].after, 1)
        caught = q.get(timeout=10)
        self.assertTrue(caught.caught_up)
        self.assertEqual(caught.changes, [])
        rev = self.admin.set_facts("project/shop", {"w1": 2})
        ev = self.next_fact(q, "w1")
        self.assertEqual((ev.revision, ev.changes[0].operation), (rev, "update"))
        self.assertEqual(w.revision, rev)

    def test_resumes_across_server_restart(self):
        rev0 = self.admin.revision()
        w = self.admin.watch(rev0, kinds=["fact"], key_prefixes=["project/shop:"], min_backoff=0.05, max_backoff=0.5)
        q = self.follow(w)
        r1 = self.admin.set_facts("project/shop", {"before": 1})
        self.assertEqual(self.next_fact(q, "before").revision, r1)

        self.srv.stop()
        self.srv.start()
        # The admin client's pooled connection died with the old process;
        # the write goes out again on a new connection.
        r2 = self.admin.set_facts("project/shop", {"after": 1})
        ev = self.next_fact(q, "after")
        self.assertEqual(ev.revision, r2)
        self.assertGreaterEqual(w.reconnects, 1)
        r3 = self.admin.set_facts("project/shop", {"later": 1})
        self.assertEqual(self.next_fact(q, "later").revision, r3)
        self.assertEqual(w.revision, r3)
        # Nothing was skipped or repeated across the restart.
        self.assertEqual([e.revision for e in self.seen if e.changes], [r1, r2, r3])

    def test_writes_while_down_are_replayed(self):
        # The watch is resumed from its last revision, so a change committed
        # between the drop and the reconnection is delivered too.
        rev0 = self.admin.revision()
        w = self.admin.watch(rev0, kinds=["fact"], min_backoff=0.05, max_backoff=0.2)
        q = self.follow(w)
        self.admin.set_facts("project/shop", {"k1": 1})
        self.next_fact(q, "k1")
        # Drop the connection from the client side; the watch must reconnect.
        with w._lock:
            st = w._stream
        st.close()
        r2 = self.admin.set_facts("project/shop", {"k2": 1})
        self.assertEqual(self.next_fact(q, "k2").revision, r2)

    def test_errors_are_raised_not_retried(self):
        evaluator = flagops.Client(self.srv.url, fx.create_key(self.admin, "w-eval", "evaluator@environment/prod"))
        self.addCleanup(evaluator.close)
        with self.assertRaises(flagops.PermissionDeniedError):
            next(iter(evaluator.watch(0)))
        bad = flagops.Client(self.srv.url, "fo_" + "w" * 43)
        self.addCleanup(bad.close)
        with self.assertRaises(flagops.UnauthenticatedError):
            next(iter(bad.watch(0)))
        with self.assertRaises(flagops.InvalidArgumentError) as cm:
            next(iter(self.admin.watch(0, workspace="Not A Name")))
        self.assertEqual(cm.exception.field, "filter.workspace")

    def test_compacted_revision_is_out_of_range(self):
        # Compacting through the revision just written also checks that the
        # server keeps serving live changes after it (the hub must not be
        # left behind the compaction).
        rev = self.admin.set_facts("project/shop", {"c": 1})
        self.admin.call("ChangeService", "Compact", {"throughRevision": str(rev)})
        with self.assertRaises(flagops.OutOfRangeError) as cm:
            next(iter(self.admin.watch(1)))
        self.assertEqual(cm.exception.code, "out_of_range")
        q = self.follow(self.admin.watch(rev))
        r2 = self.admin.set_facts("project/shop", {"c": 2})
        self.assertEqual(self.next_fact(q, "c", timeout=10).revision, r2)


if __name__ == "__main__":
    unittest.main()
