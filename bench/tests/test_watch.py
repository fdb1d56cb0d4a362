"""Watch expiry and relists: POST /_fault/relist and /_bench/compact."""

import unittest

from fakeserver import FakeTestCase, secret


class Relist(FakeTestCase):
    def setUp(self):
        self.ns = self.server.namespace("rl")
        self.base = f"/api/v1/namespaces/{self.ns}/secrets"

    def test_deleted_without_events_and_old_resource_versions_expire(self):
        self.server.post(self.base, secret("keep", {}))
        self.server.post(self.base, secret("lost", {}))
        listed = self.server.get(self.base).json
        rv = listed["metadata"]["resourceVersion"]
        watch = self.server.watch(f"{self.base}?watch=true&resourceVersion={rv}&allowWatchBookmarks=false")
        answer = self.server.post("/_fault/relist", {"delete": [
            {"resource": "secrets", "namespace": self.ns, "name": "lost"},
            {"resource": "/v1/secrets", "namespace": self.ns, "name": "never-existed"}]})
        self.assertStatus(answer, 200)
        self.assertEqual(answer.json, {"deleted": 1})
        self.assertTrue(watch.wait_end(5), "the open watch did not end")
        self.assertEqual(watch.events, [])  # no DELETED event, ever
        self.assertEqual(watch.ended, "clean")
        watch.close()
        # Resuming from the old resourceVersion: 200 with one ERROR event, 410 Expired.
        resumed = self.server.watch(f"{self.base}?watch=true&resourceVersion={rv}")
        self.assertEqual(resumed.status, 200)
        self.assertTrue(resumed.wait_end(5))
        resumed.close()
        self.assertEqual(len(resumed.events), 1)
        event = resumed.events[0]
        self.assertEqual(event["type"], "ERROR")
        status = event["object"]
        self.assertEqual((status["kind"], status["status"], status["reason"], status["code"]),
                         ("Status", "Failure", "Expired", 410))
        self.assertRegex(status["message"], rf"^too old resource version: {rv} \(\d+\)$")
        # A new list no longer has it, and watching from the list's version works.
        relisted = self.server.get(self.base).json
        self.assertEqual([o["metadata"]["name"] for o in relisted["items"]], ["keep"])
        fresh = self.server.watch(f"{self.base}?watch=true&resourceVersion={relisted['metadata']['resourceVersion']}")
        self.server.post(self.base, secret("later", {}))
        events = fresh.wait_events(1)
        fresh.close()
        self.assertEqual([(e["type"], e["object"]["metadata"]["name"]) for e in events], [("ADDED", "later")])

    def test_group_resources_and_bad_requests(self):
        path = f"/apis/bitnami.com/v1alpha1/namespaces/{self.ns}/sealedsecrets"
        self.server.post(path, {"metadata": {"name": "ss"}, "spec": {}})
        answer = self.server.post("/_fault/relist", {"delete": [
            {"resource": "bitnami.com/v1alpha1/sealedsecrets", "namespace": self.ns, "name": "ss"}]})
        self.assertEqual(answer.json, {"deleted": 1})
        self.assertStatus(self.server.get(f"{path}/ss"), 404)
        self.assertStatus(self.server.post("/_fault/relist", {"delete": [{"resource": "nothings", "name": "x"}]}), 400)

    def test_compact_ends_watches_and_expires(self):
        rv = self.server.get(self.base).json["metadata"]["resourceVersion"]
        watch = self.server.watch(f"{self.base}?watch=true&resourceVersion={rv}")
        self.assertStatus(self.server.post("/_bench/compact"), 200)
        self.assertTrue(watch.wait_end(5))
        watch.close()
        resumed = self.server.watch(f"{self.base}?watch=true&resourceVersion={rv}")
        resumed.wait_end(5)
        resumed.close()
        self.assertEqual([(e["type"], e["object"]["code"]) for e in resumed.events], [("ERROR", 410)])


if __name__ == "__main__":
    unittest.main()
