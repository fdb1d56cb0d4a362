"""The HTTP side: routing of Kubernetes API paths to the store, discovery, JSON merge
patches, a simplified server-side apply, and the control endpoints (/_bench, /_fault).
Anything else gets a 404 Status and is logged as UNKNOWN."""

import copy
import json
import socket
import sys
import threading
import time
import traceback
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler

from . import bench, faults, proxy, watch
from .bench import KEY_LABEL
from .errors import ApiError, UnknownPath, bad_request, status_body
from .resources import RESOURCES, SHORT_NAMES, VERBS, api_version
from .selectors import Filter


def merge_patch(target, patch):
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def split_api_path(parts):
    """['api', 'v1', ...] or ['apis', G, V, ...] -> (group, version, rest), or None."""
    if parts[:2] == ["api", "v1"]:
        return "", "v1", parts[2:]
    if len(parts) >= 3 and parts[0] == "apis":
        return parts[1], parts[2], parts[3:]
    return None


def resource_of(path):
    """The plural a Kubernetes API path addresses (for fault filters), or None."""
    split = split_api_path([p for p in path.split("/") if p])
    if split is None:
        return None
    rest = split[2]
    if len(rest) >= 3 and rest[0] == "namespaces":
        rest = rest[2:]
    return rest[0] if rest else None


def is_dry_run(query, options=None):
    return bool(query.get("dryRun")) or bool((options or {}).get("dryRun"))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server_version = "fake-apiserver"
    store = None  # set by main
    request_log = None
    max_watch_seconds = None
    failures = {}  # "METHOD route" (as in the stats counters) -> HTTP status to answer
    proxy_endpoints = "auto"  # --service-proxy-endpoints
    log_lock = threading.Lock()

    def log_message(self, fmt, *args):  # silence the default stderr log
        pass

    def log_request_line(self, code, started):
        if self.request_log is None:
            return
        line = f"{time.time():.3f} {self.command} {self.path} accept={self.headers.get('Accept', '')!r} ct={self.headers.get('Content-Type', '')!r} -> {code} {1000 * (time.perf_counter() - started):.1f}ms\n"
        with self.log_lock:
            self.request_log.write(line)
            self.request_log.flush()

    # -- plumbing
    def read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().strip().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    break
                data += self.rfile.read(size)
                self.rfile.readline()
            return data
        return self.rfile.read(length) if length else b""

    def send_json(self, code, body, started, retry_after=None):
        data = json.dumps(body, separators=(",", ":")).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Audit-Id", str(uuid.uuid4()))
        if retry_after:
            self.send_header("Retry-After", str(retry_after))
        self.end_headers()
        self.wfile.write(data)
        self.log_request_line(code, started)

    def send_raw(self, code, headers, data, started):
        self.send_response_only(code)  # the backend's Server and Date, if any, not ours too
        if not any(name.lower() == "date" for name, _ in headers):
            self.send_header("Date", self.date_time_string())
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        self.log_request_line(code, started)

    def do_GET(self):
        self.dispatch()

    def do_POST(self):
        self.dispatch()

    def do_PUT(self):
        self.dispatch()

    def do_PATCH(self):
        self.dispatch()

    def do_DELETE(self):
        self.dispatch()

    def dispatch(self):
        started = time.perf_counter()
        url = urllib.parse.urlsplit(self.path)
        query = {k: v[-1] for k, v in urllib.parse.parse_qs(url.query, keep_blank_values=True).items()}
        retry_after = None
        try:
            body = self.read_body()
            parts = [p for p in url.path.split("/") if p]
            if parts and parts[0] in ("_bench", "_fault"):
                code, out = self.control(parts, body)
            else:
                if self.injected_fault(url.path, started):
                    return
                proxied = proxy.SERVICE_PROXY.match(url.path)
                if proxied:
                    self.store.count(f"{self.command} services/proxy")
                    self.send_raw(*proxy.forward(self, proxied, url.query, body), started)
                    return
                ctype = (self.headers.get("Content-Type") or "application/json").split(";")[0].strip()
                if body and not (ctype == "application/json" or ctype.endswith("+json") or ctype == "application/apply-patch+yaml"):
                    raise ApiError(415, "UnsupportedMediaType", f"the fake apiserver only accepts JSON bodies, not {ctype!r}")
                code, out = self.route(parts, query, body, started)
                if code is None:  # a watch: already answered
                    return
        except ApiError as e:
            code, out, retry_after = e.code, e.body, e.retry_after
            if isinstance(e, UnknownPath):
                line = f"UNKNOWN {self.command} {self.path} accept={self.headers.get('Accept', '')!r}"
                with self.store.cond:
                    self.store.unknown.append(line)
                print(line, file=sys.stderr, flush=True)
        except (BrokenPipeError, ConnectionResetError):
            return
        except Exception as e:  # a bug here: say so, answer 500
            traceback.print_exc()
            code, out = 500, status_body(500, "InternalError", f"fake apiserver: {e!r}")
        try:
            self.send_json(code, out, started, retry_after)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def injected_fault(self, path, started):
        """Answers (or drops) the request as an active fault says; False when none applies."""
        fault = self.store.faults.match(self.command, resource_of(path))
        if fault is None:
            return False
        if fault.drop:
            self.store.count("connections dropped")
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self.log_request_line("dropped", started)
            return True
        self.store.count("faults answered")
        self.store.count(f"fault {fault.code}")
        self.send_raw(*fault.answer(), started)
        return True

    def control(self, parts, body):
        """/_bench/* and /_fault/*: never subject to faults."""
        what = parts[1] if len(parts) > 1 else ""
        if len(parts) > 2:
            self.unknown()
        if parts[0] == "_bench":
            answer = bench.handle(self.store, self.command, what)
        else:
            answer = faults.handle(self.store, self.command, what, self.parse(body) if body else {})
        if answer is None:
            self.unknown()
        return answer

    def unknown(self):
        raise UnknownPath(f"the server could not find the requested resource ({self.command} {self.path})")

    # -- routing
    def route(self, parts, query, body, started):
        if self.command == "GET":
            disc = self.discovery(parts)
            if disc is not None:
                return 200, disc
        split = split_api_path(parts)
        if split is None:
            self.unknown()
        group, version, rest = split
        namespace = None
        if len(rest) >= 3 and rest[0] == "namespaces":
            namespace, rest = rest[1], rest[2:]
        if not rest:
            self.unknown()
        res = (group, version, rest[0])
        if res not in RESOURCES:
            self.unknown()
        kind, namespaced, has_status = RESOURCES[res]
        if namespaced is False and namespace is not None:
            self.unknown()
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        if len(rest) > 3 or (sub is not None and not (sub == "status" and has_status)):
            self.unknown()
        route = f"{self.command} {self.route_name(res, namespace, name, sub, query)}"
        self.store.count(route)
        if route in self.failures:
            code = self.failures[route]
            self.store.count(f"injected {code}")
            reason = {403: "Forbidden", 404: "NotFound", 409: "Conflict", 429: "TooManyRequests",
                      500: "InternalError", 503: "ServiceUnavailable"}.get(code, "Unknown")
            raise ApiError(code, reason, f"injected failure for {route}")
        meta_only = "as=PartialObjectMetadata" in self.headers.get("Accept", "")
        if name is None:
            return self.collection(res, namespace, query, body, meta_only, started)
        if namespaced and namespace is None:
            self.unknown()
        return self.item(res, namespace, name, sub, query, body, meta_only)

    def collection(self, res, namespace, query, body, meta_only, started):
        store = self.store
        if self.command == "GET":
            flt = Filter(namespace, query.get("labelSelector"), query.get("fieldSelector"))
            if query.get("watch") in ("true", "1"):
                watch.serve(self, res, flt, query, meta_only, started)
                return None, None
            limit = int(query.get("limit") or 0)
            rv, items, cont, remaining = store.list(res, flt, limit, query.get("continue"))
            meta = {"resourceVersion": str(rv)}
            if cont:
                meta["continue"] = cont
                meta["remainingItemCount"] = remaining
            if meta_only:
                return 200, {"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1",
                             "metadata": meta, "items": [watch.metadata_only(o) for o in items]}
            return 200, {"kind": RESOURCES[res][0] + "List", "apiVersion": api_version(res), "metadata": meta, "items": items}
        if self.command == "POST":
            obj = self.parse(body)
            if RESOURCES[res][1] and namespace is None:
                namespace = (obj.get("metadata") or {}).get("namespace")
                if not namespace:
                    raise bad_request("a namespaced object needs a namespace")
            obj = store.create(res, namespace, obj, dry_run=is_dry_run(query))
            if res[2] == "secrets" and not is_dry_run(query):
                self.note_secret(namespace, obj)
            return 201, obj
        self.unknown()

    def note_secret(self, namespace, obj):
        owners = obj["metadata"].get("ownerReferences") or []
        if any(o.get("kind") == "SealedSecret" for o in owners):
            with self.store.cond:
                self.store.controller_secrets.add((namespace, obj["metadata"]["name"]))
        if KEY_LABEL in (obj["metadata"].get("labels") or {}):
            self.store.count("key secrets created")

    def item(self, res, namespace, name, sub, query, body, meta_only):
        store = self.store
        if self.command == "GET":
            obj = store.get(res, namespace, name)
            return 200, watch.metadata_only(obj) if meta_only else obj
        if self.command == "PUT":
            new = self.parse(body)
            return 200, store.replace(res, namespace, name, new, sub, put=True, dry_run=is_dry_run(query))
        if self.command == "PATCH":
            ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip()
            patch = self.parse(body)
            if ctype == "application/apply-patch+yaml":
                return self.server_side_apply(res, namespace, name, sub, patch, is_dry_run(query))
            if ctype not in ("application/merge-patch+json", "application/strategic-merge-patch+json"):
                raise ApiError(415, "UnsupportedMediaType", f"the fake apiserver does not support patch type {ctype!r}")
            old = store.get(res, namespace, name)
            new = merge_patch(old, patch)
            if "resourceVersion" not in (patch.get("metadata") or {}):
                # No precondition: the server applies the patch to the latest version.
                new["metadata"] = dict(new.get("metadata") or {})
                new["metadata"].pop("resourceVersion", None)
            return 200, store.replace(res, namespace, name, new, sub, dry_run=is_dry_run(query))
        if self.command == "DELETE":
            options = self.parse(body) if body else {}
            return 200, store.delete(res, namespace, name, options, dry_run=is_dry_run(query, options))
        self.unknown()

    def server_side_apply(self, res, namespace, name, sub, applied, dry_run):
        """Server-side apply, simplified (JSON bodies only, no field managers): creates the
        object, or replaces what the applied configuration sets at the top level of the
        object and its labels and annotations, keeping the rest of the metadata."""
        store = self.store
        try:
            old = store.get(res, namespace, name)
        except ApiError:
            if sub:
                raise
            obj = copy.deepcopy(applied)
            obj.setdefault("metadata", {})["name"] = name
            obj.pop("status", None)
            return 201, store.create(res, namespace, obj, dry_run=dry_run)
        new = copy.deepcopy(old)
        for key, value in applied.items():
            if key not in ("metadata", "apiVersion", "kind"):
                new[key] = copy.deepcopy(value)
        meta = dict(old["metadata"])
        for key in ("labels", "annotations"):
            meta.pop(key, None)
            if key in (applied.get("metadata") or {}):
                meta[key] = applied["metadata"][key]
        meta.pop("resourceVersion", None)
        new["metadata"] = meta
        return 200, store.replace(res, namespace, name, new, sub, dry_run=dry_run)

    @staticmethod
    def route_name(res, namespace, name, sub, query):
        path = res[2]
        if namespace is not None:
            path = "namespaces/*/" + path
        if name is not None:
            path += "/*"
        if sub:
            path += "/" + sub
        if name is None and query.get("watch") in ("true", "1"):
            path += "?watch"
        return path

    def parse(self, body):
        try:
            obj = json.loads(body or b"{}")
        except ValueError as e:
            raise bad_request(f"cannot parse the body as JSON: {e}")
        if not isinstance(obj, dict):
            raise bad_request("the body is not a JSON object")
        return obj

    # -- discovery, enough for kubectl
    def discovery(self, parts):
        if parts == ["version"]:
            return {"major": "1", "minor": "33", "gitVersion": "v1.33.0-fake", "platform": "linux/amd64"}
        if parts == ["api"]:
            return {"kind": "APIVersions", "versions": ["v1"],
                    "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]}
        groups = sorted({(g, v) for g, v, _ in RESOURCES if g})
        if parts == ["apis"]:
            return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [
                {"name": g, "versions": [{"groupVersion": f"{g}/{v}", "version": v}],
                 "preferredVersion": {"groupVersion": f"{g}/{v}", "version": v}} for g, v in groups]}
        if parts == ["api", "v1"]:
            gv, g, v = "v1", "", "v1"
        elif len(parts) == 3 and parts[0] == "apis" and (parts[1], parts[2]) in groups:
            gv, g, v = f"{parts[1]}/{parts[2]}", parts[1], parts[2]
        else:
            return None
        resources = []
        for (rg, rv, plural), (kind, namespaced, has_status) in RESOURCES.items():
            if (rg, rv) != (g, v):
                continue
            resources.append({"name": plural, "singularName": kind.lower(), "namespaced": namespaced,
                              "kind": kind, "verbs": VERBS, "shortNames": SHORT_NAMES.get(plural, [])})
            if has_status:
                resources.append({"name": plural + "/status", "singularName": "", "namespaced": namespaced,
                                  "kind": kind, "verbs": ["get", "patch", "update"]})
        return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}
