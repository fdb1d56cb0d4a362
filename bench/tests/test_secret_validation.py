"""Secret (and ConfigMap) validation as kube-apiserver's: 422 Invalid Status bodies."""

import base64
import unittest

from fakeserver import FakeTestCase, secret

B64 = lambda text: base64.b64encode(text.encode()).decode()
IMMUTABLE = "Forbidden: field is immutable when `immutable` is set"


class SecretValidation(FakeTestCase):
    def setUp(self):
        self.ns = self.server.namespace("sv")
        self.base = f"/api/v1/namespaces/{self.ns}/secrets"

    def create(self, obj):
        return self.server.post(self.base, obj)

    def test_tls_needs_cert_and_key(self):
        answer = self.create(secret("tls", {"tls.crt": B64("c")}, type="kubernetes.io/tls"))
        self.assertStatus(answer, 422)
        self.assertEqual(answer.json, {
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": 'Secret "tls" is invalid: data[tls.key]: Required value',
            "reason": "Invalid",
            "details": {"name": "tls", "kind": "Secret",
                        "causes": [{"reason": "FieldValueRequired", "message": "Required value", "field": "data[tls.key]"}]},
            "code": 422})
        answer = self.create(secret("tls", {}, type="kubernetes.io/tls"))
        self.assertEqual(answer.json["message"],
                         'Secret "tls" is invalid: [data[tls.crt]: Required value, data[tls.key]: Required value]')
        self.assertStatus(self.create(secret("tls", {"tls.crt": B64("c"), "tls.key": ""}, type="kubernetes.io/tls")), 201)

    def test_basic_auth_needs_username_or_password(self):
        answer = self.create(secret("ba", {"other": B64("x")}, type="kubernetes.io/basic-auth"))
        self.assertStatus(answer, 422)
        self.assertEqual(answer.json["message"],
                         'Secret "ba" is invalid: [data[username]: Required value, data[password]: Required value]')
        self.assertEqual([c["field"] for c in answer.json["details"]["causes"]], ["data[username]", "data[password]"])
        self.assertStatus(self.create(secret("ba", {"password": B64("p")}, type="kubernetes.io/basic-auth")), 201)

    def test_other_types(self):
        answer = self.create(secret("ssh", {}, type="kubernetes.io/ssh-auth"))
        self.assertEqual(answer.json["message"], 'Secret "ssh" is invalid: data[ssh-privatekey]: Required value')
        answer = self.create(secret("dcj", {".dockerconfigjson": B64("[1]")}, type="kubernetes.io/dockerconfigjson"))
        self.assertStatus(answer, 422)
        self.assertEqual(answer.json["details"]["causes"][0]["field"], "data[.dockerconfigjson]")
        self.assertIn('Invalid value: "<secret contents redacted>"', answer.json["message"])
        answer = self.create(secret("sat", {}, type="kubernetes.io/service-account-token"))
        self.assertEqual(answer.json["message"],
                         'Secret "sat" is invalid: metadata.annotations[kubernetes.io/service-account.name]: Required value')
        self.assertStatus(self.create(secret("custom", {}, type="example.com/anything")), 201)

    def test_key_names(self):
        answer = self.create(secret("keys", {"a b": B64("x"), "..dots": B64("y"), "ok-_.A1": B64("z")}))
        self.assertStatus(answer, 422)
        regex = ("a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or "
                 "'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')")
        self.assertEqual(answer.json["details"]["causes"], [
            {"reason": "FieldValueInvalid", "message": "Invalid value: \"..dots\": must not start with '..'", "field": "data[..dots]"},
            {"reason": "FieldValueInvalid", "message": f'Invalid value: "a b": {regex}', "field": "data[a b]"},
        ])
        self.assertEqual(answer.json["message"],
                         f'Secret "keys" is invalid: [data[..dots]: Invalid value: "..dots": must not start with \'..\', '
                         f'data[a b]: Invalid value: "a b": {regex}]')

    def test_total_size(self):
        big = base64.b64encode(b"x" * (512 * 1024 + 1)).decode()
        answer = self.create(secret("big", {"a": big, "b": big}))
        self.assertStatus(answer, 422)
        self.assertEqual(answer.json["message"], 'Secret "big" is invalid: data: Too long: may not be more than 1048576 bytes')
        self.assertEqual(answer.json["details"]["causes"],
                         [{"reason": "FieldValueTooLong", "message": "Too long: may not be more than 1048576 bytes", "field": "data"}])
        exact = base64.b64encode(b"x" * (512 * 1024)).decode()
        self.assertStatus(self.create(secret("big", {"a": exact, "b": exact})), 201)

    def test_name(self):
        answer = self.create(secret("Bad_Name", {}))
        self.assertStatus(answer, 422)
        self.assertEqual(answer.json["details"]["causes"][0]["field"], "metadata.name")
        self.assertIn("a lowercase RFC 1123 subdomain must consist of", answer.json["message"])

    def test_defaults_and_string_data(self):
        answer = self.create(secret("sd", {"a": B64("1")}, stringData={"b": "two", "a": "one"}))
        self.assertStatus(answer, 201)
        obj = answer.json
        self.assertEqual(obj["type"], "Opaque")
        self.assertEqual(obj["data"], {"a": B64("one"), "b": B64("two")})
        self.assertNotIn("stringData", obj)
        self.assertNotIn("stringData", self.server.get(f"{self.base}/sd").json)

    def test_data_must_be_base64(self):
        answer = self.create(secret("b64", {"a": "not base64!"}))
        self.assertStatus(answer, 400)
        self.assertEqual(answer.json["reason"], "BadRequest")
        self.assertTrue(answer.json["message"].startswith(
            'Secret in version "v1" cannot be handled as a Secret: illegal base64 data at input byte'), answer)

    def test_type_is_immutable(self):
        created = self.create(secret("t", {"username": B64("u")})).json
        changed = dict(created, type="kubernetes.io/basic-auth")
        answer = self.server.put(f"{self.base}/t", changed)
        self.assertStatus(answer, 422)
        self.assertEqual(answer.json, {
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": 'Secret "t" is invalid: type: Invalid value: "kubernetes.io/basic-auth": field is immutable',
            "reason": "Invalid",
            "details": {"name": "t", "kind": "Secret", "causes": [
                {"reason": "FieldValueInvalid", "message": 'Invalid value: "kubernetes.io/basic-auth": field is immutable',
                 "field": "type"}]},
            "code": 422})
        # A PUT without `type` is defaulted to Opaque, which is a change for a TLS Secret.
        tls = self.create(secret("tls", {"tls.crt": B64("c"), "tls.key": B64("k")}, type="kubernetes.io/tls")).json
        del tls["type"]
        answer = self.server.put(f"{self.base}/tls", tls)
        self.assertEqual(answer.json["message"], 'Secret "tls" is invalid: type: Invalid value: "Opaque": field is immutable')

    def test_immutable_secret(self):
        created = self.create(secret("imm", {"a": B64("1")}, immutable=True)).json
        path = f"{self.base}/imm"
        answer = self.server.put(path, dict(created, data={"a": B64("2")}))
        self.assertStatus(answer, 422)
        self.assertEqual(answer.json["message"], f'Secret "imm" is invalid: data: {IMMUTABLE}')
        self.assertEqual(answer.json["details"]["causes"],
                         [{"reason": "FieldValueForbidden", "message": IMMUTABLE, "field": "data"}])
        answer = self.server.put(path, dict(created, immutable=False))
        self.assertEqual(answer.json["message"], f'Secret "imm" is invalid: immutable: {IMMUTABLE}')
        answer = self.server.patch(path, {"immutable": None, "data": {"b": B64("3")}})
        self.assertEqual(answer.json["message"], f'Secret "imm" is invalid: [immutable: {IMMUTABLE}, data: {IMMUTABLE}]')
        # Metadata may still change.
        answer = self.server.patch(path, {"metadata": {"labels": {"x": "y"}}})
        self.assertStatus(answer, 200)
        self.assertEqual(answer.json["data"], {"a": B64("1")})

    def test_mutable_secret_may_become_immutable(self):
        created = self.create(secret("m", {"a": B64("1")})).json
        answer = self.server.put(f"{self.base}/m", dict(created, immutable=True, data={"a": B64("2")}))
        self.assertStatus(answer, 200)

    def test_configmap_immutable(self):
        path = f"/api/v1/namespaces/{self.ns}/configmaps"
        created = self.server.post(path, {"metadata": {"name": "cm"}, "data": {"a": "1"}, "immutable": True}).json
        answer = self.server.put(f"{path}/cm", dict(created, data={"a": "2"}))
        self.assertStatus(answer, 422)
        self.assertEqual(answer.json["message"], f'ConfigMap "cm" is invalid: data: {IMMUTABLE}')


if __name__ == "__main__":
    unittest.main()
