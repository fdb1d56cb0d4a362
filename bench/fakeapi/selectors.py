"""Label and field selectors of lists and watches, as the API server parses them."""

import re

from .errors import ApiError

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
