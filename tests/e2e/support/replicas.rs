//! Replicas of one controller (`--leader-elect`, one leader on the Lease
//! `sealed-secrets-controller` of the home namespace) and their rollout, adapted to local
//! processes: "the Deployment rolls" is new replicas started with the changed flags,
//! the Service ([`ControllerService`]) moved to one of them once they serve, then the old
//! ones stopped with SIGTERM, which releases the Lease as a pod being replaced does.

use crate::controller::{Controller, ControllerSpec};
use crate::controller_service::ControllerService;
use crate::harness::Ctx;
use crate::objects::get_opt;
use crate::wait::Poll;
use anyhow::{Result, ensure};
use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use std::net::SocketAddr;
use std::time::Duration;

/// The leader Lease in the home namespace.
pub const LEASE: &str = "sealed-secrets-controller";
/// How long a replica may take to exit after SIGTERM.
pub const SIGTERM_GRACE: Duration = Duration::from_secs(20);

/// One running replica and the address of its HTTP API.
#[derive(Debug)]
pub struct Replica {
    pub controller: Controller,
    pub api: SocketAddr,
}

/// Starts `n` replicas of `spec` and waits until each serves (keys loaded), as a
/// rollout waits for ready pods.
pub async fn start(ctx: &Ctx, spec: &ControllerSpec, n: usize) -> Result<Vec<Replica>> {
    let mut started = Vec::new();
    for _ in 0..n {
        started.push(ctx.start_controller(spec.clone())?);
    }
    let mut out = Vec::new();
    for controller in started {
        let api = ctx.controller_api(&controller).await?.api;
        out.push(Replica { controller, api });
    }
    Ok(out)
}

/// A rolling update: `n` new replicas of `spec` serve, the Service moves to the first,
/// and the old ones get SIGTERM (releasing the Lease).
pub async fn roll(
    ctx: &Ctx,
    service: &mut ControllerService,
    old: Vec<Replica>,
    spec: &ControllerSpec,
    n: usize,
) -> Result<Vec<Replica>> {
    let new = start(ctx, spec, n).await?;
    service.repoint(ctx, new[0].api).await?;
    stop(old)?;
    Ok(new)
}

/// Stops replicas as pods being replaced are stopped: SIGTERM, which releases the
/// leader Lease.
pub fn stop(replicas: Vec<Replica>) -> Result<()> {
    for replica in replicas {
        let proc = replica.controller.proc();
        let took = proc.terminate(SIGTERM_GRACE)?;
        eprintln!(
            "sealed-e2e: {} exited {:.1} s after SIGTERM",
            proc.label,
            took.as_secs_f64()
        );
    }
    Ok(())
}

/// `Err` if a replica exited.
pub fn check_running(replicas: &[Replica]) -> Result<()> {
    replicas
        .iter()
        .try_for_each(|r| r.controller.check_running())
}

/// How many times `needle` occurs in the replicas' logs, in all.
pub fn count_in_logs(replicas: &[Replica], needle: &str) -> usize {
    replicas
        .iter()
        .map(|r| r.controller.log().matches(needle).count())
        .sum()
}

/// Waits until the replicas' logs hold `needle` `n` times in all; fails if more.
pub async fn wait_logged(ctx: &Ctx, replicas: &[Replica], needle: &str, n: usize) -> Result<()> {
    let seen = ctx
        .wait_for(
            ctx.timeout(),
            &format!("{n} `{needle}` log line(s) from the replicas"),
            || async {
                let seen = count_in_logs(replicas, needle);
                Ok(if seen >= n {
                    Poll::Ready(seen)
                } else {
                    Poll::Pending(format!("{seen} so far"))
                })
            },
        )
        .await?;
    ensure!(
        seen == n,
        "expected `{needle}` {n} time(s) in the replicas' logs, found {seen}"
    );
    Ok(())
}

/// Waits until every replica has logged a line holding all of `needles`.
pub async fn wait_each_logged(ctx: &Ctx, replicas: &[Replica], needles: &[&str]) -> Result<()> {
    for replica in replicas {
        let controller = &replica.controller;
        ctx.wait_for(
            ctx.timeout(),
            &format!("{} to log a line with {needles:?}", controller.proc().label),
            || async {
                let logged = controller
                    .log()
                    .lines()
                    .any(|l| needles.iter().all(|n| l.contains(n)));
                Ok(if logged {
                    Poll::Ready(())
                } else {
                    Poll::Pending(controller.log_tail(10))
                })
            },
        )
        .await?;
    }
    Ok(())
}

/// The holder of the Lease in `home`, if any.
pub async fn lease_holder(ctx: &Ctx, home: &str) -> Result<Option<String>> {
    let api: Api<Lease> = Api::namespaced(ctx.client().clone(), home);
    Ok(get_opt(&api, LEASE)
        .await?
        .and_then(|l| l.spec)
        .and_then(|s| s.holder_identity)
        .filter(|h| !h.is_empty()))
}

/// Waits until the Lease in `home` is held by a replica other than `previous` (by
/// anyone, for `None`); returns the holder.
pub async fn wait_holder(ctx: &Ctx, home: &str, previous: Option<&str>) -> Result<String> {
    let what = match previous {
        None => format!("the Lease {home}/{LEASE} to have a holder"),
        Some(p) => format!("the Lease {home}/{LEASE} to be held by a replica other than {p:?}"),
    };
    ctx.wait_for(ctx.timeout(), &what, || async {
        Ok(match lease_holder(ctx, home).await? {
            Some(h) if Some(h.as_str()) != previous => Poll::Ready(h),
            other => Poll::Pending(format!("holder is {other:?}")),
        })
    })
    .await
}
