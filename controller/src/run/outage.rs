//! Outages end for everyone at once. While some object waits after failing because the
//! API server was down, one cheap request (`GET /version`) every two seconds tells when
//! it answers again; then every waiting object is retried at once instead of at the
//! end of its own backoff (up to 30 s). One probe instead of one retry per object.

use crate::api_error::call;
use crate::reconcile::Context;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

const PROBE_EVERY: Duration = Duration::from_secs(2);

/// Runs until `stop`.
pub async fn watch_for_recovery(ctx: Arc<Context>, stop: watch::Receiver<bool>) {
    let mut down = false;
    let mut ticks = tokio::time::interval(PROBE_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            () = super::signals::stopped(stop.clone()) => return,
        }
        if !ctx.outage_pending() {
            down = false;
            continue;
        }
        match call(ctx.client.apiserver_version()).await {
            Err(error) if error.is_outage() => down = true,
            // Up (or refusing /version, which says it is up): only a change from down
            // to up wakes the objects; failures of single objects while the API server
            // answers follow their own backoff.
            _ if down => {
                down = false;
                tracing::info!("the API server answers again; retrying what failed meanwhile");
                ctx.api_recovered();
            }
            _ => {}
        }
    }
}
