//! Lease renewal: while handlers run here, extend this engine's leases every
//! third of the lease length, and stop handlers whose step is no longer ours
//! (cancelled, resolved, or taken over after an expiry).

use std::collections::HashSet;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};
use uuid::Uuid;

use super::Shared;
use crate::store::renew_leases;

pub(super) async fn keep_leases(shared: Arc<Shared>, cancel: CancellationToken) {
    let period = (shared.options.lease / 3).max(std::time::Duration::from_millis(50));
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(period) => {}
        }
        // Snapshot first: a step dispatched after this point is not in the
        // snapshot, so a renewal that started before its claim cannot stop it.
        let snapshot: Vec<Uuid> = shared.running().keys().copied().collect();
        if snapshot.is_empty() {
            continue;
        }
        let until = shared.clock.now()
            + chrono::Duration::from_std(shared.options.lease).unwrap_or(chrono::Duration::MAX);
        match renew_leases(
            shared.store.writer(),
            &shared.options.instance_id,
            until,
            &snapshot,
        )
        .await
        {
            Ok(held) => {
                let held: HashSet<Uuid> = held.into_iter().collect();
                let running = shared.running();
                for id in snapshot.iter().filter(|id| !held.contains(id)) {
                    if let Some(attempt) = running.get(id) {
                        debug!(step_id = %id, "step no longer leased here; stopping its handler");
                        attempt.cancel.cancel();
                    }
                }
            }
            Err(err) => warn!(error = %err, "lease renewal failed; leases may expire if this persists"),
        }
    }
}
