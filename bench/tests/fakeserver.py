"""Starts bench/fake_apiserver.py on a free port and talks HTTP to it.

FAKE_APISERVER=path/to/another/fake_apiserver.py runs the tests against another copy
(e.g. an older one, to see which tests it fails)."""

import atexit
import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
import unittest
import uuid

BENCH = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.environ.get("FAKE_APISERVER") or os.path.join(BENCH, "fake_apiserver.py")
JSON = "application/json"
MERGE = "application/merge-patch+json"


class Answer:
    def __init__(self, status, headers, data):
        self.status = status
        self.headers = headers
        self.data = data

    @property
    def json(self):
        return json.loads(self.data)

    def __repr__(self):
        return f"Answer({self.status}, {self.data[:400]!r})"


class FakeServer:
    def __init__(self, *args):
        cmd = [sys.executable, SCRIPT, "--port", "0", "--no-keys", *args]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("LISTENING "):
            self.proc.kill()
            raise RuntimeError(f"the fake API server did not start: {line!r} {self.proc.stderr.read()}")
        self.port = int(line.split()[1])

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()
        self.proc.stderr.close()

    def request(self, method, path, body=None, content_type=JSON, timeout=10):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            data = json.dumps(body).encode() if body is not None else None
            headers = {"Content-Type": content_type} if data is not None else {}
            conn.request(method, path, body=data, headers=headers)
            resp = conn.getresponse()
            return Answer(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
        finally:
            conn.close()

    # -- shortcuts
    def get(self, path):
        return self.request("GET", path)

    def post(self, path, body=None):
        return self.request("POST", path, body if body is not None else {})

    def put(self, path, body):
        return self.request("PUT", path, body)

    def patch(self, path, body):
        return self.request("PATCH", path, body, MERGE)

    def delete(self, path, body=None):
        return self.request("DELETE", path, body)

    def namespace(self, prefix="t"):
        name = f"{prefix}-{uuid.uuid4().hex[:8]}"
        answer = self.post("/api/v1/namespaces", {"metadata": {"name": name}})
        assert answer.status == 201, answer
        return name

    def watch(self, path):
        return Watch(self.port, path)


class Watch:
    """A watch read in the background: events, and how the stream ended
    ("clean": the final chunk; "cut": the connection closed mid-stream)."""

    def __init__(self, port, path):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.conn.request("GET", path)
        self.sock = self.conn.sock
        self.resp = self.conn.getresponse()
        self.status = self.resp.status
        self.events = []
        self.ended = None
        self.done = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        # read1, not readline: readline takes a connection closed mid-stream for an end.
        buffer = b""
        try:
            while True:
                chunk = self.resp.read1(65536)
                if not chunk:
                    self.ended = "clean"
                    return
                buffer += chunk
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    self.events.append(json.loads(line))
        except (http.client.IncompleteRead, OSError, ValueError):
            self.ended = "cut"
        finally:
            self.done.set()

    def wait_end(self, seconds=5):
        return self.done.wait(seconds)

    def wait_events(self, n, seconds=5):
        deadline = time.monotonic() + seconds
        while len(self.events) < n and time.monotonic() < deadline and not self.done.is_set():
            time.sleep(0.02)
        return self.events

    def close(self):
        try:  # wakes the reader up; closing alone would wait for its read to time out
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.done.wait(5)
        self.conn.close()


def secret(name, data=None, **fields):
    obj = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}}
    if data is not None:
        obj["data"] = data
    obj.update(fields)
    return obj


def wait_for(check, seconds=5):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    return check()


_SHARED = {}  # options -> a server shared by the test classes that use them


def shared_server(args):
    if args not in _SHARED:
        _SHARED[args] = FakeServer(*args)
    return _SHARED[args]


@atexit.register
def _stop_shared():
    for server in _SHARED.values():
        server.stop()


class FakeTestCase(unittest.TestCase):
    """Tests against a fake API server started with SERVER_ARGS (shared by the classes
    with the same options; each test uses its own namespaces)."""

    SERVER_ARGS = ("--namespace-termination-seconds", "0")
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        cls.server = shared_server(tuple(cls.SERVER_ARGS))

    def assertStatus(self, answer, code):
        self.assertEqual(answer.status, code, answer)
