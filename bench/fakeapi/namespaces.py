"""Namespaces as kube-apiserver and kube-controller-manager's namespace controller treat them.

- Created with `spec.finalizers: [kubernetes]`, `status.phase: Active` and the label
  `kubernetes.io/metadata.name`.
- The NamespaceLifecycle admission plugin: a create of a namespaced object in a
  namespace that does not exist gets 404 `namespaces "NS" not found`; in a Terminating
  one, 403 `RESOURCE "NAME" is forbidden: unable to create new content in namespace NS
  because it is being terminated` with the cause `NamespaceTerminating`; `default`,
  `kube-system` and `kube-public` may not be deleted (403).
- DELETE sets `deletionTimestamp` and `status.phase: Terminating` (a MODIFIED event)
  and answers the namespace. After --namespace-termination-seconds (0: at once) the
  namespace controller deletes its content: objects without finalizers go, the others
  get `deletionTimestamp` and stay until their finalizers are removed, and the
  namespace shows the controller's conditions (NamespaceContentRemaining,
  NamespaceFinalizersRemaining, ...). Once empty, the namespace is deleted.
"""

import copy
import threading

from .errors import forbidden, namespace_not_found
from .resources import NAMESPACES, RESOURCES, is_namespaced, now_rfc3339

IMMORTAL = ("default", "kube-system", "kube-public")
FINALIZER = "kubernetes"
NAME_LABEL = "kubernetes.io/metadata.name"


def prepare_for_create(obj):
    spec = obj.setdefault("spec", {})
    finalizers = list(spec.get("finalizers") or [])
    if FINALIZER not in finalizers:
        finalizers.append(FINALIZER)
    spec["finalizers"] = finalizers
    obj["status"] = {"phase": "Active"}
    labels = obj["metadata"].setdefault("labels", {})
    labels[NAME_LABEL] = obj["metadata"]["name"]


def is_terminating(ns):
    return (ns.get("status") or {}).get("phase") == "Terminating"


def admit_create(store, res, namespace, obj):
    """NamespaceLifecycle on a create (the caller holds the store's lock)."""
    if not is_namespaced(res):
        return
    ns = store.objects[NAMESPACES].get((None, namespace))
    if ns is None:
        raise namespace_not_found(namespace)
    if is_terminating(ns):
        meta = obj.get("metadata") or {}
        name = meta.get("name") or meta.get("generateName") or "Unknown"
        cause = {"reason": "NamespaceTerminating", "message": f"namespace {namespace} is being terminated",
                 "field": "metadata.namespace"}
        raise forbidden(res, name, f"unable to create new content in namespace {namespace} because it is being terminated",
                        causes=[cause])


def admit_delete(res, name):
    if res == NAMESPACES and name in IMMORTAL:
        raise forbidden(res, name, "this namespace may not be deleted")


def delete_namespace(store, old, dry_run):
    """DELETE of a Namespace: Terminating now, emptied by the namespace controller later."""
    if old["metadata"].get("deletionTimestamp"):
        return old
    obj = copy.deepcopy(old)
    obj["metadata"]["deletionTimestamp"] = now_rfc3339()
    obj.setdefault("status", {})["phase"] = "Terminating"
    if dry_run:
        return obj
    name = obj["metadata"]["name"]
    obj = store.put(NAMESPACES, (None, name), obj, old)
    seconds = store.namespace_termination_seconds
    if seconds <= 0:
        empty_namespace(store, name)
    else:
        timer = threading.Timer(seconds, empty_namespace, (store, name))
        timer.daemon = True
        timer.start()
    return obj


def empty_namespace(store, name):
    """The namespace controller's pass over a Terminating namespace."""
    with store.cond:
        ns = store.objects[NAMESPACES].get((None, name))
        if ns is None or not ns["metadata"].get("deletionTimestamp"):
            return
        for res in RESOURCES:
            if not is_namespaced(res):
                continue
            for key in [k for k in store.objects[res] if k[0] == name]:
                if store.objects[res][key]["metadata"].get("finalizers"):
                    store.mark_deleting(res, key)
                else:
                    store.remove(res, key)
        store.emptied_namespaces.add(name)  # from now on each removal may finish it
        refresh(store, name)


def content_removed(store, namespace):
    """An object of `namespace` is gone: the namespace itself may go now."""
    if namespace in store.emptied_namespaces:
        refresh(store, namespace)


def refresh(store, name):
    """Deletes an emptied namespace, or shows what keeps it."""
    key = (None, name)
    ns = store.objects[NAMESPACES].get(key)
    if ns is None:
        store.emptied_namespaces.discard(name)
        return
    counts, finalizers = remaining(store, name)
    if not counts:
        store.emptied_namespaces.discard(name)
        store.remove(NAMESPACES, key)
        return
    conditions = deletion_conditions(counts, finalizers, ns)
    if conditions != (ns.get("status") or {}).get("conditions"):
        obj = copy.deepcopy(ns)
        obj["status"]["conditions"] = conditions
        store.put(NAMESPACES, key, obj, ns)


def remaining(store, name):
    """-> ({"secrets.": n}, {finalizer: n}) of what is left in the namespace."""
    counts, finalizers = {}, {}
    for res, table in store.objects.items():
        if not is_namespaced(res):
            continue
        for (ns, _), obj in table.items():
            if ns != name:
                continue
            label = f"{res[2]}.{res[0]}"
            counts[label] = counts.get(label, 0) + 1
            for f in obj["metadata"].get("finalizers") or []:
                finalizers[f] = finalizers.get(f, 0) + 1
    return counts, finalizers


def deletion_conditions(counts, finalizers, ns):
    """The conditions the namespace controller sets while content remains."""
    previous = {c.get("type"): c for c in (ns.get("status") or {}).get("conditions") or []}

    def condition(type_, status, reason, message):
        old = previous.get(type_)
        since = old["lastTransitionTime"] if old and old.get("status") == status else now_rfc3339()
        return {"type": type_, "status": status, "lastTransitionTime": since, "reason": reason, "message": message}

    resources = ", ".join(sorted(f"{label} has {n} resource instances" for label, n in counts.items()))
    out = [
        condition("NamespaceDeletionDiscoveryFailure", "False", "ResourcesDiscovered", "All resources successfully discovered"),
        condition("NamespaceDeletionGroupVersionParsingFailure", "False", "ParsedGroupVersions",
                  "All legacy kube types successfully parsed"),
        condition("NamespaceDeletionContentFailure", "False", "ContentDeleted",
                  "All content successfully deleted, may be waiting on finalization"),
        condition("NamespaceContentRemaining", "True", "SomeResourcesRemain", f"Some resources are remaining: {resources}"),
    ]
    if finalizers:
        held = ", ".join(sorted(f"{f} in {n} resource instances" for f, n in finalizers.items()))
        out.append(condition("NamespaceFinalizersRemaining", "True", "SomeFinalizersRemain",
                             f"Some content in the namespace has finalizers remaining: {held}"))
    else:
        out.append(condition("NamespaceFinalizersRemaining", "False", "ContentHasNoFinalizers",
                             "All content-preserving finalizers finished"))
    return out
