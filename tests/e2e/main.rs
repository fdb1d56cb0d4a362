//! End-to-end tests of `sealed-secrets-controller` and `kubeseal` against a real
//! cluster. Without `SEALED_E2E_KUBECONFIG` every test prints a `skipped:` line and
//! passes. See `tests/README.md`.
//!
//! Each test starts its own controller process(es) over its own fresh namespaces
//! (`--all-namespaces=false`), so tests run in parallel without seeing each other; the
//! only test using fixed namespaces (the upstream vectors' `demo-ns`) is
//! `upstream_vectors`.

mod failures;
mod ha;
mod helm_chart;
mod http_api;
mod keys;
mod kubeseal_cli;
mod lifecycle;
mod ownership;
mod recipients;
mod resilience;
mod runbook_restore;
mod runbook_rotation;
mod selection;
mod templates;
mod upstream_vectors;
