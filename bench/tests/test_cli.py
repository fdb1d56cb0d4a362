"""bench/fake_apiserver.py as other scripts use it: options, --help, preloading, imports."""

import os
import subprocess
import sys
import unittest

from fakeserver import BENCH, SCRIPT, FakeServer


class CommandLine(unittest.TestCase):
    def test_help_documents_the_control_endpoints(self):
        out = subprocess.run([sys.executable, SCRIPT, "--help"], capture_output=True, text=True, check=True).stdout
        for text in ("LISTENING <port>", "/_bench/stats", "/_bench/compact", "/_fault/fail", "/_fault/relist",
                     "/_fault/lease-conflicts", "--namespace-termination-seconds", "--fault JSON"):
            self.assertIn(text, out)

    def test_preloaded_objects_and_namespaces(self):
        server = FakeServer("--secrets", "4", "--namespaces", "2", "--home", "sealed-home")
        try:
            items = server.get("/api/v1/secrets").json["items"]
            self.assertEqual(sorted(o["metadata"]["namespace"] for o in items), ["bench-0", "bench-0", "bench-1", "bench-1"])
            names = {o["metadata"]["name"] for o in server.get("/api/v1/namespaces").json["items"]}
            self.assertTrue({"bench-0", "bench-1", "sealed-home", "default", "kube-system"} <= names, names)
            self.assertEqual(server.post("/_bench/release").json, {"released": 0})
        finally:
            server.stop()

    def test_helpers_importable_by_the_benchmark_scripts(self):
        code = ("import fake_apiserver as fa; name, crt, key = fa.parse_key_arg('A'); "
                "s = fa.key_secret(name, 'ns', b'c', b'k'); assert s['type'] == 'kubernetes.io/tls', s; "
                "assert fa.plain_secret('x', 'ns', 3)['data'] and callable(fa.seal_all)")
        subprocess.run([sys.executable, "-c", code], cwd=BENCH, check=True, env=dict(os.environ, PYTHONPATH=BENCH))


if __name__ == "__main__":
    unittest.main()
