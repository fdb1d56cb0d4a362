"""kube-apiserver's service proxy: /api/v1/namespaces/NS/services/[SCHEME:]NAME[:PORT]/proxy/PATH
(PORT a port name or number) forwards the request (method, query, body, headers but
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
"""

import http.client
import json
import re
import socket
import ssl
import sys
import urllib.parse

from .errors import ApiError, not_found, status_body

# The API server's service proxy, and the headers a proxy does not forward.
SERVICE_PROXY = re.compile(r"^/api/v1/namespaces/(?P<ns>[^/]+)/services/(?P<svc>[^/]+)/proxy(?P<rest>/.*)?$")
HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection",
              "te", "trailer", "transfer-encoding", "upgrade"}
PROXY_TIMEOUT_SECONDS = 30
SERVICE_NAME_LABEL = "kubernetes.io/service-name"  # EndpointSlice -> its Service
SERVICES = ("", "v1", "services")
ENDPOINTS = ("", "v1", "endpoints")
ENDPOINT_SLICES = ("discovery.k8s.io", "v1", "endpointslices")
PODS = ("", "v1", "pods")


def forward(handler, match, query, body):
    """/api/v1/namespaces/NS/services/[SCHEME:]NAME[:PORT]/proxy/REST, as the API server
    serves it: the Service's port (a number is looked up among the Service's ports and
    replaced by its name), then the Endpoints (or EndpointSlices) port of that name and
    the first usable address, and the request forwarded there. Answers
    (status, headers, body); the backend's answer goes back unchanged."""
    namespace = urllib.parse.unquote(match.group("ns"))
    service_id = urllib.parse.unquote(match.group("svc"))
    rest = match.group("rest") or "/"
    try:
        target = resolve_service(handler.store, handler.proxy_endpoints, namespace, service_id)
    except ApiError as e:
        return e.code, [("Content-Type", "application/json")], json.dumps(e.body).encode()
    scheme, ip, port = target
    headers = {}
    for name, value in handler.headers.items():
        if name.lower() in HOP_BY_HOP or name.lower() in ("host", "authorization", "content-length"):
            continue
        headers[name] = value
    # As the API server's proxy: the caller's address appended to X-Forwarded-For, and
    # where the request came in.
    client = handler.client_address[0]
    prior = handler.headers.get_all("X-Forwarded-For") or []
    headers["X-Forwarded-For"] = ", ".join(prior + [client])
    prefix = f"/api/v1/namespaces/{match.group('ns')}/services/{match.group('svc')}/proxy"
    headers["X-Forwarded-Uri"] = prefix + rest
    headers["X-Forwarded-Host"] = handler.headers.get("Host", "")
    headers["X-Forwarded-Proto"] = "http"
    if body or handler.command in ("POST", "PUT", "PATCH"):
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
            conn.request(handler.command, path, body=body if body or "Content-Length" in headers else None,
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


def resolve_service(store, mode, namespace, service_id):
    """-> (scheme, ip, port), or ApiError with the API server's answer."""
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
    svc = store.get(SERVICES, namespace, name)
    if port.isdigit():
        named = [p for p in (svc.get("spec") or {}).get("ports") or [] if str(p.get("port")) == port]
        if not named:
            raise ApiError(503, "ServiceUnavailable", f'no service port {port} found for service "{name}"')
        port = named[0].get("name") or ""
    with store.cond:
        endpoints = store.objects[ENDPOINTS].get((namespace, name))
        slices = [o for (ns, _), o in sorted(store.objects[ENDPOINT_SLICES].items())
                  if ns == namespace and ((o.get("metadata") or {}).get("labels") or {}).get(SERVICE_NAME_LABEL) == name]
    if mode == "endpoints" or (mode == "auto" and endpoints is not None):
        # Up to Kubernetes 1.34: the Endpoints object, and only addresses whose
        # targetRef names a Pod of the namespace that has that IP.
        if endpoints is None:
            raise not_found(ENDPOINTS, name)
        subsets = endpoints.get("subsets") or []
        if not subsets:
            raise ApiError(503, "ServiceUnavailable", f'no endpoints available for service "{name}"')
        for subset in subsets:
            for p in subset.get("ports") or []:
                if (p.get("name") or "") != port:
                    continue
                for addr in subset.get("addresses") or []:
                    problem = invalid_address(store, namespace, addr)
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


def invalid_address(store, namespace, addr):
    """The API server's check (up to 1.34) that an endpoint address belongs to a Pod."""
    ref = addr.get("targetRef")
    if not ref:
        return "Address has no target ref, skipping"
    if ref.get("namespace") != namespace:
        return "Address namespace doesn't match context namespace"
    with store.cond:
        pod = store.objects[PODS].get((namespace, ref.get("name")))
    if pod is None:
        return f'pods "{ref.get("name")}" not found'
    ips = [p.get("ip") for p in (pod.get("status") or {}).get("podIPs") or []]
    if addr.get("ip") not in ips:
        return f"pod ip(s) doesn't match endpoint ip, skipping: {ips} vs {addr.get('ip')}"
    return None
