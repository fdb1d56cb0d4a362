"""Injected faults: what an API server in trouble does, switched on and off over HTTP.
They apply to Kubernetes API requests only (including discovery and the service proxy),
never to /_bench/* and /_fault/*.

  POST /_fault/fail   {"code": 503, "seconds": 5}  or  {"code": 500, "requests": 3}
                      answers that status instead of serving, for S seconds or the next N
                      matching requests (neither: until cleared). Optional "method" (GET,
                      PUT, ...), "resource" (a plural: secrets, leases, ...) filters,
                      "message", and "retryAfterSeconds": K (any code; default 1 for 429):
                      the Status gets details.retryAfterSeconds and the answer a
                      Retry-After header, as kube-apiserver writes them. Bodies are
                      kube-apiserver's Status: 500 InternalError "Internal error occurred:
                      ...", 503 ServiceUnavailable, 429 TooManyRequests, 504 Timeout, ...;
                      with "plain": true a 429 is the text/plain answer of the
                      max-in-flight and priority-and-fairness filters instead.
                      {"drop": true, "seconds": S} (or "requests": N): connections are
                      closed without an answer, and every open watch is cut off at once
                      (no final chunk), as when the API server goes away. With
                      "restart": true also its watch history: resuming from an earlier
                      resourceVersion afterwards gets 410 Expired, as from a restarted
                      kube-apiserver, whose watch cache starts at its first list.
                      Answers {"fault": {...}}; several faults may be active, the
                      earliest added that matches wins.
  POST /_fault/clear  ends them all; {"cleared": n}
  GET  /_fault        the active faults and lease conflicts left
  POST /_fault/relist {"delete": [{"resource": "secrets", "namespace": "NS", "name": "N"}, ...]}
                      (resource a plural or group/version/plural) deletes those objects
                      without any DELETED event, compacts the history past them and ends
                      every open watch: a client resuming from its resourceVersion gets the
                      watch ERROR event 410 Expired `too old resource version: RV (OLDEST)`
                      and must list again. {"deleted": n}
  POST /_fault/lease-conflicts {"count": N}
                      the next N PUTs of Leases answer 409 Conflict (`Operation cannot be
                      fulfilled on leases.coordination.k8s.io "NAME": the object has been
                      modified; ...`), as when another candidate wrote first.
                      {"leaseConflicts": N}

Counters in GET /_bench/stats: "faults answered", "fault CODE", "connections dropped",
"lease conflicts answered".
"""

import json
import threading
import time

from .errors import bad_request, details, status_body
from .resources import by_name, is_namespaced

DEFAULT_MESSAGES = {
    400: ("BadRequest", "injected fault"),
    401: ("Unauthorized", "Unauthorized"),
    403: ("Forbidden", "forbidden: injected fault"),
    404: ("NotFound", "the server could not find the requested resource"),
    409: ("Conflict", "injected fault"),
    410: ("Expired", "injected fault"),
    422: ("Invalid", "injected fault"),
    429: ("TooManyRequests", "Too many requests, please try again later."),
    500: ("InternalError", None),  # NewInternalError's wording, below
    503: ("ServiceUnavailable", "the server is currently unable to handle the request"),
    504: ("Timeout", "Timeout: request did not complete within requested timeout - context deadline exceeded"),
}
INTERNAL_CAUSE = "etcdserver: request timed out"


class Fault:
    def __init__(self, spec):
        if not isinstance(spec, dict):
            raise ValueError("a fault is a JSON object")
        self.drop = spec.get("drop") is True
        self.code = spec.get("code")
        if not self.drop and not (isinstance(self.code, int) and 400 <= self.code <= 599):
            raise ValueError('a fault needs "code" (400-599) or "drop": true')
        seconds, requests = spec.get("seconds"), spec.get("requests")
        if seconds is not None and not (isinstance(seconds, (int, float)) and seconds > 0):
            raise ValueError('"seconds" must be a positive number')
        if requests is not None and not (isinstance(requests, int) and requests > 0):
            raise ValueError('"requests" must be a positive integer')
        self.until = time.monotonic() + seconds if seconds else None
        self.left = requests
        self.method = (spec.get("method") or "").upper() or None
        self.resource = spec.get("resource") or None
        self.message = spec.get("message")
        retry = spec.get("retryAfterSeconds")
        self.retry_after = retry if isinstance(retry, int) and retry > 0 else (1 if self.code == 429 else None)
        self.plain = spec.get("plain") is True
        self.spec = spec

    def expired(self, now):
        return (self.until is not None and now >= self.until) or self.left == 0

    def matches(self, method, resource):
        return (self.method is None or self.method == method) and (self.resource is None or self.resource == resource)

    def answer(self):
        """-> (code, headers, body bytes) of the injected error."""
        headers = [("Retry-After", str(self.retry_after))] if self.retry_after else []
        if self.plain and self.code == 429:
            text = (self.message or DEFAULT_MESSAGES[429][1]) + "\n"
            return 429, headers + [("Content-Type", "text/plain; charset=utf-8"),
                                   ("X-Content-Type-Options", "nosniff")], text.encode()
        reason, default = DEFAULT_MESSAGES.get(self.code, ("", "injected fault"))
        extra = {}
        if self.code == 500:
            cause = self.message or INTERNAL_CAUSE
            message, extra = f"Internal error occurred: {cause}", {"causes": [{"message": cause}]}
        else:
            message = self.message or default
        body = status_body(self.code, reason, message, details(retry_after=self.retry_after, **extra))
        return self.code, headers + [("Content-Type", "application/json")], json.dumps(body).encode()

    def describe(self, now):
        out = dict(self.spec)
        if self.until is not None:
            out["secondsLeft"] = round(max(0.0, self.until - now), 3)
        if self.left is not None:
            out["requestsLeft"] = self.left
        return out


class Faults:
    def __init__(self):
        self.lock = threading.Lock()
        self.rules = []
        self.lease_conflicts = 0

    def add(self, spec):
        fault = Fault(spec)
        with self.lock:
            self.rules.append(fault)
        return fault

    def clear(self):
        with self.lock:
            n = len(self.rules) + (1 if self.lease_conflicts else 0)
            self.rules, self.lease_conflicts = [], 0
            return n

    def match(self, method, resource):
        """The fault that answers this request, if any (one request of it used up)."""
        now = time.monotonic()
        with self.lock:
            self.rules = [r for r in self.rules if not r.expired(now)]
            for rule in self.rules:
                if rule.matches(method, resource):
                    if rule.left is not None:
                        rule.left -= 1
                    return rule
        return None

    def set_lease_conflicts(self, n):
        with self.lock:
            self.lease_conflicts = n

    def take_lease_conflict(self):
        with self.lock:
            if self.lease_conflicts <= 0:
                return False
            self.lease_conflicts -= 1
            return True

    def describe(self):
        now = time.monotonic()
        with self.lock:
            return {"active": [r.describe(now) for r in self.rules if not r.expired(now)],
                    "leaseConflicts": self.lease_conflicts}


def handle(store, method, what, body):
    """/_fault/WHAT -> (code, JSON answer), or None for an unknown one."""
    faults = store.faults
    if method == "GET" and what == "":
        return 200, faults.describe()
    if method != "POST":
        return None
    if what == "fail":
        try:
            fault = faults.add(body)
        except ValueError as e:
            raise bad_request(f"fault: {e}")
        if fault.drop:
            store.abort_watches()
            if body.get("restart") is True:
                store.compact()  # a restarted API server's watch cache starts from now
        return 200, {"fault": fault.describe(time.monotonic())}
    if what == "clear":
        return 200, {"cleared": faults.clear()}
    if what == "relist":
        targets = relist_targets((body or {}).get("delete"))
        return 200, {"deleted": store.relist(targets)}
    if what == "lease-conflicts":
        count = (body or {}).get("count")
        if not (isinstance(count, int) and count >= 0):
            raise bad_request('lease-conflicts: "count" must be a non-negative integer')
        faults.set_lease_conflicts(count)
        return 200, {"leaseConflicts": count}
    return None


def relist_targets(items):
    """The "delete" list of POST /_fault/relist -> [(res, namespace, name)]."""
    if not isinstance(items, list):
        raise bad_request('relist: "delete" must be a list')
    targets = []
    for item in items:
        res = by_name(item.get("resource")) if isinstance(item, dict) else None
        if res is None or not item.get("name"):
            raise bad_request(f"relist: each item needs a known resource and a name, not {json.dumps(item)}")
        targets.append((res, item.get("namespace") if is_namespaced(res) else None, item["name"]))
    return targets
