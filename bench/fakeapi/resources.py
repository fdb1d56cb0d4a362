"""The resources the fake serves, and how kube-apiserver names them in its answers."""

import time

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
VERBS = ["create", "delete", "get", "list", "patch", "update", "watch"]

SECRETS = ("", "v1", "secrets")
NAMESPACES = ("", "v1", "namespaces")
SEALED_SECRETS = ("bitnami.com", "v1alpha1", "sealedsecrets")
LEASES = ("coordination.k8s.io", "v1", "leases")

# DELETE answers the object's last state for these registries (ReturnDeletedObject,
# and every custom resource); the others answer a Status of status Success.
RETURNS_DELETED_OBJECT = {"pods", "services", "serviceaccounts", "sealedsecrets", "customresourcedefinitions"}
# Groups whose objects etcd keys name (custom resources and CRDs); built-in groups don't.
KEYED_BY_GROUP = {"bitnami.com", "apiextensions.k8s.io"}


def kind_of(res):
    return RESOURCES[res][0]


def is_namespaced(res):
    return RESOURCES[res][1]


def api_version(res):
    return (res[0] + "/" if res[0] else "") + res[1]


def qualified_resource(res):
    """`secrets`, `leases.coordination.k8s.io`: how error messages name a resource."""
    return res[2] + ("." + res[0] if res[0] else "")


def qualified_kind(res):
    """`Secret`, `SealedSecret.bitnami.com`: how validation errors name a kind."""
    return kind_of(res) + ("." + res[0] if res[0] else "")


def etcd_key(res, namespace, name):
    """The storage key that storage errors quote."""
    parts = ["/registry"]
    if res[0] in KEYED_BY_GROUP:
        parts.append(res[0])
    parts.append(res[2])
    if res[2] == "services":
        parts.append("specs")
    if namespace:
        parts.append(namespace)
    parts.append(name)
    return "/".join(parts)


def by_name(text):
    """A resource named by its plural (`secrets`; the core group first when two groups
    share it) or as `group/version/plural` (`/v1/events` for the core group)."""
    parts = (text or "").split("/")
    if len(parts) == 3:
        res = tuple(parts)
        return res if res in RESOURCES else None
    if len(parts) == 1:
        matches = sorted(res for res in RESOURCES if res[2] == parts[0])
        return matches[0] if matches else None
    return None


def now_rfc3339():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
