"""The in-memory store: objects, resourceVersions, the event log that watches replay,
and the write semantics of kube-apiserver's generic registry (k8s.io/apiserver
pkg/registry/generic/registry/store.go):

- create: generateName, uid, creationTimestamp, AlreadyExists (prefixed `object is
  being deleted: ` while the old one waits for its finalizers);
- update (PUT, and PATCH after the patch is applied): a `metadata.uid` in a PUT body is
  a precondition (409 with the storage error's text), a `metadata.resourceVersion` an
  optimistic lock (409 Conflict), and an update that removes the last finalizer of an
  object being deleted deletes it; a no-op write does not bump the resourceVersion;
- delete: `preconditions` (uid, resourceVersion) of the DeleteOptions checked first
  (409 as BeforeDelete words it); an object with `metadata.finalizers` only gets
  `deletionTimestamp` (and its generation bumped); the answer is the object for the
  registries that return it (Pods, Services, ServiceAccounts, custom resources), else a
  `Status` of status Success;
- Namespaces: see namespaces.py.
"""

import bisect
import copy
import itertools
import random
import string
import threading
import time
import uuid

from . import namespaces
from . import validation
from .errors import (OPTIMISTIC_LOCK, ApiError, already_exists, bad_request, conflict, details, kind_conflict,
                     not_found)
from .faults import Faults
from .resources import (LEASES, NAMESPACES, RESOURCES, RETURNS_DELETED_OBJECT, SEALED_SECRETS, SECRETS,
                        api_version, etcd_key, is_namespaced, kind_of, now_rfc3339)

NAMESPACE_MISMATCH = "the namespace of the provided object does not match the namespace sent on the request"


class Store:
    def __init__(self, namespace_termination_seconds=2.0):
        self.cond = threading.Condition()  # an RLock: helpers may nest
        self.rv = 100
        self.objects = {res: {} for res in RESOURCES}  # res -> {(ns, name): obj}
        self.log = []  # (rv, res, type, obj, old object of a MODIFIED), rv increasing
        self.log_rvs = []
        self.log_start = self.rv  # watches from an older RV get 410 Gone
        self.snapshots = {}  # continue token id -> list of objects
        self.snapshot_ids = itertools.count(1)
        self.deferred = []
        self.watch_epoch = 0  # bumped to end every open watch
        self.abort_epoch = 0  # bumped to cut every open watch off, as a server that went away
        self.prune_status = False  # --upstream-crd
        self.namespace_termination_seconds = namespace_termination_seconds
        self.emptied_namespaces = set()  # terminating ones the namespace controller has emptied
        self.faults = Faults()
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

    def put(self, res, key, obj, old=None, notify=True):
        """Stores obj with a new resourceVersion; an ADDED or MODIFIED event."""
        obj["metadata"]["resourceVersion"] = str(self.next_rv())
        self.objects[res][key] = obj
        if notify:
            self.emit(res, "MODIFIED" if old is not None else "ADDED", obj, old)
        else:
            self.log_start = self.rv
        return obj

    def remove(self, res, key):
        """Deletes at once; a DELETED event carrying the last state at a new resourceVersion."""
        obj = self.objects[res].pop(key)
        obj = dict(obj, metadata=dict(obj["metadata"], resourceVersion=str(self.next_rv())))
        self.emit(res, "DELETED", obj)
        if is_namespaced(res):
            namespaces.content_removed(self, key[0])
        return obj

    def mark_deleting(self, res, key):
        """An object with finalizers asked to go: deletionTimestamp set, and its
        generation bumped (markAsDeleting); it stays until its finalizers are removed."""
        old = self.objects[res][key]
        if old["metadata"].get("deletionTimestamp"):
            return old
        obj = copy.deepcopy(old)
        meta = obj["metadata"]
        if meta.get("generation"):
            meta["generation"] += 1
        meta["deletionTimestamp"] = now_rfc3339()
        meta["deletionGracePeriodSeconds"] = 0
        return self.put(res, key, obj, old)

    # -- create
    def create(self, res, namespace, obj, notify=True, dry_run=False):
        validation.prepare(res, obj)
        meta = obj.setdefault("metadata", {})
        if is_namespaced(res):
            if meta.get("namespace") not in (None, "", namespace):
                raise bad_request(NAMESPACE_MISMATCH)
            meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)
        with self.cond:
            namespaces.admit_create(self, res, namespace, obj)
            self.new_meta(res, obj)
            validation.validate_create(res, obj)
            key = (meta.get("namespace"), meta["name"])
            existing = self.objects[res].get(key)
            if existing is not None:
                error = already_exists(res, key[1])
                if existing["metadata"].get("deletionTimestamp"):
                    error.body["message"] = "object is being deleted: " + error.body["message"]
                raise error
            if dry_run:
                return obj
            return self.put(res, key, obj, notify=notify)

    def new_meta(self, res, obj):
        meta = obj["metadata"]
        if not meta.get("name"):
            prefix = meta.get("generateName")
            if not prefix:
                raise ApiError(422, "Invalid", f"{kind_of(res)} is invalid: metadata.name: Required value: name or generateName is required")
            meta["name"] = prefix + "".join(random.choices(string.ascii_lowercase + string.digits, k=5))
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = now_rfc3339()
        for field in ("resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds"):
            meta.pop(field, None)
        if res[2] in ("sealedsecrets", "namespaces"):
            meta["generation"] = 1
        obj["apiVersion"] = api_version(res)
        obj["kind"] = kind_of(res)
        if res[2] == "namespaces":
            namespaces.prepare_for_create(obj)
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

    def get(self, res, namespace, name):
        with self.cond:
            obj = self.objects[res].get((namespace, name))
        if obj is None:
            raise not_found(res, name)
        return obj

    # -- update
    def replace(self, res, namespace, name, new, subresource=None, put=False, dry_run=False):
        """PUT, or the result of a PATCH (`new` is the whole object). In a PUT, a
        metadata.uid in `new` must be the object's, and Lease conflicts may be injected."""
        key = (namespace, name)
        with self.cond:
            old = self.objects[res].get(key)
            if old is None:
                raise not_found(res, name)
            self.check_update_preconditions(res, key, old, new, put)
            if subresource == "status":
                obj = self.status_update(old, new)
            else:
                new = copy.deepcopy(new)
                validation.prepare(res, new)
                obj = self.spec_update(res, old, new)
                validation.validate_update(res, obj, old)
            if self.prune_status and res == SEALED_SECRETS and isinstance(obj.get("status"), dict):
                # upstream's CRD schema: status has conditions and observedGeneration only
                obj["status"] = {k: v for k, v in obj["status"].items() if k in ("conditions", "observedGeneration")}
            if old["metadata"].get("deletionTimestamp") and not obj["metadata"].get("finalizers"):
                # The last finalizer is gone: deleted instead of written.
                return old if dry_run else self.remove(res, key)
            if obj == old or dry_run:
                return old if obj == old else obj  # a no-op write does not bump the resourceVersion
            return self.put(res, key, obj, old)

    def check_update_preconditions(self, res, key, old, new, put):
        meta = new.get("metadata") or {}
        name = key[1]
        if meta.get("name") not in (None, "", name):
            raise bad_request(f"the name of the object ({meta['name']}) does not match the name on the URL ({name})")
        if is_namespaced(res) and meta.get("namespace") not in (None, "", key[0]):
            raise bad_request(NAMESPACE_MISMATCH)
        uid, old_uid = meta.get("uid"), old["metadata"].get("uid")
        if put and uid and uid != old_uid:
            raise conflict(res, name, f"StorageError: invalid object, Code: 4, Key: {etcd_key(res, key[0], name)}, "
                                      f"ResourceVersion: 0, AdditionalErrorMsg: Precondition failed: "
                                      f"UID in precondition: {uid}, UID in object meta: {old_uid}")
        rv = meta.get("resourceVersion")
        if rv and rv != old["metadata"]["resourceVersion"]:
            raise conflict(res, name, OPTIMISTIC_LOCK)
        if put and res == LEASES and self.faults.take_lease_conflict():
            self.count("lease conflicts answered")
            raise conflict(res, name, OPTIMISTIC_LOCK)

    @staticmethod
    def status_update(old, new):
        obj = copy.copy(old)
        obj["metadata"] = dict(old["metadata"])
        if "status" in new:
            obj["status"] = new["status"]
        else:
            obj.pop("status", None)
        return obj

    @staticmethod
    def spec_update(res, old, new):
        obj = dict(new)
        meta = dict(new.get("metadata") or {})
        # What an update cannot change (rest.BeforeUpdate and the strategies).
        for field in ("uid", "creationTimestamp", "namespace", "name", "generation",
                      "deletionTimestamp", "deletionGracePeriodSeconds"):
            if field in old["metadata"]:
                meta[field] = old["metadata"][field]
            else:
                meta.pop(field, None)
        meta["resourceVersion"] = old["metadata"]["resourceVersion"]
        obj["metadata"] = meta
        obj["apiVersion"], obj["kind"] = old["apiVersion"], old["kind"]
        if RESOURCES[res][2]:  # the status subresource owns status
            if "status" in old:
                obj["status"] = old["status"]
            else:
                obj.pop("status", None)
        if "generation" in old["metadata"]:
            strip = lambda o: {k: v for k, v in o.items() if k not in ("metadata", "status")}
            if strip(obj) != strip(old):
                meta["generation"] = old["metadata"]["generation"] + 1
        return obj

    # -- delete
    def delete(self, res, namespace, name, options=None, dry_run=False):
        """-> the answer's body: the object (still there, or as deleted) or a Status."""
        key = (namespace, name)
        with self.cond:
            namespaces.admit_delete(res, name)
            old = self.objects[res].get(key)
            if old is None:
                raise not_found(res, name)
            check_delete_preconditions(res, old, (options or {}).get("preconditions"))
            if res == NAMESPACES:
                return namespaces.delete_namespace(self, old, dry_run)
            if old["metadata"].get("finalizers"):
                if dry_run or old["metadata"].get("deletionTimestamp"):
                    return old
                return self.mark_deleting(res, key)
            removed = old if dry_run else self.remove(res, key)
            if res[2] in RETURNS_DELETED_OBJECT:
                return removed
            body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                    "details": details(name, res[0], res[2], uid=old["metadata"].get("uid"))}
            return body

    # -- reads
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

    def events_after(self, rv):
        """Index of the first log entry after resourceVersion rv."""
        return bisect.bisect_right(self.log_rvs, rv)

    # -- watches
    def compact(self):
        """As etcd compaction plus watch cache loss: every open watch ends, and resuming
        from any resourceVersion seen so far gets 410 Gone (relist)."""
        with self.cond:
            self.log_start = self.next_rv()  # lists from now on return this or later
            self.watch_epoch += 1
            self.cond.notify_all()
            return self.log_start

    def relist(self, targets):
        """Deletes [(res, namespace, name)] with no DELETED event, then compacts: a watcher
        learns of the deletions only by listing again."""
        with self.cond:
            n = 0
            for res, namespace, name in targets:
                if self.objects[res].pop((namespace, name), None) is not None:
                    n += 1
            self.compact()
            for namespace in {t[1] for t in targets if t[1]}:
                namespaces.content_removed(self, namespace)
            return n

    def abort_watches(self):
        with self.cond:
            self.abort_epoch += 1
            self.watch_epoch += 1
            self.cond.notify_all()

    # -- benchmarks
    def bump_generations(self):
        with self.cond:
            n = 0
            for key, old in list(self.objects[SEALED_SECRETS].items()):
                obj = dict(old)
                obj["metadata"] = dict(old["metadata"], generation=old["metadata"].get("generation", 1) + 1)
                self.put(SEALED_SECRETS, key, obj, old)
                n += 1
            return n

    def release(self):
        deferred, self.deferred = self.deferred, []
        for obj in deferred:
            self.create(SEALED_SECRETS, obj["metadata"]["namespace"], obj)
        return len(deferred)

    def stats(self):
        with self.cond:
            synced = failed = pending = 0
            fingerprints = {}
            for obj in self.objects[SEALED_SECRETS].values():
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
            owned = sum(1 for key in self.controller_secrets if key in self.objects[SECRETS])
            return {
                "time": time.time(),
                "resourceVersion": self.rv,
                "sealedsecrets": len(self.objects[SEALED_SECRETS]),
                "deferred": len(self.deferred),
                "synced": synced,
                "failed": failed,
                "pending": pending,
                "secrets": len(self.objects[SECRETS]),
                "controller_secrets": owned,
                "status_key_fingerprints": fingerprints,
                "faults": self.faults.describe(),
                "counters": dict(self.counters),
                "unknown": list(self.unknown[-50:]),
                "unknown_total": len(self.unknown),
            }


def check_delete_preconditions(res, obj, preconditions):
    """DeleteOptions.preconditions, checked (and worded) as rest.BeforeDelete does."""
    if not isinstance(preconditions, dict):
        return
    meta = obj["metadata"]
    uid, rv = preconditions.get("uid"), preconditions.get("resourceVersion")
    if uid is not None and uid != meta.get("uid"):
        raise kind_conflict(res, meta["name"], f"the UID in the precondition ({uid}) does not match the UID in "
                                               f"record ({meta.get('uid')}). The object might have been deleted and then recreated")
    if rv is not None and rv != meta.get("resourceVersion"):
        raise kind_conflict(res, meta["name"], f"the ResourceVersion in the precondition ({rv}) does not match the "
                                               f"ResourceVersion in record ({meta.get('resourceVersion')}). The object might have been modified")

