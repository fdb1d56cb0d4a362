"""Namespaces that terminate, finalizers, DELETE answers and preconditions, uid
preconditions on PUT: as kube-apiserver and its namespace controller."""

import unittest

from fakeserver import FakeTestCase, secret, wait_for


def terminating_message(ns):
    return f"unable to create new content in namespace {ns} because it is being terminated"


class NamespaceAdmission(FakeTestCase):
    def test_create_in_missing_namespace(self):
        answer = self.server.post("/api/v1/namespaces/absent/secrets", secret("s", {}))
        self.assertStatus(answer, 404)
        self.assertEqual(answer.json, {
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": 'namespaces "absent" not found', "reason": "NotFound",
            "details": {"name": "absent", "kind": "namespaces"}, "code": 404})
        answer = self.server.request("PATCH", "/apis/bitnami.com/v1alpha1/namespaces/absent/sealedsecrets/x",
                                     {"metadata": {"name": "x"}, "spec": {}}, "application/apply-patch+yaml")
        self.assertStatus(answer, 404)
        self.assertEqual(answer.json["message"], 'namespaces "absent" not found')

    def test_new_namespace(self):
        ns = self.server.namespace("new")
        obj = self.server.get(f"/api/v1/namespaces/{ns}").json
        self.assertEqual(obj["spec"], {"finalizers": ["kubernetes"]})
        self.assertEqual(obj["status"], {"phase": "Active"})
        self.assertEqual(obj["metadata"]["labels"], {"kubernetes.io/metadata.name": ns})

    def test_system_namespaces_exist_and_may_not_be_deleted(self):
        for ns in ("default", "kube-system", "kube-public", "kube-node-lease"):
            self.assertStatus(self.server.get(f"/api/v1/namespaces/{ns}"), 200)
        answer = self.server.delete("/api/v1/namespaces/kube-system")
        self.assertStatus(answer, 403)
        self.assertEqual(answer.json["message"], 'namespaces "kube-system" is forbidden: this namespace may not be deleted')


class TerminatingNamespace(FakeTestCase):
    # Long enough to look at the namespace while it is Terminating.
    SERVER_ARGS = ("--namespace-termination-seconds", "60")

    def test_delete_sets_terminating_and_creates_are_forbidden(self):
        ns = self.server.namespace("term")
        self.assertStatus(self.server.post(f"/api/v1/namespaces/{ns}/secrets", secret("before", {})), 201)
        watch = self.server.watch(f"/api/v1/namespaces?watch=true&fieldSelector=metadata.name={ns}&resourceVersion=0")
        answer = self.server.delete(f"/api/v1/namespaces/{ns}")
        self.assertStatus(answer, 200)
        self.assertEqual(answer.json["kind"], "Namespace")
        self.assertEqual(answer.json["status"]["phase"], "Terminating")
        self.assertTrue(answer.json["metadata"]["deletionTimestamp"])
        events = watch.wait_events(1)
        watch.close()
        self.assertEqual([e["type"] for e in events], ["MODIFIED"])
        self.assertEqual(events[0]["object"]["status"]["phase"], "Terminating")

        answer = self.server.post(f"/api/v1/namespaces/{ns}/secrets", secret("after", {}))
        self.assertStatus(answer, 403)
        self.assertEqual(answer.json, {
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": f'secrets "after" is forbidden: {terminating_message(ns)}',
            "reason": "Forbidden",
            "details": {"name": "after", "kind": "secrets", "causes": [
                {"reason": "NamespaceTerminating", "message": f"namespace {ns} is being terminated",
                 "field": "metadata.namespace"}]},
            "code": 403})
        answer = self.server.post(f"/apis/bitnami.com/v1alpha1/namespaces/{ns}/sealedsecrets",
                                  {"metadata": {"generateName": "gen-"}, "spec": {"encryptedData": {}}})
        self.assertEqual(answer.json["message"], f'sealedsecrets.bitnami.com "gen-" is forbidden: {terminating_message(ns)}')
        self.assertEqual(answer.json["details"]["group"], "bitnami.com")
        # The content stays until the namespace controller's turn; updates still work.
        self.assertStatus(self.server.patch(f"/api/v1/namespaces/{ns}/secrets/before", {"metadata": {"labels": {"a": "b"}}}), 200)
        self.assertEqual(self.server.get(f"/api/v1/namespaces/{ns}").json["status"]["phase"], "Terminating")


class NamespaceController(FakeTestCase):
    def test_content_deleted_then_namespace(self):
        ns = self.server.namespace("ctl")
        base = f"/api/v1/namespaces/{ns}"
        self.assertStatus(self.server.post(f"{base}/secrets", secret("plain", {})), 201)
        self.assertStatus(self.server.post(f"{base}/configmaps", {"metadata": {"name": "held", "finalizers": ["example.com/hold"]}}), 201)
        answer = self.server.delete(base)
        self.assertStatus(answer, 200)
        self.assertStatus(self.server.get(f"{base}/secrets/plain"), 404)
        held = self.server.get(f"{base}/configmaps/held").json
        self.assertTrue(held["metadata"]["deletionTimestamp"])
        namespace = self.server.get(base).json
        conditions = {c["type"]: c for c in namespace["status"]["conditions"]}
        self.assertEqual(conditions["NamespaceContentRemaining"]["message"],
                         "Some resources are remaining: configmaps. has 1 resource instances")
        self.assertEqual(conditions["NamespaceFinalizersRemaining"]["message"],
                         "Some content in the namespace has finalizers remaining: example.com/hold in 1 resource instances")
        answer = self.server.patch(f"{base}/configmaps/held", {"metadata": {"finalizers": None}})
        self.assertStatus(answer, 200)
        self.assertStatus(self.server.get(f"{base}/configmaps/held"), 404)
        self.assertStatus(self.server.get(base), 404)


class DelayedNamespaceController(FakeTestCase):
    SERVER_ARGS = ("--namespace-termination-seconds", "1.5")

    def test_emptied_after_the_delay(self):
        ns = self.server.namespace("delay")
        self.assertStatus(self.server.post(f"/api/v1/namespaces/{ns}/secrets", secret("s", {})), 201)
        self.assertStatus(self.server.delete(f"/api/v1/namespaces/{ns}"), 200)
        self.assertStatus(self.server.get(f"/api/v1/namespaces/{ns}/secrets/s"), 200)
        self.assertTrue(wait_for(lambda: self.server.get(f"/api/v1/namespaces/{ns}").status == 404, 10))
        self.assertStatus(self.server.get(f"/api/v1/namespaces/{ns}/secrets/s"), 404)


class Finalizers(FakeTestCase):
    def setUp(self):
        self.ns = self.server.namespace("fin")
        self.base = f"/api/v1/namespaces/{self.ns}/secrets"

    def test_delete_with_finalizers_waits_for_them(self):
        self.assertStatus(self.server.post(self.base, secret("f", {}, metadata={"name": "f", "finalizers": ["a/b", "c/d"]})), 201)
        watch = self.server.watch(f"{self.base}?watch=true&resourceVersion=0")
        answer = self.server.delete(f"{self.base}/f")
        self.assertStatus(answer, 200)
        self.assertEqual(answer.json["kind"], "Secret")
        self.assertTrue(answer.json["metadata"]["deletionTimestamp"])
        self.assertEqual(answer.json["metadata"]["deletionGracePeriodSeconds"], 0)
        current = self.server.get(f"{self.base}/f").json
        self.assertEqual(current["metadata"]["deletionTimestamp"], answer.json["metadata"]["deletionTimestamp"])
        # No new finalizers on an object being deleted.
        added = dict(current, metadata=dict(current["metadata"], finalizers=["a/b", "c/d", "e/f"]))
        refused = self.server.put(f"{self.base}/f", added)
        self.assertStatus(refused, 422)
        self.assertEqual(refused.json["message"], 'Secret "f" is invalid: metadata.finalizers: Forbidden: no new finalizers '
                                                  'can be added if the object is being deleted, found new finalizers []string{"e/f"}')
        # Creating it again while it waits: AlreadyExists, said to be being deleted.
        again = self.server.post(self.base, secret("f", {}))
        self.assertStatus(again, 409)
        self.assertEqual(again.json["message"], 'object is being deleted: secrets "f" already exists')
        # One finalizer gone: still there. The last one gone: deleted.
        self.assertStatus(self.server.patch(f"{self.base}/f", {"metadata": {"finalizers": ["c/d"]}}), 200)
        self.assertStatus(self.server.get(f"{self.base}/f"), 200)
        self.assertStatus(self.server.patch(f"{self.base}/f", {"metadata": {"finalizers": []}}), 200)
        self.assertStatus(self.server.get(f"{self.base}/f"), 404)
        events = watch.wait_events(3)
        watch.close()
        self.assertEqual([e["type"] for e in events], ["MODIFIED", "MODIFIED", "DELETED"])

    def test_sealed_secret_generation_bumped_when_marked(self):
        path = f"/apis/bitnami.com/v1alpha1/namespaces/{self.ns}/sealedsecrets"
        created = self.server.post(path, {"metadata": {"name": "ss", "finalizers": ["x/y"]}, "spec": {}}).json
        marked = self.server.delete(f"{path}/ss").json
        self.assertEqual(marked["metadata"]["generation"], created["metadata"]["generation"] + 1)

    def test_delete_answers_status_for_secrets_object_for_custom_resources(self):
        created = self.server.post(self.base, secret("gone", {})).json
        answer = self.server.delete(f"{self.base}/gone")
        self.assertStatus(answer, 200)
        self.assertEqual(answer.json, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                                       "details": {"name": "gone", "kind": "secrets", "uid": created["metadata"]["uid"]}})
        path = f"/apis/bitnami.com/v1alpha1/namespaces/{self.ns}/sealedsecrets"
        self.assertStatus(self.server.post(path, {"metadata": {"name": "ss"}, "spec": {}}), 201)
        answer = self.server.delete(f"{path}/ss")
        self.assertEqual(answer.json["kind"], "SealedSecret")

    def test_delete_preconditions(self):
        created = self.server.post(self.base, secret("p", {})).json
        uid, rv = created["metadata"]["uid"], created["metadata"]["resourceVersion"]
        answer = self.server.delete(f"{self.base}/p", {"kind": "DeleteOptions", "apiVersion": "v1",
                                                       "preconditions": {"uid": "other-uid"}})
        self.assertStatus(answer, 409)
        self.assertEqual(answer.json, {
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": f'Operation cannot be fulfilled on Secret "p": the UID in the precondition (other-uid) does not '
                       f'match the UID in record ({uid}). The object might have been deleted and then recreated',
            "reason": "Conflict", "details": {"name": "p", "kind": "Secret"}, "code": 409})
        answer = self.server.delete(f"{self.base}/p", {"preconditions": {"resourceVersion": "1"}})
        self.assertStatus(answer, 409)
        self.assertEqual(answer.json["message"],
                         f'Operation cannot be fulfilled on Secret "p": the ResourceVersion in the precondition (1) does '
                         f'not match the ResourceVersion in record ({rv}). The object might have been modified')
        self.assertStatus(self.server.get(f"{self.base}/p"), 200)
        self.assertStatus(self.server.delete(f"{self.base}/p", {"preconditions": {"uid": uid, "resourceVersion": rv}}), 200)
        self.assertStatus(self.server.get(f"{self.base}/p"), 404)

    def test_dry_run_delete_keeps_the_object(self):
        self.server.post(self.base, secret("dry", {}))
        self.assertStatus(self.server.delete(f"{self.base}/dry", {"dryRun": ["All"]}), 200)
        self.assertStatus(self.server.get(f"{self.base}/dry"), 200)

    def test_put_with_another_uid_is_a_precondition_failure(self):
        old = self.server.post(self.base, secret("u", {})).json
        self.server.delete(f"{self.base}/u")
        new = self.server.post(self.base, secret("u", {})).json
        stale = dict(old, metadata={"name": "u", "uid": old["metadata"]["uid"]})  # no resourceVersion
        answer = self.server.put(f"{self.base}/u", stale)
        self.assertStatus(answer, 409)
        self.assertEqual(answer.json["message"],
                         f'Operation cannot be fulfilled on secrets "u": StorageError: invalid object, Code: 4, '
                         f'Key: /registry/secrets/{self.ns}/u, ResourceVersion: 0, AdditionalErrorMsg: Precondition '
                         f'failed: UID in precondition: {old["metadata"]["uid"]}, UID in object meta: {new["metadata"]["uid"]}')

    def test_qualified_resource_in_messages(self):
        path = f"/apis/bitnami.com/v1alpha1/namespaces/{self.ns}/sealedsecrets/none"
        answer = self.server.get(path)
        self.assertEqual(answer.json["message"], 'sealedsecrets.bitnami.com "none" not found')
        self.assertEqual(answer.json["details"], {"name": "none", "group": "bitnami.com", "kind": "sealedsecrets"})


if __name__ == "__main__":
    unittest.main()
