//! Support code for the end-to-end suite (`tests/e2e/`).
//!
//! Every test runs through [`run`]: without `SEALED_E2E_KUBECONFIG` it prints one
//! `skipped: ...` line and passes; with it, the test gets a [`Ctx`] (a kube client,
//! namespaces it owns, controller processes it starts) and everything it created is
//! deleted at the end, whether the test passed, failed or panicked.
//!
//! Modules, small on purpose:
//! - [`cluster`]: the kubeconfig from the environment and the kube client;
//! - [`names`]: unique object and namespace names;
//! - [`wait`]: bounded polling;
//! - [`harness`]: the per-test context, cleanup and failure diagnostics;
//! - [`binaries`]: locating (or building) `sealed-secrets-controller` and `kubeseal`;
//! - [`controller`]: the controller as a local process;
//! - [`crd`]: installing the SealedSecret CRD;
//! - [`objects`]: Kubernetes object helpers (apply, read status, events);
//! - [`checks`]: waits and assertions on SealedSecrets and their Secrets;
//! - [`sealing`]: sealing values in-process with `sealed_common`;
//! - [`kubeseal`]: running our `kubeseal` binary (as given, against a home namespace's
//!   controller, or sealing with a certificate file) and reading what it prints;
//! - [`vectors`]: the upstream compatibility vectors under `testdata/` and their keys;
//! - [`gc`]: probing whether the cluster runs a garbage collector (and emptying a
//!   deleted namespace as its namespace controller would);
//! - [`http`]: the controller's HTTP servers reached directly (client, bound addresses,
//!   metrics text);
//! - [`service_proxy`]: exposing a local controller through the API server's service
//!   proxy (Service, Endpoints, EndpointSlice) and probing it;
//! - [`forwarder`]: a TCP forwarder between a controller and the API server, to cut
//!   the controller off (an outage that works against any API server);
//! - [`cut_off`]: a controller behind such a forwarder, and the checks of an outage;
//! - [`faults`]: the fake API server's fault-injection endpoints (`/_fault/*`), used
//!   only where it has them, by tests run with [`harness::run_alone_on_fake`];
//! - [`bulk`]: many SealedSecrets at once (sealed, applied a few at a time, checked
//!   with lists) and namespace snapshots (resourceVersions, events);
//! - [`rotation`]: what re-encryption (`/v1/rotate`, `kubeseal --re-encrypt`) must make
//!   of a SealedSecret sealed partly with an older key;
//!
//! and for the key runbook (`docs/key-rotation.md`):
//! - [`controller_service`]: the controller's Service as kubeseal reaches it (service
//!   proxy), or its HTTP API asked directly when the API server cannot reach us;
//! - [`replicas`]: `--leader-elect` replicas, their Lease and their rollout;
//! - [`key_secrets`]: key Secrets read as keys, a key made in the past, the cutoff time;
//! - [`kubeseal_keys`]: `kubeseal keys list / backup / restore / retire`, parsed and
//!   checked;
//! - [`repository`]: a GitOps repository of SealedSecrets on disk and what `kubeseal
//!   reencrypt` must do to it.

pub mod binaries;
pub mod bulk;
pub mod checks;
pub mod cluster;
pub mod controller;
pub mod controller_service;
pub mod crd;
pub mod cut_off;
pub mod faults;
pub mod forwarder;
pub mod gc;
pub mod harness;
pub mod http;
pub mod key_secrets;
pub mod kubeseal;
pub mod kubeseal_keys;
pub mod names;
pub mod objects;
pub mod replicas;
pub mod repository;
pub mod rotation;
pub mod sealing;
pub mod service_proxy;
pub mod vectors;
pub mod wait;

pub use controller::{Controller, ControllerSpec};
pub use harness::{Ctx, run, run_alone_on_fake};
pub use wait::{Poll, wait_for};

use std::path::PathBuf;

/// The workspace root (the directory holding `Cargo.lock`), from this crate's manifest.
pub fn workspace_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(PathBuf::from).unwrap_or(manifest)
}
