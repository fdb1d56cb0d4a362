"""A fake Kubernetes API server for the controller benchmarks and the end-to-end suite:
plain HTTP, in memory, standard library only.

  python3 bench/fake_apiserver.py --port 8001 --sealed-secrets 1000 --secrets 10000

It serves what sealed-secrets-controller (and kubectl, for the scripts' real-cluster
mode) calls, and where the controller's behaviour depends on what kube-apiserver does,
it does the same, with the same codes and Status texts (Kubernetes 1.33-1.36 wording):
real list/watch semantics (resourceVersions, paged lists with `limit`/`continue`,
metadata-only lists and watches with `Accept: ...;as=PartialObjectMetadata[List]`,
label and field selectors, chunked watch streams that resume from a resourceVersion
and answer 410 Expired once it is compacted away, bookmarks), generateName, optimistic
concurrency and uid preconditions on PUT, the status subresource, JSON merge patches, a
simplified server-side apply (JSON bodies, no field managers), dry runs, finalizers
(DELETE only sets deletionTimestamp; removing the last one deletes), DeleteOptions
preconditions, Secret validation (immutable Secrets, type rules, keys, size),
terminating namespaces and the NamespaceLifecycle admission plugin. Anything else gets
a 404 Status and is logged as UNKNOWN.

Resources: Secrets, Namespaces, SealedSecrets, Events (core and events.k8s.io),
ConfigMaps, Services, Endpoints, EndpointSlices, Pods, ServiceAccounts, Deployments,
Leases and CustomResourceDefinitions (Established at once). Nothing runs behind them
but a namespace controller: no scheduler, kubelet, garbage collector or endpoints
controller.

Where each part lives (bench/fakeapi/, each module's docstring tells the details):
  store.py       objects, resourceVersions, create/update/delete semantics
  validation.py  what writes are checked for (Secrets, ConfigMaps, endpoints, ...)
  namespaces.py  namespace creation, admission, termination
  watch.py       watch streams, bookmarks, 410 Expired
  proxy.py       the service proxy /api/v1/namespaces/NS/services/NAME/proxy/...
  faults.py      injected faults (/_fault/*)
  bench.py       benchmark endpoints (/_bench/*) and preloading
  handler.py     HTTP routing, discovery, patches, server-side apply

Start-up options preload the fixture key A (or any key pairs) as key Secrets in the home
namespace, N SealedSecrets sealed to the first key's certificate with our `kubeseal`
binary (so they really decrypt), and M unrelated ~1 KiB Secrets. The namespaces
default, kube-system, kube-public, kube-node-lease and the home namespace always exist.

Control endpoints (not Kubernetes; never subject to faults):
  GET  /_bench/stats    counters (per route, faults answered, ...) and active faults
  POST /_bench/release  adds the SealedSecrets held back by --defer-sealed
  POST /_bench/touch    bumps every SealedSecret's generation
  POST /_bench/compact  ends every watch; resuming from an old resourceVersion gets
                        410 Gone, so clients must list again
  POST /_bench/reset    zeroes the counters
  POST /_fault/fail     {"code": 503|500|429|..., "seconds": S | "requests": N,
                        "retryAfterSeconds": K, "method": M, "resource": PLURAL}
                        or {"drop": true, "seconds": S}: answer errors, or close
                        connections unanswered and cut every watch off
  POST /_fault/clear    ends the faults
  GET  /_fault          the active faults
  POST /_fault/relist   {"delete": [{"resource": R, "namespace": NS, "name": N}, ...]}:
                        deletes without DELETED events and expires every watch
  POST /_fault/lease-conflicts {"count": N}: the next N PUTs of Leases get 409 Conflict

To see how the controller copes: --upstream-crd prunes status.keyFingerprint as
upstream's CRD schema would, --fail 'CODE:METHOD ROUTE' answers an error for one route
(routes as in the stats counters, e.g. '403:GET secrets' or '404:GET sealedsecrets'),
--fault JSON starts with a fault active, --lease-conflicts N, --max-watch-seconds ends
watches early, --namespace-termination-seconds S (default 2) how long a deleted
namespace stays Terminating before it is emptied, --request-log FILE logs every request.

For the end-to-end suite (tests/README.md):

  python3 bench/fake_apiserver.py --port 0 --no-keys   # prints LISTENING <port>
  # a kubeconfig with `server: http://127.0.0.1:<port>` and an empty user, then
  SEALED_E2E_KUBECONFIG=that-file cargo test -p sealed-e2e -- --nocapture

Its own tests: python3 -m unittest discover -s bench/tests (also run by cargo test).

Prints "LISTENING <port>" on stdout once it serves.
"""
