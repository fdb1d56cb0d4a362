#!/usr/bin/env python3
"""A fake Kubernetes API server for the controller benchmarks and the end-to-end suite:
plain HTTP, in memory.

It serves what sealed-secrets-controller (and kubectl, for the scripts' real-cluster
mode) calls, with real list/watch semantics: resourceVersions, paged lists
(`limit`/`continue`), metadata-only lists and watches (`Accept: ...;as=PartialObject
Metadata[List]`), label and field selectors (a watch sees an object entering or leaving
the selection as ADDED or DELETED), chunked watch streams that resume from a
resourceVersion, generateName, optimistic concurrency on PUT, the status subresource,
JSON merge patches, a simplified server-side apply (JSON bodies, no field managers),
immutable Secrets. Anything else gets a 404 Status and is logged as UNKNOWN.

  python3 bench/fake_apiserver.py --port 8001 --sealed-secrets 1000 --secrets 10000

Resources: Secrets, Namespaces (deleting one deletes its objects at once), SealedSecrets,
Events (core and events.k8s.io), ConfigMaps, Services, Endpoints, EndpointSlices, Pods,
ServiceAccounts, Deployments and CustomResourceDefinitions (Established at once). Nothing
runs behind them: no scheduler, kubelet, garbage collector or endpoints controller.
Endpoints and EndpointSlice addresses are validated as the API server does (no loopback,
link-local or unspecified addresses).

The service proxy, `/api/v1/namespaces/NS/services/[SCHEME:]NAME[:PORT]/proxy/PATH`
(PORT a port name or number), forwards the request (method, query, body, headers but
hop-by-hop ones and Authorization; the caller's address appended to X-Forwarded-For) to
the first usable address of the Service and answers what the backend answers. As
kube-apiserver, it matches the Service port's name against the endpoint ports' names and
takes the endpoint's port number (not the Service's targetPort). --service-proxy-endpoints
picks where addresses come from: 'endpoints' as kube-apiserver up to 1.34 (the Endpoints
object, and only addresses whose targetRef names a Pod of the namespace whose
status.podIPs has that IP), 'endpointslices' as 1.35 on (EndpointSlices labelled
kubernetes.io/service-name, ready endpoints), 'auto' (default) the Endpoints object when
there is one, else the EndpointSlices. Failures: no Service, 404 `services "NAME" not
found`; nothing usable, 503 `no endpoints available for service "NAME"`; backend
unreachable, 500 `error trying to reach service: dial tcp IP:PORT: connect: connection
refused` (kube-apiserver answers transport errors with 500, not being Status errors).

Start-up options preload the fixture key A (or any key pairs) as key Secrets in the home
namespace, N SealedSecrets sealed to the first key's certificate with our `kubeseal`
binary (so they really decrypt), and M unrelated ~1 KiB Secrets.

Benchmark endpoints (not Kubernetes):
  GET  /_bench/stats    counters (Secrets created by the controller, status patches,
                        SealedSecrets synced for their current generation, requests per
                        route, unknown requests) as JSON
  POST /_bench/release  adds the SealedSecrets held back by --defer-sealed (ADDED events)
  POST /_bench/touch    bumps every SealedSecret's generation (MODIFIED events), as a
                        spec change would: the controller reconciles each once more
  POST /_bench/compact  ends every watch; resuming from an old resourceVersion gets
                        410 Gone, so clients must list again
  POST /_bench/reset    zeroes the counters

To see how the controller copes: --upstream-crd prunes status.keyFingerprint as
upstream's CRD schema would, --fail 'CODE:METHOD ROUTE' answers an error for one route
(routes as in the stats counters, e.g. '403:GET secrets' or '404:GET sealedsecrets'),
--max-watch-seconds ends watches early, --request-log FILE logs every request.

For the end-to-end suite (tests/README.md):

  python3 bench/fake_apiserver.py --port 0 --no-keys   # prints LISTENING <port>
  # a kubeconfig with `server: http://127.0.0.1:<port>` and an empty user, then
  SEALED_E2E_KUBECONFIG=that-file cargo test -p sealed-e2e -- --nocapture

Prints "LISTENING <port>" on stdout once it serves. Standard library only.
"""

import argparse
import base64
import bisect
import copy
import http.client
import ipaddress
import itertools
import json
import socket
import ssl
import os
import random
import re
import string
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KEYS_DIR = os.path.join(ROOT, "testdata/vectors/kubeseal-0.36.6/keys")
KEY_LABEL = "sealedsecrets.bitnami.com/sealed-secrets-key"


def target_dir():
    return os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))


# (group, version, plural) -> (kind, namespaced, has status subresource)
RESOURCES = {
    ("", "v1", "secrets"): ("Secret", True, False),
    ("", "v1", "namespaces"): ("Namespace", False, True),
    ("bitnami.com", "v1alpha1", "sealedsecrets"): ("SealedSecret", True, True),
    ("events.k8s.io", "v1", "events"): ("Event", True, False),
    # What the end-to-end suite (tests/) uses besides the above.
    ("", "v1", "configmaps"): ("ConfigMap", True, False),
    ("", "v1", "events"): ("Event", True, False),
    ("", "v1", "services"): ("Service", True, True),
    ("", "v1", "endpoints"): ("Endpoints", True, False),
    ("", "v1", "pods"): ("Pod", True, True),
    ("", "v1", "serviceaccounts"): ("ServiceAccount", True, False),
    ("discovery.k8s.io", "v1", "endpointslices"): ("EndpointSlice", True, False),
    ("apps", "v1", "deployments"): ("Deployment", True, True),
    ("coordination.k8s.io", "v1", "leases"): ("Lease", True, False),
    ("apiextensions.k8s.io", "v1", "customresourcedefinitions"): ("CustomResourceDefinition", False, True),
}
SHORT_NAMES = {"namespaces": ["ns"], "events": ["ev"], "configmaps": ["cm"], "services": ["svc"],
               "endpoints": ["ep"], "pods": ["po"], "serviceaccounts": ["sa"], "deployments": ["deploy"],
               "customresourcedefinitions": ["crd", "crds"]}
SERVICE_NAME_LABEL = "kubernetes.io/service-name"  # EndpointSlice -> its Service
VERBS = ["create", "delete", "get", "list", "patch", "update", "watch"]


# The API server's service proxy, and the headers a proxy does not forward.
SERVICE_PROXY = re.compile(r"^/api/v1/namespaces/(?P<ns>[^/]+)/services/(?P<svc>[^/]+)/proxy(?P<rest>/.*)?$")
HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection",
              "te", "trailer", "transfer-encoding", "upgrade"}
PROXY_TIMEOUT_SECONDS = 30


def now_rfc3339():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def status_body(code, reason, message, details=None):
    body = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details:
        body["details"] = details
    return body


class ApiError(Exception):
    def __init__(self, code, reason, message, details=None):
        super().__init__(message)
        self.code = code
        self.body = status_body(code, reason, message, details)


class UnknownPath(ApiError):
    """A path or verb the fake does not serve: 404, and logged."""

    def __init__(self, message):
        super().__init__(404, "NotFound", message)


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


def special_ip_problem(text):
    """Why an Endpoints/EndpointSlice address is refused, as the API server words it, or None."""
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return "must be a valid IP address"
    if ip.is_unspecified:
        return "may not be unspecified (0.0.0.0)" if ip.version == 4 else "may not be unspecified (::)"
    if ip.is_loopback:
        return "may not be in the loopback range (127.0.0.0/8, ::1/128)"
    if ip.is_link_local:
        return "may not be in the link-local range (169.254.0.0/16, fe80::/10)"
    if ip.is_multicast and (ip in ipaddress.ip_network("224.0.0.0/24") or ip in ipaddress.ip_network("ff02::/16")):
        return "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)"
    return None


def validate(res, obj):
    """The few validations the end-to-end suite relies on: endpoint addresses."""
    kind = RESOURCES[res][0]
    name = obj["metadata"].get("name")
    problems = []
    if res[2] == "endpoints":
        for i, subset in enumerate(obj.get("subsets") or []):
            for field in ("addresses", "notReadyAddresses"):
                for j, addr in enumerate(subset.get(field) or []):
                    why = special_ip_problem(addr.get("ip") or "")
                    if why:
                        problems.append(f'subsets[{i}].{field}[{j}].ip: Invalid value: "{addr.get("ip")}": {why}')
    elif res[2] == "endpointslices":
        if obj.get("addressType") not in ("IPv4", "IPv6", "FQDN"):
            problems.append(f'addressType: Unsupported value: "{obj.get("addressType")}": supported values: "FQDN", "IPv4", "IPv6"')
        for i, ep in enumerate(obj.get("endpoints") or []):
            for j, address in enumerate(ep.get("addresses") or []):
                why = obj.get("addressType") != "FQDN" and special_ip_problem(address)
                if why:
                    problems.append(f'endpoints[{i}].addresses[{j}]: Invalid value: "{address}": {why}')
    if problems:
        raise ApiError(422, "Invalid", f'{kind} "{name}" is invalid: ' + (problems[0] if len(problems) == 1 else "[" + ", ".join(problems) + "]"),
                       {"name": name, "kind": res[2]})


# ---------------------------------------------------------------- selectors

_REQ = re.compile(r"^\s*(!?)([A-Za-z0-9._/-]+)\s*(?:(==|=|!=)\s*([A-Za-z0-9._-]*)|\s+(in|notin)\s*\(([^)]*)\))?\s*$")


def split_requirements(text):
    parts, depth, cur = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    if cur.strip():
        parts.append(cur)
    return parts


def parse_label_selector(text):
    """-> list of predicates over a labels dict; raises ApiError on bad syntax."""
    preds = []
    for req in split_requirements(text or ""):
        m = _REQ.match(req)
        if not m:
            raise ApiError(400, "BadRequest", f"unable to parse requirement: {req!r}")
        neg, key, op, value, setop, values = m.groups()
        if neg:
            preds.append(lambda l, k=key: k not in l)
        elif op in ("=", "=="):
            preds.append(lambda l, k=key, v=value: l.get(k) == v)
        elif op == "!=":
            preds.append(lambda l, k=key, v=value: l.get(k) != v)
        elif setop:
            vs = {v.strip() for v in values.split(",") if v.strip()}
            if setop == "in":
                preds.append(lambda l, k=key, vs=vs: l.get(k) in vs)
            else:
                preds.append(lambda l, k=key, vs=vs: l.get(k) not in vs)
        else:
            preds.append(lambda l, k=key: k in l)
    return preds


def field_value(obj, path):
    cur = obj
    for part in path.split("."):
        if not isinstance(cur, dict):
            return None
        cur = cur.get(part)
    return cur if cur is None else str(cur)


def parse_field_selector(text):
    preds = []
    for req in split_requirements(text or ""):
        m = re.match(r"^\s*([A-Za-z0-9._]+)\s*(==|=|!=)\s*(.*?)\s*$", req)
        if not m:
            raise ApiError(400, "BadRequest", f"invalid field selector: {req!r}")
        path, op, value = m.groups()
        if path not in ("metadata.name", "metadata.namespace", "type"):
            raise ApiError(400, "BadRequest", f"field label not supported: {path}")
        if op == "!=":
            preds.append(lambda o, p=path, v=value: field_value(o, p) != v)
        else:
            preds.append(lambda o, p=path, v=value: field_value(o, p) == v)
    return preds


class Filter:
    def __init__(self, namespace, label_selector, field_selector):
        self.namespace = namespace
        self.labels = parse_label_selector(label_selector)
        self.fields = parse_field_selector(field_selector)

    def __call__(self, obj):
        meta = obj.get("metadata", {})
        if self.namespace is not None and meta.get("namespace") != self.namespace:
            return False
        labels = meta.get("labels") or {}
        return all(p(labels) for p in self.labels) and all(p(obj) for p in self.fields)


# ---------------------------------------------------------------- the store


class Store:
    def __init__(self):
        self.cond = threading.Condition()
        self.rv = 100
        self.objects = {res: {} for res in RESOURCES}  # res -> {(ns, name): obj}
        self.log = []  # (rv, res, type, obj, old object of a MODIFIED), rv increasing
        self.log_rvs = []
        self.log_start = self.rv  # watches from an older RV get 410 Gone
        self.snapshots = {}  # continue token id -> list of objects
        self.snapshot_ids = itertools.count(1)
        self.deferred = []
        self.watch_epoch = 0  # bumped to end every open watch
        self.prune_status = False  # --upstream-crd
        self.counters = {}
        self.controller_secrets = set()
        self.unknown = []

    # -- counters
    def count(self, name, n=1):
        with self.cond:
            self.counters[name] = self.counters.get(name, 0) + n

    def next_rv(self):
        self.rv += 1
        return self.rv

    def emit(self, res, type_, obj, old=None):
        # `old`: the object before a MODIFIED, so that a selector watch can turn the
        # change into ADDED or DELETED when the object enters or leaves the selection.
        self.log.append((self.rv, res, type_, obj, old))
        self.log_rvs.append(self.rv)
        self.cond.notify_all()

    # -- writes (callers hold no lock)
    def new_meta(self, res, namespace, obj):
        meta = obj.setdefault("metadata", {})
        kind, namespaced, _ = RESOURCES[res]
        if namespaced:
            if meta.get("namespace") not in (None, "", namespace):
                raise ApiError(400, "BadRequest", "the namespace of the provided object does not match the namespace sent on the request")
            meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)
        if not meta.get("name"):
            prefix = meta.get("generateName")
            if not prefix:
                raise ApiError(422, "Invalid", f"{kind} is invalid: metadata.name: Required value: name or generateName is required")
            meta["name"] = prefix + "".join(random.choices(string.ascii_lowercase + string.digits, k=5))
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = now_rfc3339()
        meta.pop("resourceVersion", None)
        meta.pop("deletionTimestamp", None)
        if res[2] == "sealedsecrets" or res[2] == "namespaces":
            meta["generation"] = 1
        obj["apiVersion"] = (res[0] + "/" if res[0] else "") + res[1]
        obj["kind"] = kind
        if res[2] == "namespaces":
            obj.setdefault("status", {"phase": "Active"})
        elif res[2] == "sealedsecrets":
            obj.pop("status", None)
        elif res[2] == "pods":
            obj["status"] = {"phase": "Pending"}  # as the API server; a kubelet would set the rest
        elif res[2] == "services":
            spec = obj.setdefault("spec", {})
            spec.setdefault("type", "ClusterIP")
            if spec.get("clusterIP") in (None, ""):
                spec["clusterIP"] = f"10.96.{random.randint(0, 255)}.{random.randint(1, 254)}"
            obj["status"] = {"loadBalancer": {}}
        elif res[2] == "customresourcedefinitions":
            obj["status"] = {"conditions": [{"type": "NamesAccepted", "status": "True"},
                                            {"type": "Established", "status": "True"}],
                             "acceptedNames": (obj.get("spec") or {}).get("names", {})}
        validate(res, obj)

    def create(self, res, namespace, obj, notify=True):
        self.new_meta(res, namespace, obj)
        key = (obj["metadata"].get("namespace"), obj["metadata"]["name"])
        with self.cond:
            table = self.objects[res]
            if key in table:
                raise ApiError(409, "AlreadyExists", f'{res[2]} "{key[1]}" already exists',
                               {"name": key[1], "kind": res[2]})
            obj["metadata"]["resourceVersion"] = str(self.next_rv())
            table[key] = obj
            if notify:
                self.emit(res, "ADDED", obj)
            else:
                self.log_start = self.rv
        return obj

    def get(self, res, namespace, name):
        with self.cond:
            obj = self.objects[res].get((namespace, name))
        if obj is None:
            raise ApiError(404, "NotFound", f'{res[2]} "{name}" not found', {"name": name, "kind": res[2]})
        return obj

    def replace(self, res, namespace, name, new, subresource=None):
        """PUT, or the result of a PATCH (`new` is the whole object)."""
        with self.cond:
            table = self.objects[res]
            old = table.get((namespace, name))
            if old is None:
                raise ApiError(404, "NotFound", f'{res[2]} "{name}" not found', {"name": name, "kind": res[2]})
            rv = (new.get("metadata") or {}).get("resourceVersion")
            if rv and rv != old["metadata"]["resourceVersion"]:
                raise ApiError(409, "Conflict",
                               f'Operation cannot be fulfilled on {res[2]} "{name}": the object has been modified; please apply your changes to the latest version and try again',
                               {"name": name, "kind": res[2]})
            if res[2] == "secrets" and old.get("immutable") and (new.get("data") != old.get("data") or not new.get("immutable")):
                raise ApiError(422, "Invalid", f'Secret "{name}" is invalid: data: Forbidden: field is immutable when `immutable` is set')
            has_status = RESOURCES[res][2]
            if subresource == "status":
                obj = copy.copy(old)
                obj["metadata"] = dict(old["metadata"])
                if "status" in new:
                    obj["status"] = new["status"]
                else:
                    obj.pop("status", None)
            else:
                obj = dict(new)
                meta = dict(new.get("metadata") or {})
                for field in ("uid", "creationTimestamp", "namespace", "name", "generation"):
                    if field in old["metadata"]:
                        meta[field] = old["metadata"][field]
                    else:
                        meta.pop(field, None)
                meta["resourceVersion"] = old["metadata"]["resourceVersion"]
                obj["metadata"] = meta
                obj["apiVersion"], obj["kind"] = old["apiVersion"], old["kind"]
                if has_status:
                    if "status" in old:
                        obj["status"] = old["status"]
                    else:
                        obj.pop("status", None)
                if "generation" in old["metadata"]:
                    strip = lambda o: {k: v for k, v in o.items() if k not in ("metadata", "status")}
                    if strip(obj) != strip(old):
                        meta["generation"] = old["metadata"]["generation"] + 1
            if self.prune_status and res[2] == "sealedsecrets" and isinstance(obj.get("status"), dict):
                # upstream's CRD schema: status has conditions and observedGeneration only
                obj["status"] = {k: v for k, v in obj["status"].items() if k in ("conditions", "observedGeneration")}
            if obj == old:
                return old  # a no-op write does not bump the resourceVersion
            if subresource != "status":
                validate(res, obj)
            obj["metadata"]["resourceVersion"] = str(self.next_rv())
            table[(namespace, name)] = obj
            self.emit(res, "MODIFIED", obj, old)
            return obj

    def delete(self, res, namespace, name):
        with self.cond:
            obj = self.objects[res].pop((namespace, name), None)
            if obj is None:
                raise ApiError(404, "NotFound", f'{res[2]} "{name}" not found', {"name": name, "kind": res[2]})
            obj = dict(obj)
            obj["metadata"] = dict(obj["metadata"], resourceVersion=str(self.next_rv()))
            self.emit(res, "DELETED", obj)
            if res[2] == "namespaces":  # what the namespace controller would do, at once
                for other, (_, namespaced, _) in RESOURCES.items():
                    if namespaced:
                        for key in [k for k in self.objects[other] if k[0] == name]:
                            self.delete(other, key[0], key[1])
            return obj

    def list(self, res, flt, limit, token):
        with self.cond:
            if token:
                try:
                    snap_id, offset = token.split(":")
                    rv, items = self.snapshots[snap_id]
                    offset = int(offset)
                except (ValueError, KeyError):
                    raise ApiError(410, "Expired", "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.")
            else:
                snap_id, offset = None, 0
                rv = self.rv
                items = [o for _, o in sorted(self.objects[res].items(), key=lambda kv: (kv[0][0] or "", kv[0][1])) if flt(o)]
            page = items[offset:offset + limit] if limit else items[offset:]
            offset += len(page)
            cont = ""
            if offset < len(items):
                if snap_id is None:
                    snap_id = str(next(self.snapshot_ids))
                    self.snapshots[snap_id] = (rv, items)
                    while len(self.snapshots) > 64:
                        self.snapshots.pop(next(iter(self.snapshots)))
                cont = f"{snap_id}:{offset}"
            elif snap_id is not None:
                self.snapshots.pop(snap_id, None)
            return rv, page, cont, len(items) - offset

    def events_after(self, rv, pos=None):
        """Index of the first log entry after resourceVersion rv."""
        if pos is not None:
            return pos
        return bisect.bisect_right(self.log_rvs, rv)

    def bump_generations(self):
        res = ("bitnami.com", "v1alpha1", "sealedsecrets")
        with self.cond:
            n = 0
            for key, old in list(self.objects[res].items()):
                obj = dict(old)
                obj["metadata"] = dict(old["metadata"], generation=old["metadata"].get("generation", 1) + 1)
                obj["metadata"]["resourceVersion"] = str(self.next_rv())
                self.objects[res][key] = obj
                self.emit(res, "MODIFIED", obj)
                n += 1
            return n

    def release(self):
        res = ("bitnami.com", "v1alpha1", "sealedsecrets")
        deferred, self.deferred = self.deferred, []
        for obj in deferred:
            self.create(res, obj["metadata"]["namespace"], obj)
        return len(deferred)

    def stats(self):
        ss = ("bitnami.com", "v1alpha1", "sealedsecrets")
        with self.cond:
            synced = failed = pending = 0
            fingerprints = {}
            for obj in self.objects[ss].values():
                st = obj.get("status") or {}
                fp = st.get("keyFingerprint")
                fingerprints[fp] = fingerprints.get(fp, 0) + 1
                cond = next((c for c in st.get("conditions") or [] if c.get("type") == "Synced"), None)
                if cond is None or st.get("observedGeneration") != obj["metadata"].get("generation"):
                    pending += 1
                elif cond.get("status") == "True":
                    synced += 1
                else:
                    failed += 1
            owned = sum(1 for key in self.controller_secrets if key in self.objects[("", "v1", "secrets")])
            return {
                "time": time.time(),
                "resourceVersion": self.rv,
                "sealedsecrets": len(self.objects[ss]),
                "deferred": len(self.deferred),
                "synced": synced,
                "failed": failed,
                "pending": pending,
                "secrets": len(self.objects[("", "v1", "secrets")]),
                "controller_secrets": owned,
                "status_key_fingerprints": fingerprints,
                "counters": dict(self.counters),
                "unknown": list(self.unknown[-50:]),
                "unknown_total": len(self.unknown),
            }


# ---------------------------------------------------------------- HTTP


def metadata_only(obj):
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj.get("metadata", {})}


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

    def send_json(self, code, body, started):
        data = json.dumps(body, separators=(",", ":")).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Audit-Id", str(uuid.uuid4()))
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
        try:
            body = self.read_body()
            proxied = SERVICE_PROXY.match(url.path)
            if proxied:
                self.store.count(f"{self.command} services/proxy")
                answer = self.service_proxy(proxied, url.query, body)
                self.send_raw(*answer, started)
                return
            ctype = (self.headers.get("Content-Type") or "application/json").split(";")[0].strip()
            if body and not (ctype == "application/json" or ctype.endswith("+json") or ctype == "application/apply-patch+yaml"):
                raise ApiError(415, "UnsupportedMediaType", f"the fake apiserver only accepts JSON bodies, not {ctype!r}")
            code, out = self.route(url.path, query, body, started)
            if code is None:  # a watch: already answered
                return
        except ApiError as e:
            code, out = e.code, e.body
            if isinstance(e, UnknownPath):
                line = f"UNKNOWN {self.command} {self.path} accept={self.headers.get('Accept', '')!r}"
                with self.store.cond:
                    self.store.unknown.append(line)
                print(line, file=sys.stderr, flush=True)
        except (BrokenPipeError, ConnectionResetError):
            return
        except Exception as e:  # a bug here: say so, answer 500
            import traceback
            traceback.print_exc()
            code, out = 500, status_body(500, "InternalError", f"fake apiserver: {e!r}")
        try:
            self.send_json(code, out, started)
        except (BrokenPipeError, ConnectionResetError):
            pass

    # -- the service proxy
    def service_proxy(self, match, query, body):
        """/api/v1/namespaces/NS/services/[SCHEME:]NAME[:PORT]/proxy/REST, as the API server
        serves it: the Service's port (a number is looked up among the Service's ports and
        replaced by its name), then the Endpoints (or EndpointSlices) port of that name and
        the first usable address, and the request forwarded there. Answers
        (status, headers, body); the backend's answer goes back unchanged."""
        namespace = urllib.parse.unquote(match.group("ns"))
        service_id = urllib.parse.unquote(match.group("svc"))
        rest = match.group("rest") or "/"
        try:
            target = self.resolve_service(namespace, service_id)
        except ApiError as e:
            return e.code, [("Content-Type", "application/json")], json.dumps(e.body).encode()
        scheme, ip, port = target
        headers = {}
        for name, value in self.headers.items():
            if name.lower() in HOP_BY_HOP or name.lower() in ("host", "authorization", "content-length"):
                continue
            headers[name] = value
        # As the API server's proxy: the caller's address appended to X-Forwarded-For, and
        # where the request came in.
        client = self.client_address[0]
        prior = self.headers.get_all("X-Forwarded-For") or []
        headers["X-Forwarded-For"] = ", ".join(prior + [client])
        prefix = f"/api/v1/namespaces/{match.group('ns')}/services/{match.group('svc')}/proxy"
        headers["X-Forwarded-Uri"] = prefix + rest
        headers["X-Forwarded-Host"] = self.headers.get("Host", "")
        headers["X-Forwarded-Proto"] = "http"
        if body or self.command in ("POST", "PUT", "PATCH"):
            headers["Content-Length"] = str(len(body))
        host = f"[{ip}]" if ":" in ip else ip
        path = rest + (f"?{query}" if query else "")
        try:
            if scheme == "https":  # the API server does not verify the backend's certificate
                conn = http.client.HTTPSConnection(ip, port, timeout=PROXY_TIMEOUT_SECONDS,
                                                   context=ssl._create_unverified_context())
            else:
                conn = http.client.HTTPConnection(ip, port, timeout=PROXY_TIMEOUT_SECONDS)
            try:
                conn.request(self.command, path, body=body if body or "Content-Length" in headers else None,
                             headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                out_headers = [(k, v) for k, v in resp.getheaders()
                               if k.lower() not in HOP_BY_HOP and k.lower() != "content-length"]
                return resp.status, out_headers, data
            finally:
                conn.close()
        except (OSError, http.client.HTTPException) as e:
            if isinstance(e, ConnectionRefusedError):
                why = f"dial tcp {host}:{port}: connect: connection refused"
            elif isinstance(e, (socket.timeout, TimeoutError)):
                why = f"dial tcp {host}:{port}: i/o timeout"
            elif isinstance(e, (http.client.HTTPException, ConnectionResetError)):
                why = "EOF"
            else:
                why = f"dial tcp {host}:{port}: connect: {str(getattr(e, 'strerror', None) or e).lower()}"  # Go's errno text
            # The API server wraps transport errors as "error trying to reach service: ...";
            # not being Status errors, they are answered as 500 with no reason.
            status = status_body(500, "", f"error trying to reach service: {why}")
            status.pop("reason")
            return 500, [("Content-Type", "application/json")], json.dumps(status).encode()

    def resolve_service(self, namespace, service_id):
        """-> (scheme, ip, port), or ApiError with the API server's answer."""
        store = self.store
        parts = service_id.split(":")
        if len(parts) == 1:
            scheme, name, port = "", parts[0], ""
        elif len(parts) == 2:
            scheme, (name, port) = "", parts
        elif len(parts) == 3:
            scheme, name, port = parts
        else:
            scheme, name, port = "bad", "", ""
        if not name or scheme not in ("", "http", "https"):
            raise ApiError(400, "BadRequest", f'invalid service request "{service_id}"')
        # (The real API server only reads the Service when the port is a number; with a
        # name it goes straight to the endpoints, and a missing Service reads
        # 'endpoints "NAME" not found'.)
        svc = store.get(("", "v1", "services"), namespace, name)
        if port.isdigit():
            named = [p for p in (svc.get("spec") or {}).get("ports") or [] if str(p.get("port")) == port]
            if not named:
                raise ApiError(503, "ServiceUnavailable", f'no service port {port} found for service "{name}"')
            port = named[0].get("name") or ""
        with store.cond:
            endpoints = store.objects[("", "v1", "endpoints")].get((namespace, name))
            slices = [o for (ns, _), o in sorted(store.objects[("discovery.k8s.io", "v1", "endpointslices")].items())
                      if ns == namespace and ((o.get("metadata") or {}).get("labels") or {}).get(SERVICE_NAME_LABEL) == name]
        mode = self.proxy_endpoints
        if mode == "endpoints" or (mode == "auto" and endpoints is not None):
            # Up to Kubernetes 1.34: the Endpoints object, and only addresses whose
            # targetRef names a Pod of the namespace that has that IP.
            if endpoints is None:
                raise ApiError(404, "NotFound", f'endpoints "{name}" not found', {"name": name, "kind": "endpoints"})
            subsets = endpoints.get("subsets") or []
            if not subsets:
                raise ApiError(503, "ServiceUnavailable", f'no endpoints available for service "{name}"')
            for subset in subsets:
                for p in subset.get("ports") or []:
                    if (p.get("name") or "") != port:
                        continue
                    for addr in subset.get("addresses") or []:
                        problem = self.invalid_address(namespace, addr)
                        if problem:
                            print(f"service proxy: address {addr} of {namespace}/{name} isn't valid ({problem})",
                                  file=sys.stderr, flush=True)
                            continue
                        return scheme or "http", addr["ip"], int(p["port"])
        else:
            # Kubernetes 1.35 on: EndpointSlices labelled with the Service's name.
            if not slices:
                raise ApiError(503, "ServiceUnavailable", f'no endpoints available for service "{name}"')
            for es in slices:
                if es.get("addressType") not in ("IPv4", "IPv6"):
                    continue
                for p in es.get("ports") or []:
                    if (p.get("name") or "") != port or p.get("port") is None:
                        continue
                    for ep in es.get("endpoints") or []:
                        if (ep.get("conditions") or {}).get("ready") is False or not ep.get("addresses"):
                            continue
                        return scheme or "http", ep["addresses"][0], int(p["port"])
        raise ApiError(503, "ServiceUnavailable", f'no endpoints available for service "{service_id}"')

    def invalid_address(self, namespace, addr):
        """The API server's check (up to 1.34) that an endpoint address belongs to a Pod."""
        ref = addr.get("targetRef")
        if not ref:
            return "Address has no target ref, skipping"
        if ref.get("namespace") != namespace:
            return "Address namespace doesn't match context namespace"
        with self.store.cond:
            pod = self.store.objects[("", "v1", "pods")].get((namespace, ref.get("name")))
        if pod is None:
            return f'pods "{ref.get("name")}" not found'
        ips = [p.get("ip") for p in (pod.get("status") or {}).get("podIPs") or []]
        if addr.get("ip") not in ips:
            return f"pod ip(s) doesn't match endpoint ip, skipping: {ips} vs {addr.get('ip')}"
        return None

    def unknown(self):
        raise UnknownPath(f"the server could not find the requested resource ({self.command} {self.path})")

    # -- routing
    def route(self, path, query, body, started):
        parts = [p for p in path.split("/") if p]
        store = self.store
        if parts and parts[0] == "_bench":
            return self.bench(parts[1:] if len(parts) > 1 else [""])
        if self.command == "GET":
            disc = self.discovery(parts)
            if disc is not None:
                return 200, disc
        if parts[:2] == ["api", "v1"]:
            group, version, rest = "", "v1", parts[2:]
        elif len(parts) >= 3 and parts[0] == "apis":
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            self.unknown()
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
        store.count(route)
        if route in self.failures:
            code = self.failures[route]
            store.count(f"injected {code}")
            reason = {403: "Forbidden", 404: "NotFound", 409: "Conflict", 429: "TooManyRequests",
                      500: "InternalError", 503: "ServiceUnavailable"}.get(code, "Unknown")
            raise ApiError(code, reason, f"injected failure for {route}")
        accept = self.headers.get("Accept", "")
        meta_only = "as=PartialObjectMetadata" in accept
        if name is None:
            if self.command == "GET":
                flt = Filter(namespace, query.get("labelSelector"), query.get("fieldSelector"))
                if query.get("watch") in ("true", "1"):
                    self.watch(res, flt, query, meta_only, started)
                    return None, None
                limit = int(query.get("limit") or 0)
                rv, items, cont, remaining = store.list(res, flt, limit, query.get("continue"))
                meta = {"resourceVersion": str(rv)}
                if cont:
                    meta["continue"] = cont
                    meta["remainingItemCount"] = remaining
                if meta_only:
                    return 200, {"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1",
                                 "metadata": meta, "items": [metadata_only(o) for o in items]}
                api_version = (group + "/" if group else "") + version
                return 200, {"kind": kind + "List", "apiVersion": api_version, "metadata": meta, "items": items}
            if self.command == "POST":
                obj = self.parse(body)
                if namespaced and namespace is None:
                    namespace = (obj.get("metadata") or {}).get("namespace")
                    if not namespace:
                        raise ApiError(400, "BadRequest", "a namespaced object needs a namespace")
                if query.get("dryRun"):
                    return 201, obj
                obj = store.create(res, namespace, obj)
                if res[2] == "secrets":
                    owners = obj["metadata"].get("ownerReferences") or []
                    if any(o.get("kind") == "SealedSecret" for o in owners):
                        with store.cond:
                            store.controller_secrets.add((namespace, obj["metadata"]["name"]))
                    if KEY_LABEL in (obj["metadata"].get("labels") or {}):
                        store.count("key secrets created")
                return 201, obj
            self.unknown()
        if namespaced and namespace is None:
            self.unknown()
        if self.command == "GET":
            obj = store.get(res, namespace, name)
            return 200, metadata_only(obj) if meta_only else obj
        if self.command == "PUT":
            new = self.parse(body)
            return 200, store.replace(res, namespace, name, new, sub)
        if self.command == "PATCH":
            ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip()
            patch = self.parse(body)
            if ctype == "application/apply-patch+yaml":
                return self.server_side_apply(res, namespace, name, sub, patch)
            if ctype not in ("application/merge-patch+json", "application/strategic-merge-patch+json"):
                raise ApiError(415, "UnsupportedMediaType", f"the fake apiserver does not support patch type {ctype!r}")
            old = store.get(res, namespace, name)
            new = merge_patch(old, patch)
            if "resourceVersion" not in (patch.get("metadata") or {}):
                # No precondition: the server applies the patch to the latest version.
                new["metadata"] = dict(new.get("metadata") or {})
                new["metadata"].pop("resourceVersion", None)
            return 200, store.replace(res, namespace, name, new, sub)
        if self.command == "DELETE":
            return 200, store.delete(res, namespace, name)
        self.unknown()

    def server_side_apply(self, res, namespace, name, sub, applied):
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
            return 201, store.create(res, namespace, obj)
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
        return 200, store.replace(res, namespace, name, new, sub)

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
            raise ApiError(400, "BadRequest", f"cannot parse the body as JSON: {e}")
        if not isinstance(obj, dict):
            raise ApiError(400, "BadRequest", "the body is not a JSON object")
        return obj

    # -- watch
    def watch(self, res, flt, query, meta_only, started):
        store = self.store
        timeout = float(query.get("timeoutSeconds") or 1800)
        if self.max_watch_seconds:
            timeout = min(timeout, self.max_watch_seconds)
        deadline = time.monotonic() + timeout
        bookmarks = query.get("allowWatchBookmarks") == "true"
        rv_text = query.get("resourceVersion") or ""
        with store.cond:
            epoch = store.watch_epoch
            if rv_text in ("", "0"):
                pos = len(store.log)  # "start at the most recent": no replay (no synthetic ADDED)
                last_rv = store.rv
            else:
                try:
                    rv = int(rv_text)
                except ValueError:
                    rv = -1
                if rv < store.log_start:
                    pos = None
                else:
                    pos = store.events_after(rv)
                    last_rv = rv
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        self.log_request_line("200 watch-open", started)
        kind, _, _ = RESOURCES[res]

        def send(event):
            data = json.dumps(event, separators=(",", ":")).encode() + b"\n"
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

        try:
            if pos is None:
                send({"type": "ERROR", "object": status_body(410, "Expired", f"too old resource version: {rv_text} ({store.log_start})")})
            else:
                last_bookmark = time.monotonic()
                while True:
                    with store.cond:
                        while pos >= len(store.log):
                            left = deadline - time.monotonic()
                            if left <= 0 or store.watch_epoch != epoch:
                                break
                            store.cond.wait(min(left, 5.0))
                            if bookmarks and time.monotonic() - last_bookmark > 30:
                                break
                        batch = store.log[pos:]
                        pos = len(store.log)
                        current_rv = store.rv
                    sent = 0
                    for rv, r, type_, obj, old in batch:
                        last_rv = rv
                        if r != res:
                            continue
                        if type_ == "MODIFIED" and old is not None:
                            # As the watch cache: entering the selection is ADDED, leaving it DELETED.
                            now_in, was_in = flt(obj), flt(old)
                            if now_in and not was_in:
                                type_ = "ADDED"
                            elif was_in and not now_in:
                                type_ = "DELETED"
                            elif not now_in:
                                continue
                        elif not flt(obj):
                            continue
                        send({"type": type_, "object": metadata_only(obj) if meta_only else obj})
                        sent += 1
                    if sent:
                        store.count(f"watch events sent ({res[2]})", sent)
                    now = time.monotonic()
                    if bookmarks and (now - last_bookmark > 30 or now >= deadline):
                        api_version = "meta.k8s.io/v1" if meta_only else ((res[0] + "/" if res[0] else "") + res[1])
                        send({"type": "BOOKMARK", "object": {
                            "kind": "PartialObjectMetadata" if meta_only else kind, "apiVersion": api_version,
                            "metadata": {"resourceVersion": str(max(last_rv, current_rv))}}})
                        last_bookmark = now
                    if now >= deadline or store.watch_epoch != epoch:
                        break
            self.wfile.write(b"0\r\n\r\n")
            self.log_request_line("200 watch-closed", started)
        except (BrokenPipeError, ConnectionResetError, OSError):
            self.close_connection = True

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

    # -- benchmark endpoints
    def bench(self, parts):
        store = self.store
        what = parts[0]
        if what == "stats" and self.command == "GET":
            return 200, store.stats()
        if what == "release" and self.command == "POST":
            return 200, {"released": store.release()}
        if what == "touch" and self.command == "POST":
            return 200, {"touched": store.bump_generations()}
        if what == "compact" and self.command == "POST":
            # As etcd compaction plus watch cache loss: every open watch ends, and
            # resuming from any resourceVersion seen so far gets 410 Gone (relist).
            with store.cond:
                store.log_start = store.next_rv()  # lists from now on return this or later
                store.watch_epoch += 1
                store.cond.notify_all()
            return 200, {"log_start": store.log_start}
        if what == "reset" and self.command == "POST":
            with store.cond:
                store.counters = {}
            return 200, {}
        self.unknown()


# ---------------------------------------------------------------- preloading


def key_secret(name, namespace, cert_pem, key_pem):
    b64 = lambda b: base64.b64encode(b).decode()
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "kubernetes.io/tls",
        "metadata": {"name": name, "namespace": namespace, "labels": {KEY_LABEL: "active"}},
        "data": {"tls.crt": b64(cert_pem), "tls.key": b64(key_pem)},
    }


def parse_key_arg(text):
    """NAME=DIR (with tls.crt and tls.key), or a fixture letter A/B."""
    if text in ("A", "B"):
        return (f"sealed-secrets-key{text.lower()}xxxx", os.path.join(KEYS_DIR, f"{text}.tls.crt"),
                os.path.join(KEYS_DIR, f"{text}.tls.key"))
    name, _, directory = text.partition("=")
    if not directory:
        raise SystemExit(f"--key {text!r}: expected A, B or NAME=DIR")
    return name, os.path.join(directory, "tls.crt"), os.path.join(directory, "tls.key")


def plain_secret(name, namespace, items):
    rnd = random.Random(f"{namespace}/{name}")
    data = {"username": f"user-{name}".encode(), "password": "".join(rnd.choices(string.ascii_letters, k=24)).encode(),
            "config.yaml": ("host: db.example.com\nport: 5432\nsslmode: verify-full\n" * 4)[:200].encode()}
    for i in range(3, items):
        data[f"item-{i}"] = rnd.randbytes(32).hex().encode()
    keys = list(data)[:items]
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": name, "namespace": namespace},
            "data": {k: base64.b64encode(data[k]).decode() for k in keys}}


def decode_stream(text):
    dec, pos, out = json.JSONDecoder(), 0, []
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            return out
        obj, pos = dec.raw_decode(text, pos)
        out.append(obj)


def seal_all(kubeseal, cert, secrets):
    """Seals Secrets with one kubeseal process (concatenated JSON in, JSON out)."""
    stdin = "".join(json.dumps(s) + "\n" for s in secrets).encode()
    out = subprocess.run([kubeseal, "--cert", cert, "-o", "json"], input=stdin, capture_output=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"kubeseal failed ({out.returncode}): {out.stderr.decode(errors='replace')}")
    sealed = decode_stream(out.stdout.decode())
    if len(sealed) == 1 and sealed[0].get("kind", "").endswith("List"):
        sealed = sealed[0]["items"]
    if len(sealed) != len(secrets):
        raise SystemExit(f"kubeseal returned {len(sealed)} objects for {len(secrets)} Secrets")
    return sealed


def preload(store, args):
    home = args.home
    namespaces = [f"{args.namespace_prefix}{i}" for i in range(args.namespaces)]
    used = namespaces if (args.sealed_secrets or args.secrets) else []
    for ns in sorted(set(used + [home, "default"])):
        store.create(("", "v1", "namespaces"), None, {"metadata": {"name": ns}}, notify=False)
    keys = [] if args.no_keys else [parse_key_arg(k) for k in (args.key or ["A"])]
    for name, crt, key in keys:
        with open(crt, "rb") as f1, open(key, "rb") as f2:
            store.create(("", "v1", "secrets"), home, key_secret(name, home, f1.read(), f2.read()), notify=False)
    if args.sealed_secrets:
        kubeseal = args.kubeseal or os.path.join(target_dir(), "release", "kubeseal")
        if not (args.seal_cert or keys):
            raise SystemExit("--sealed-secrets needs a key (--key) or --seal-cert")
        cert = args.seal_cert or keys[0][1]
        plain = [plain_secret(f"sealed-{i:05d}", namespaces[i % len(namespaces)], args.items)
                 for i in range(args.sealed_secrets)]
        t0 = time.perf_counter()
        sealed = seal_all(kubeseal, cert, plain)
        print(f"sealed {len(sealed)} Secrets with {kubeseal} in {time.perf_counter() - t0:.2f} s", file=sys.stderr)
        for obj in sealed:
            obj.pop("status", None)
            if args.defer_sealed:
                store.deferred.append(obj)
            else:
                store.create(("bitnami.com", "v1alpha1", "sealedsecrets"), obj["metadata"]["namespace"], obj, notify=False)
    filler = base64.b64encode(os.urandom(768)).decode()  # 1 KiB of base64
    for i in range(args.secrets):
        ns = namespaces[i % len(namespaces)]
        store.create(("", "v1", "secrets"), ns, {
            "type": "Opaque",
            "metadata": {"name": f"unrelated-{i:06d}", "namespace": ns, "labels": {"app": f"app-{i % 100}"}},
            "data": {"blob": filler[:-8] + f"{i:08d}"},
        }, notify=False)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--port", type=int, default=0, help="0: any free port (printed)")
    p.add_argument("--home", default="kube-system", help="the controller's namespace, where key Secrets go")
    p.add_argument("--key", action="append", metavar="A|B|NAME=DIR",
                   help="key pair to preload as an active key Secret (repeatable; default A). DIR holds tls.crt and tls.key")
    p.add_argument("--no-keys", action="store_true", help="preload no key Secret (the controller makes one)")
    p.add_argument("--sealed-secrets", type=int, default=0, metavar="N", help="SealedSecrets to preload")
    p.add_argument("--items", type=int, default=3, help="items per SealedSecret (default 3)")
    p.add_argument("--seal-cert", help="certificate to seal to (default: the first --key's)")
    p.add_argument("--defer-sealed", action="store_true", help="hold the SealedSecrets back until POST /_bench/release")
    p.add_argument("--secrets", type=int, default=0, metavar="M", help="unrelated ~1 KiB Secrets to preload")
    p.add_argument("--namespaces", type=int, default=10, help="namespaces to spread objects over")
    p.add_argument("--namespace-prefix", default="bench-")
    p.add_argument("--kubeseal", help="kubeseal binary (default $CARGO_TARGET_DIR or target/, release)")
    p.add_argument("--request-log", help="append every request to this file")
    p.add_argument("--upstream-crd", action="store_true",
                   help="prune SealedSecret status to upstream's CRD schema (conditions, observedGeneration): "
                        "status.keyFingerprint is dropped, as with upstream's CRD installed")
    p.add_argument("--max-watch-seconds", type=float, help="end watches after this long (tests re-watching)")
    p.add_argument("--fail", action="append", default=[], metavar="CODE:METHOD ROUTE",
                   help="answer this status for a route as named in the stats counters, e.g. "
                        "'403:GET secrets' (cluster-wide Secret list) or '404:GET sealedsecrets?watch'")
    p.add_argument("--service-proxy-endpoints", choices=["auto", "endpoints", "endpointslices"], default="auto",
                   help="where the service proxy finds a Service's addresses: 'endpoints' as kube-apiserver up to "
                        "1.34 (the Endpoints object; each address needs a targetRef to a Pod with that IP), "
                        "'endpointslices' as 1.35 on (EndpointSlices labelled kubernetes.io/service-name), "
                        "'auto' (default) the Endpoints object when there is one, else the EndpointSlices")
    args = p.parse_args()

    store = Store()
    store.prune_status = args.upstream_crd
    t0 = time.perf_counter()
    preload(store, args)
    print(f"preloaded in {time.perf_counter() - t0:.2f} s", file=sys.stderr)
    Handler.store = store
    Handler.max_watch_seconds = args.max_watch_seconds
    Handler.proxy_endpoints = args.service_proxy_endpoints
    for spec in args.fail:
        code, _, route = spec.partition(":")
        Handler.failures[route.strip()] = int(code)
    if args.request_log:
        Handler.request_log = open(args.request_log, "a")
    ThreadingHTTPServer.request_queue_size = 128
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    print(f"LISTENING {server.server_address[1]}", flush=True)
    try:
        server.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
