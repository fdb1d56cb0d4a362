"""Decoding, defaulting and validation of writes, worded as kube-apiserver words them
(pkg/apis/core/validation, k8s.io/apimachinery/pkg/api/validation and .../util/validation).

Checked on create and update (PUT, PATCH, apply):
- Secrets: `stringData` merged into `data` and never stored, `type` defaulted to
  Opaque; data values must be base64 (400 otherwise); name a DNS-1123 subdomain; data
  keys `[-._a-zA-Z0-9]+` (at most 253, not `.`, `..` or `..*`); at most 1 MiB of data;
  per type: kubernetes.io/tls needs tls.crt and tls.key, basic-auth username or
  password, ssh-auth a non-empty ssh-privatekey, dockercfg / dockerconfigjson their key
  holding a JSON object, service-account-token the service-account.name annotation.
  On update `type` is immutable, and once `immutable: true` neither `data` nor
  `immutable` may change.
- ConfigMaps: name, keys, size and `immutable` likewise (data and binaryData).
- Namespaces: name a DNS-1123 label.
- Endpoints and EndpointSlices: addresses that are not loopback, link-local or
  unspecified.
- Any object being deleted: no new finalizers.
"""

import base64
import binascii
import ipaddress
import json
import re

from . import errors as E

MAX_SECRET_SIZE = 1024 * 1024  # core.MaxSecretSize, also the ConfigMap limit
SUBDOMAIN_MAX = 253
LABEL_MAX = 63
IMMUTABLE_MSG = "field is immutable when `immutable` is set"

_LABEL = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_SUBDOMAIN = _LABEL + r"(\." + _LABEL + ")*"
_CONFIG_KEY = "[-._a-zA-Z0-9]+"


def regex_error(msg, fmt, *examples):
    """validation.RegexError, with its double spaces."""
    if not examples:
        return f"{msg} (regex used for validation is '{fmt}')"
    return msg + " (e.g. " + "".join(f"'{e}', " + (" or " if i < len(examples) - 1 else "")
                                   for i, e in enumerate(examples)) + f"regex used for validation is '{fmt}')"


def dns_subdomain_problems(value):
    out = []
    if len(value) > SUBDOMAIN_MAX:
        out.append(f"must be no more than {SUBDOMAIN_MAX} characters")
    if not re.fullmatch(_SUBDOMAIN, value):
        out.append(regex_error("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
                               "'-' or '.', and must start and end with an alphanumeric character",
                               _SUBDOMAIN, "example.com"))
    return out


def dns_label_problems(value):
    out = []
    if len(value) > LABEL_MAX:
        out.append(f"must be no more than {LABEL_MAX} characters")
    if not re.fullmatch(_LABEL, value):
        out.append(regex_error("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or "
                               "'-', and must start and end with an alphanumeric character",
                               _LABEL, "my-name", "123-abc"))
    return out


def config_key_problems(key):
    """validation.IsConfigMapKey, for Secret and ConfigMap keys."""
    out = []
    if len(key.encode()) > SUBDOMAIN_MAX:
        out.append(f"must be no more than {SUBDOMAIN_MAX} characters")
    if not re.fullmatch(_CONFIG_KEY, key):
        out.append(regex_error("a valid config key must consist of alphanumeric characters, '-', '_' or '.'",
                               _CONFIG_KEY, "key.name", "KEY_NAME", "key-name"))
    if key == ".":
        out.append("must not be '.'")
    elif key == "..":
        out.append("must not be '..'")
    elif key.startswith(".."):
        out.append("must not start with '..'")
    return out


# ---------------------------------------------------------------- decoding

def decode_base64(value):
    """Go's decoding of a []byte field; None when it is not base64."""
    if not isinstance(value, str):
        return None
    text = value.replace("\r", "").replace("\n", "")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


def bad_base64_offset(value):
    text = value if isinstance(value, str) else ""
    for i, ch in enumerate(text):
        if not (ch.isascii() and (ch.isalnum() or ch in "+/=\r\n")):
            return i
    return len(text) - len(text) % 4


def prepare(res, obj):
    """What decoding and defaulting do to a Secret before validation: `stringData`
    merged into `data` (it is write-only), `type` Opaque when unset, data checked to be
    base64 (a 400 as the decoder's)."""
    if res[2] != "secrets":
        return
    data = dict(obj.get("data") or {})
    for key, value in data.items():
        if decode_base64(value) is None:
            raise E.bad_request(f'Secret in version "v1" cannot be handled as a Secret: '
                                f"illegal base64 data at input byte {bad_base64_offset(value)}")
    for key, value in (obj.pop("stringData", None) or {}).items():
        data[key] = base64.b64encode(str(value).encode()).decode()
    if data:
        obj["data"] = data
    else:
        obj.pop("data", None)
    if not obj.get("type"):
        obj["type"] = "Opaque"


# ---------------------------------------------------------------- rules

def name_errors(res, obj):
    name = (obj.get("metadata") or {}).get("name") or ""
    if res[2] in ("secrets", "configmaps"):
        problems = dns_subdomain_problems(name)
    elif res[2] == "namespaces":
        problems = dns_label_problems(name)
    else:
        problems = []
    return [E.invalid("metadata.name", name, p) for p in problems]


def key_errors(field, mapping):
    return [E.invalid(f"{field}[{key}]", key, p) for key in sorted(mapping or {}) for p in config_key_problems(key)]


def secret_errors(obj):
    """ValidateSecret."""
    data = obj.get("data") or {}
    decoded = {k: decode_base64(v) or b"" for k, v in data.items()}
    errs = name_errors(("", "v1", "secrets"), obj) + key_errors("data", data)
    if sum(len(v) for v in decoded.values()) > MAX_SECRET_SIZE:
        errs.append(E.too_long("data", MAX_SECRET_SIZE))
    type_ = obj.get("type") or "Opaque"
    if type_ == "kubernetes.io/service-account-token":
        if not ((obj.get("metadata") or {}).get("annotations") or {}).get("kubernetes.io/service-account.name"):
            errs.append(E.required("metadata.annotations[kubernetes.io/service-account.name]"))
    elif type_ in ("kubernetes.io/dockercfg", "kubernetes.io/dockerconfigjson"):
        key = ".dockercfg" if type_ == "kubernetes.io/dockercfg" else ".dockerconfigjson"
        if key not in data:
            errs.append(E.required(f"data[{key}]"))
        else:
            problem = json_object_problem(decoded[key])
            if problem:
                errs.append(E.invalid(f"data[{key}]", "<secret contents redacted>", problem))
    elif type_ == "kubernetes.io/basic-auth":
        if "username" not in data and "password" not in data:
            errs += [E.required("data[username]"), E.required("data[password]")]
    elif type_ == "kubernetes.io/ssh-auth":
        if not decoded.get("ssh-privatekey"):
            errs.append(E.required("data[ssh-privatekey]"))
    elif type_ == "kubernetes.io/tls":
        for key in ("tls.crt", "tls.key"):
            if key not in data:
                errs.append(E.required(f"data[{key}]"))
    return errs


def json_object_problem(raw):
    """Why json.Unmarshal into a map fails, roughly as Go says it, or None."""
    try:
        value = json.loads(raw.decode("utf-8", "replace"))
    except ValueError:
        return "invalid character looking for beginning of value"
    if not isinstance(value, dict):
        return f"json: cannot unmarshal {type(value).__name__} into Go value of type map[string]interface {{}}"
    return None


def immutable_errors(new, old, fields):
    """Once `immutable: true`: it stays, and `fields` do not change."""
    if old.get("immutable") is not True:
        return []
    errs = []
    if new.get("immutable") is not True:
        errs.append(E.forbidden_field("immutable", IMMUTABLE_MSG))
    for field in fields:
        if (new.get(field) or {}) != (old.get(field) or {}):
            errs.append(E.forbidden_field(field, IMMUTABLE_MSG))
    return errs


def configmap_errors(obj):
    data, binary = obj.get("data") or {}, obj.get("binaryData") or {}
    errs = name_errors(("", "v1", "configmaps"), obj) + key_errors("data", data)
    errs += [E.invalid(f"data[{k}]", k, "duplicate of key present in binaryData") for k in sorted(data) if k in binary]
    errs += key_errors("binaryData", binary)
    size = sum(len(str(v).encode()) for v in data.values()) + sum(len(decode_base64(v) or b"") for v in binary.values())
    if size > MAX_SECRET_SIZE:
        errs.append(E.too_long("", MAX_SECRET_SIZE))
    return errs


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


def endpoints_errors(obj):
    errs = []
    for i, subset in enumerate(obj.get("subsets") or []):
        for field in ("addresses", "notReadyAddresses"):
            for j, addr in enumerate(subset.get(field) or []):
                why = special_ip_problem(addr.get("ip") or "")
                if why:
                    errs.append(E.invalid(f"subsets[{i}].{field}[{j}].ip", addr.get("ip") or "", why))
    return errs


def endpointslice_errors(obj):
    errs = []
    address_type = obj.get("addressType")
    if address_type not in ("IPv4", "IPv6", "FQDN"):
        errs.append(E.unsupported("addressType", address_type or "", ["FQDN", "IPv4", "IPv6"]))
    for i, ep in enumerate(obj.get("endpoints") or []):
        for j, address in enumerate(ep.get("addresses") or []):
            why = address_type != "FQDN" and special_ip_problem(address)
            if why:
                errs.append(E.invalid(f"endpoints[{i}].addresses[{j}]", address, why))
    return errs


def object_errors(res, obj):
    plural = res[2]
    if plural == "secrets":
        return secret_errors(obj)
    if plural == "configmaps":
        return configmap_errors(obj)
    if plural == "namespaces":
        return name_errors(res, obj)
    if plural == "endpoints":
        return endpoints_errors(obj)
    if plural == "endpointslices":
        return endpointslice_errors(obj)
    return []


def meta_update_errors(new, old):
    """ValidateObjectMetaUpdate: what the fake checks of it."""
    old_meta, new_meta = old.get("metadata") or {}, new.get("metadata") or {}
    if not old_meta.get("deletionTimestamp"):
        return []
    added = sorted(set(new_meta.get("finalizers") or []) - set(old_meta.get("finalizers") or []))
    if not added:
        return []
    listed = "[]string{" + ", ".join(E.go_quote(f) for f in added) + "}"
    return [E.forbidden_field("metadata.finalizers",
                              f"no new finalizers can be added if the object is being deleted, found new finalizers {listed}")]


def update_errors(res, new, old):
    errs = meta_update_errors(new, old)
    if res[2] == "secrets":
        old_type, new_type = old.get("type") or "Opaque", new.get("type") or "Opaque"
        if new_type != old_type:
            errs.append(E.invalid("type", new_type, "field is immutable"))
        errs += immutable_errors(new, old, ["data"])
    elif res[2] == "configmaps":
        errs += immutable_errors(new, old, ["data", "binaryData"])
    return errs + object_errors(res, new)


def validate_create(res, obj):
    errs = object_errors(res, obj)
    if errs:
        raise E.invalid_error(res, obj["metadata"].get("name"), errs)


def validate_update(res, new, old):
    errs = update_errors(res, new, old)
    if errs:
        raise E.invalid_error(res, new["metadata"].get("name"), errs)

