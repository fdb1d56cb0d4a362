"""Errors answered as kube-apiserver's `Status` objects (k8s.io/apimachinery/pkg/api/errors),
and field errors worded as k8s.io/apimachinery/pkg/util/validation/field words them."""

from .resources import NAMESPACES, kind_of, qualified_kind, qualified_resource

OPTIMISTIC_LOCK = "the object has been modified; please apply your changes to the latest version and try again"


def status_body(code, reason, message, details=None):
    body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message}
    if reason:
        body["reason"] = reason
    if details:
        body["details"] = details
    body["code"] = code
    return body


def details(name=None, group="", kind=None, uid=None, causes=None, retry_after=None):
    """StatusDetails, without the fields Go's omitempty leaves out."""
    out = {}
    for key, value in (("name", name), ("group", group), ("kind", kind), ("uid", uid),
                       ("causes", causes), ("retryAfterSeconds", retry_after)):
        if value:
            out[key] = value
    return out


class ApiError(Exception):
    def __init__(self, code, reason, message, details=None):
        super().__init__(message)
        self.code = code
        self.body = status_body(code, reason, message, details)

    @property
    def retry_after(self):
        """As the API server: a Status with details.retryAfterSeconds also sets Retry-After."""
        return (self.body.get("details") or {}).get("retryAfterSeconds")


class UnknownPath(ApiError):
    """A path or verb the fake does not serve: 404, and logged."""

    def __init__(self, message):
        super().__init__(404, "NotFound", message)


def not_found(res, name):
    return ApiError(404, "NotFound", f'{qualified_resource(res)} "{name}" not found',
                    details(name, res[0], res[2]))


def namespace_not_found(namespace):
    return not_found(NAMESPACES, namespace)


def already_exists(res, name):
    return ApiError(409, "AlreadyExists", f'{qualified_resource(res)} "{name}" already exists',
                    details(name, res[0], res[2]))


def conflict(res, name, why):
    return ApiError(409, "Conflict", f'Operation cannot be fulfilled on {qualified_resource(res)} "{name}": {why}',
                    details(name, res[0], res[2]))


def kind_conflict(res, name, why):
    """The Conflict of a failed DELETE precondition: the registry names the kind where
    a resource belongs (`Secret "x"`, `SealedSecret.bitnami.com "x"`)."""
    return ApiError(409, "Conflict", f'Operation cannot be fulfilled on {qualified_kind(res)} "{name}": {why}',
                    details(name, res[0], kind_of(res)))


def forbidden(res, name, why, causes=None):
    who = qualified_resource(res) + (f' "{name}"' if name else "")
    return ApiError(403, "Forbidden", f"{who} is forbidden: {why}", details(name, res[0], res[2], causes=causes))


def bad_request(message):
    return ApiError(400, "BadRequest", message)


def internal_error(why):
    return ApiError(500, "InternalError", f"Internal error occurred: {why}", details(causes=[{"message": why}]))


# ---------------------------------------------------------------- field errors

FIELD_TYPES = {
    "FieldValueNotFound": "Not found",
    "FieldValueRequired": "Required value",
    "FieldValueDuplicate": "Duplicate value",
    "FieldValueInvalid": "Invalid value",
    "FieldValueNotSupported": "Unsupported value",
    "FieldValueForbidden": "Forbidden",
    "FieldValueTooLong": "Too long",
}
WITHOUT_VALUE = {"FieldValueRequired", "FieldValueForbidden", "FieldValueTooLong"}


def go_quote(text):
    """Go's %q of a string (strconv.Quote), for the characters that occur here."""
    out = ['"']
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif ord(ch) < 0x20 or ord(ch) == 0x7f:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def go_value(value):
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return go_quote(str(value))


class FieldError:
    def __init__(self, type_, field, value=None, detail=""):
        self.type = type_
        self.field = field
        self.value = value
        self.detail = detail

    def body(self):
        """ErrorBody(): the message without the field."""
        text = FIELD_TYPES[self.type]
        if self.type not in WITHOUT_VALUE:
            text += ": " + go_value(self.value)
        if self.detail:
            text += ": " + self.detail
        return text

    def __str__(self):
        return f"{self.field}: {self.body()}"


def required(field, detail=""):
    return FieldError("FieldValueRequired", field, "", detail)


def invalid(field, value, detail):
    return FieldError("FieldValueInvalid", field, value, detail)


def forbidden_field(field, detail):
    return FieldError("FieldValueForbidden", field, "", detail)


def too_long(field, max_bytes):
    # Kubernetes 1.33 on; before: "must have at most N bytes".
    return FieldError("FieldValueTooLong", field, "", f"may not be more than {max_bytes} bytes")


def unsupported(field, value, supported):
    return FieldError("FieldValueNotSupported", field, value,
                      "supported values: " + ", ".join(go_quote(v) for v in supported))


def invalid_error(res, name, errors):
    """422 Invalid, as errors.NewInvalid: every error a cause, the message their aggregate."""
    causes = [{"reason": e.type, "message": e.body(), "field": e.field} for e in errors]
    messages = []
    for e in errors:  # the aggregate drops repeated messages
        if str(e) not in messages:
            messages.append(str(e))
    aggregate = messages[0] if len(messages) == 1 else "[" + ", ".join(messages) + "]"
    return ApiError(422, "Invalid", f'{qualified_kind(res)} "{name}" is invalid: {aggregate}',
                    details(name, res[0], kind_of(res), causes=causes))
