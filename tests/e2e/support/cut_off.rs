//! A controller that reaches the API server through a forwarder the test can cut
//! ([`crate::forwarder`]), for outages that work against any API server, and the checks
//! that go with one: still the same process, no Secret written while cut off.

use crate::bulk::Planned;
use crate::controller::{Controller, ControllerSpec};
use crate::forwarder::ApiForwarder;
use crate::harness::Ctx;
use anyhow::{Context, Result, ensure};
use sealed_common::keys::Certificate;

/// The controller of a home namespace behind its own forwarder.
pub struct ForwardedController {
    pub forwarder: ApiForwarder,
    pub controller: Controller,
    /// The process id it started with.
    pub pid: u32,
    /// Its certificate, once its key exists.
    pub cert: Certificate,
}

impl Ctx {
    /// Starts a controller for `home` reaching the API server through a new forwarder,
    /// and waits for its key.
    pub async fn start_behind_forwarder(&self, home: &str) -> Result<ForwardedController> {
        let forwarder = self.api_forwarder()?;
        let controller =
            self.start_controller(ControllerSpec::new(home).kubeconfig(forwarder.kubeconfig()))?;
        let pid = controller
            .pid()
            .with_context(|| format!("the controller of {home} has no process id"))?;
        let (cert, _) = self.controller_cert(home).await?;
        Ok(ForwardedController {
            forwarder,
            controller,
            pid,
            cert,
        })
    }
}

impl ForwardedController {
    /// `Err` unless the controller is still the process it started as (it never exits
    /// by itself, so the same pid means it was never restarted).
    pub fn same_process(&self, ctx: &Ctx) -> Result<()> {
        ctx.check_controllers()?;
        ensure!(
            self.controller.pid() == Some(self.pid),
            "the controller is no longer process {} (now {:?})",
            self.pid,
            self.controller.pid()
        );
        Ok(())
    }

    /// `Err` if any object of `batch` (in `ns`) has a Secret: the controller was cut off
    /// (`why`) while they were applied, so it cannot have written one.
    pub async fn assert_no_secret_yet(
        &self,
        ctx: &Ctx,
        ns: &str,
        batch: &[Planned],
        why: &str,
    ) -> Result<()> {
        let secrets = ctx.secrets_by_name(ns).await?;
        let written: Vec<&str> = batch
            .iter()
            .filter(|p| secrets.contains_key(&p.name))
            .map(|p| p.name.as_str())
            .collect();
        ensure!(
            written.is_empty(),
            "{why}, yet Secrets exist for {} of the {} SealedSecrets applied meanwhile ({}): the forwarder did not cut the controller off",
            written.len(),
            batch.len(),
            written.join(", ")
        );
        Ok(())
    }
}
