//! Several replicas (`--leader-elect`): one leader on a Lease, every replica serving the
//! HTTP API, a takeover when the leader is killed (measured) or stopped (the Lease is
//! released), one key only, and nothing left unsealed.

use anyhow::{Context, Result, ensure};
use sealed_common::Scope;
use sealed_e2e::Controller;
use sealed_e2e::http::get;
use sealed_e2e::objects::{apply_sealed_secret, bytes_map};
use sealed_e2e::replicas;
use sealed_e2e::sealing::{seal_items, sealed_secret};
use sealed_e2e::{ControllerSpec, Ctx, run};
use serde_json::json;
use std::time::{Duration, Instant};

/// The controller's defaults: 15 s lease, 2 s retry.
const LEASE_DURATION: Duration = Duration::from_secs(15);
const RETRY: Duration = Duration::from_secs(2);

/// The identity a controller logged when it joined the election.
fn identity(controller: &Controller) -> Option<String> {
    let log = controller.log();
    let line = log
        .lines()
        .find(|l| l.contains("leader election on"))?
        .to_owned();
    let start = line.find("identity=")? + "identity=".len();
    let rest = line[start..].trim_start_matches('"');
    Some(rest.split(['"', ' ']).next().unwrap_or_default().to_owned())
}

async fn seal_and_apply(
    ctx: &Ctx,
    cert: &sealed_common::keys::Certificate,
    ns: &str,
    name: &str,
    value: &[u8],
) -> Result<std::collections::BTreeMap<String, Vec<u8>>> {
    let items = bytes_map(&[("value", value)]);
    let sealed = seal_items(cert, Scope::Strict, ns, name, &items)?;
    apply_sealed_secret(
        ctx.client(),
        &sealed_secret(ns, name, Scope::Strict, &sealed, json!({})),
    )
    .await?;
    Ok(items)
}

#[tokio::test]
async fn two_replicas_one_leader_and_takeovers() -> Result<()> {
    run("ha", |ctx| async move {
        let home = ctx.namespace("home").await?;
        let spec = ControllerSpec::new(&home).arg("--leader-elect");
        let a = ctx.start_controller(spec.clone())?;
        let b = ctx.start_controller(spec.clone())?;

        // One key, whoever leads; both replicas serve it.
        let (cert, _) = ctx.controller_cert(&home).await?;
        let api_a = ctx.controller_api(&a).await?;
        let api_b = ctx.controller_api(&b).await?;
        for api in [api_a.api, api_b.api] {
            let served = get(api, "/v1/cert.pem").await?;
            ensure!(
                served.status == 200
                    && sealed_e2e::sealing::certificate_from_pem(&served.body)?.der() == cert.der(),
                "replica at {api} does not serve the key's certificate: {}",
                served.describe()
            );
        }
        let first_holder = replicas::wait_holder(&ctx, &home, None).await?;
        let ids = [identity(&a), identity(&b)];
        let (leader, follower) = match ids.iter().position(|i| i.as_deref() == Some(&first_holder)) {
            Some(0) => (a, b),
            Some(_) => (b, a),
            None => anyhow::bail!(
                "the Lease holder {first_holder:?} is neither replica ({ids:?})"
            ),
        };
        let before = seal_and_apply(&ctx, &cert, &home, "before", b"one").await?;
        ctx.wait_secret_data(&home, "before", &before).await?;
        ctx.wait_synced(&home, "before").await?;
        ensure!(
            !follower.log().contains("created Secret") && !follower.log().contains("New key written"),
            "the follower wrote:\n{}",
            follower.log_tail(40)
        );

        // kill -9 the leader: the follower takes over once the Lease expires.
        leader.stop();
        let killed = Instant::now();
        let after = seal_and_apply(&ctx, &cert, &home, "after-kill", b"two").await?;
        let new_holder = replicas::wait_holder(&ctx, &home, Some(&first_holder)).await?;
        let lease_taken = killed.elapsed();
        ctx.wait_secret_data(&home, "after-kill", &after).await?;
        let unsealed = killed.elapsed();
        eprintln!(
            "sealed-e2e: takeover after SIGKILL of the leader: Lease taken after {:.1} s, first SealedSecret unsealed after {:.1} s (15 s lease, 2 s retry)",
            lease_taken.as_secs_f64(),
            unsealed.as_secs_f64()
        );
        ensure!(
            identity(&follower).as_deref() == Some(new_holder.as_str()),
            "the Lease went to {new_holder:?}, not the surviving replica {:?}",
            identity(&follower)
        );
        ensure!(
            lease_taken <= LEASE_DURATION + RETRY * 2 + Duration::from_secs(5),
            "takeover took {lease_taken:?}"
        );
        ctx.wait_synced(&home, "before").await?;
        ctx.wait_synced(&home, "after-kill").await?;

        // A rolling update: a new replica joins, the leader gets SIGTERM, releases the
        // Lease, and the new one takes over at its next try instead of after expiry.
        let c = ctx.start_controller(spec)?;
        ctx.controller_api(&c).await?;
        let exit = follower.proc().terminate(Duration::from_secs(20))?;
        let stopped = Instant::now();
        let handed = replicas::wait_holder(&ctx, &home, Some(&new_holder)).await?;
        let handover = stopped.elapsed();
        eprintln!(
            "sealed-e2e: handover after SIGTERM of the leader: exited in {:.1} s, Lease taken {:.1} s later",
            exit.as_secs_f64(),
            handover.as_secs_f64()
        );
        ensure!(
            identity(&c).as_deref() == Some(handed.as_str()),
            "the Lease went to {handed:?}, not the new replica {:?}",
            identity(&c)
        );
        ensure!(
            handover <= RETRY + Duration::from_secs(4),
            "the released Lease was taken only after {handover:?}"
        );
        let last = seal_and_apply(&ctx, &cert, &home, "after-term", b"three").await?;
        ctx.wait_secret_data(&home, "after-term", &last).await?;

        // Still the one key: no replica minted its own.
        let keys = ctx.active_keys(&home).await?;
        ensure!(
            keys.len() == 1,
            "expected one key Secret after two takeovers, found {}",
            keys.len()
        );
        c.check_running().context("the last replica")?;
        Ok(())
    })
    .await
}
