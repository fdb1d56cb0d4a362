"""Command line of bench/fake_apiserver.py."""

import argparse
import json
import sys
import time
from http.server import ThreadingHTTPServer

from . import __doc__ as OVERVIEW
from .bench import preload
from .handler import Handler
from .store import Store


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="fake_apiserver.py", description=OVERVIEW,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
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
    p.add_argument("--fault", action="append", default=[], metavar="JSON",
                   help="a fault active from start-up, as the body of POST /_fault/fail, e.g. "
                        "'{\"code\": 503, \"seconds\": 10}' (repeatable)")
    p.add_argument("--lease-conflicts", type=int, default=0, metavar="N",
                   help="the first N PUTs of Leases answer 409 Conflict, as POST /_fault/lease-conflicts")
    p.add_argument("--namespace-termination-seconds", type=float, default=2.0, metavar="S",
                   help="how long a deleted namespace stays Terminating before the namespace controller empties "
                        "it (default 2; 0: at once)")
    p.add_argument("--service-proxy-endpoints", choices=["auto", "endpoints", "endpointslices"], default="auto",
                   help="where the service proxy finds a Service's addresses: 'endpoints' as kube-apiserver up to "
                        "1.34 (the Endpoints object; each address needs a targetRef to a Pod with that IP), "
                        "'endpointslices' as 1.35 on (EndpointSlices labelled kubernetes.io/service-name), "
                        "'auto' (default) the Endpoints object when there is one, else the EndpointSlices")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    store = Store(namespace_termination_seconds=args.namespace_termination_seconds)
    store.prune_status = args.upstream_crd
    t0 = time.perf_counter()
    preload(store, args)
    print(f"preloaded in {time.perf_counter() - t0:.2f} s", file=sys.stderr)
    for spec in args.fault:
        try:
            store.faults.add(json.loads(spec))
        except ValueError as e:
            raise SystemExit(f"--fault {spec!r}: {e}")
    store.faults.set_lease_conflicts(args.lease_conflicts)
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
