"""Injected faults (POST /_fault/fail, /_fault/clear), lease conflicts, and their
command-line forms."""

import http.client
import json
import time
import unittest

from fakeserver import FakeServer, FakeTestCase, secret, wait_for


class Faults(FakeTestCase):
    def tearDown(self):
        self.server.post("/_fault/clear")

    def test_error_for_some_requests(self):
        answer = self.server.post("/_fault/fail", {"code": 503, "requests": 2})
        self.assertStatus(answer, 200)
        first = self.server.get("/api/v1/namespaces")
        self.assertStatus(first, 503)
        self.assertEqual(first.json, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                                      "message": "the server is currently unable to handle the request",
                                      "reason": "ServiceUnavailable", "code": 503})
        # The control endpoints are never affected.
        stats = self.server.get("/_bench/stats")
        self.assertStatus(stats, 200)
        self.assertStatus(self.server.get("/api/v1/namespaces/default"), 503)
        self.assertStatus(self.server.get("/api/v1/namespaces"), 200)
        counters = self.server.get("/_bench/stats").json["counters"]
        self.assertGreaterEqual(counters.get("faults answered", 0), 2)
        self.assertGreaterEqual(counters.get("fault 503", 0), 2)

    def test_too_many_requests_with_retry_after(self):
        self.server.post("/_fault/fail", {"code": 429, "requests": 1, "retryAfterSeconds": 3})
        answer = self.server.get("/api/v1/namespaces/default/secrets")
        self.assertStatus(answer, 429)
        self.assertEqual(answer.headers.get("retry-after"), "3")
        self.assertEqual(answer.json, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                                       "message": "Too many requests, please try again later.",
                                       "reason": "TooManyRequests", "details": {"retryAfterSeconds": 3}, "code": 429})
        # The max-in-flight / priority-and-fairness form: plain text.
        self.server.post("/_fault/fail", {"code": 429, "requests": 1, "plain": True})
        answer = self.server.get("/api/v1/namespaces/default/secrets")
        self.assertStatus(answer, 429)
        self.assertEqual(answer.headers.get("retry-after"), "1")
        self.assertEqual(answer.data, b"Too many requests, please try again later.\n")

    def test_internal_error(self):
        self.server.post("/_fault/fail", {"code": 500, "requests": 1})
        answer = self.server.get("/api/v1/namespaces/default/secrets")
        self.assertStatus(answer, 500)
        self.assertEqual(answer.json["reason"], "InternalError")
        self.assertEqual(answer.json["message"], "Internal error occurred: etcdserver: request timed out")
        self.assertEqual(answer.json["details"], {"causes": [{"message": "etcdserver: request timed out"}]})

    def test_method_and_resource_filters(self):
        ns = self.server.namespace("flt")
        created = self.server.post(f"/api/v1/namespaces/{ns}/secrets", secret("s", {})).json
        cm = self.server.post(f"/api/v1/namespaces/{ns}/configmaps", {"metadata": {"name": "c"}}).json
        self.server.post("/_fault/fail", {"code": 500, "method": "put", "resource": "secrets"})
        self.assertStatus(self.server.get(f"/api/v1/namespaces/{ns}/secrets/s"), 200)
        self.assertStatus(self.server.put(f"/api/v1/namespaces/{ns}/secrets/s", created), 500)
        self.assertStatus(self.server.put(f"/api/v1/namespaces/{ns}/configmaps/c", cm), 200)
        self.assertEqual(len(self.server.get("/_fault").json["active"]), 1)
        self.assertStatus(self.server.post("/_fault/clear"), 200)
        self.assertStatus(self.server.put(f"/api/v1/namespaces/{ns}/secrets/s", created), 200)

    def test_for_some_seconds(self):
        started = time.monotonic()
        self.server.post("/_fault/fail", {"code": 503, "seconds": 1.5})
        self.assertStatus(self.server.get("/api/v1/namespaces"), 503)
        self.assertLess(time.monotonic() - started, 1.5, "too slow to see the fault")
        time.sleep(max(0.0, 1.7 - (time.monotonic() - started)))
        self.assertStatus(self.server.get("/api/v1/namespaces"), 200)

    def test_drop_cuts_watches_and_closes_connections(self):
        ns = self.server.namespace("drop")
        watch = self.server.watch(f"/api/v1/namespaces/{ns}/secrets?watch=true&resourceVersion=0")
        self.assertStatus(self.server.post("/_fault/fail", {"drop": True, "seconds": 2}), 200)
        self.assertTrue(watch.wait_end(5), "the watch was not cut off")
        watch.close()
        self.assertEqual(watch.ended, "cut")  # no final chunk: the server went away
        with self.assertRaises((http.client.RemoteDisconnected, ConnectionError)):
            self.server.get("/api/v1/namespaces")
        self.assertStatus(self.server.get("/_bench/stats"), 200)
        self.assertTrue(wait_for(lambda: self.answers_ok("/api/v1/namespaces"), 10))
        self.assertGreaterEqual(self.server.get("/_bench/stats").json["counters"].get("connections dropped", 0), 1)

    def test_drop_with_restart_expires_resource_versions(self):
        rv = self.server.get("/api/v1/namespaces").json["metadata"]["resourceVersion"]
        self.server.post("/_fault/fail", {"drop": True, "requests": 1, "restart": True})
        with self.assertRaises((http.client.RemoteDisconnected, ConnectionError)):
            self.server.get("/api/v1/namespaces")
        resumed = self.server.watch(f"/api/v1/namespaces?watch=true&resourceVersion={rv}")
        resumed.wait_end(5)
        resumed.close()
        self.assertEqual([(e["type"], e["object"]["code"]) for e in resumed.events], [("ERROR", 410)])

    def answers_ok(self, path):
        try:
            return self.server.get(path).status == 200
        except (http.client.HTTPException, ConnectionError):
            return False

    def test_bad_fault(self):
        self.assertStatus(self.server.post("/_fault/fail", {"code": 200}), 400)
        self.assertStatus(self.server.post("/_fault/fail", {"code": 503, "seconds": -1}), 400)


class LeaseConflicts(FakeTestCase):
    def test_next_puts_conflict(self):
        ns = self.server.namespace("lease")
        path = f"/apis/coordination.k8s.io/v1/namespaces/{ns}/leases"
        lease = self.server.post(path, {"metadata": {"name": "leader"}, "spec": {"holderIdentity": "a"}}).json
        self.assertEqual(self.server.post("/_fault/lease-conflicts", {"count": 2}).json, {"leaseConflicts": 2})
        expected = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                    "message": 'Operation cannot be fulfilled on leases.coordination.k8s.io "leader": the object has '
                               'been modified; please apply your changes to the latest version and try again',
                    "reason": "Conflict",
                    "details": {"name": "leader", "group": "coordination.k8s.io", "kind": "leases"}, "code": 409}
        for _ in range(2):
            answer = self.server.put(f"{path}/leader", lease)
            self.assertStatus(answer, 409)
            self.assertEqual(answer.json, expected)
        self.assertStatus(self.server.put(f"{path}/leader", dict(lease, spec={"holderIdentity": "b"})), 200)
        # A real conflict (a stale resourceVersion) reads the same.
        answer = self.server.put(f"{path}/leader", lease)
        self.assertEqual(answer.json, expected)
        self.assertEqual(self.server.get("/_bench/stats").json["counters"].get("lease conflicts answered"), 2)


class CommandLineFaults(unittest.TestCase):
    def test_fault_and_lease_conflicts_options(self):
        server = FakeServer("--fault", json.dumps({"code": 503, "requests": 1}), "--lease-conflicts", "1")
        try:
            self.assertEqual(server.get("/api/v1/namespaces").status, 503)
            self.assertEqual(server.get("/api/v1/namespaces").status, 200)
            self.assertEqual(server.get("/_fault").json["leaseConflicts"], 1)
        finally:
            server.stop()


if __name__ == "__main__":
    unittest.main()
