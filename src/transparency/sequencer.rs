//! Runs the log's sequencer on every replica at the checkpoint interval: queued checkpoints get
//! their place and a new head is signed. Replicas take turns under the log's lock.

use std::time::Duration;

use crate::state::AppState;

pub fn spawn(state: AppState) {
    let seconds = state.config.ledger_checkpoint_seconds.max(1);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(seconds));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The first turn runs at once: after an upgrade it stores the log's subtrees.
        loop {
            tick.tick().await;
            if let Err(e) = run(&state).await {
                tracing::warn!(error = %e, "transparency log sequencing failed; retrying next round");
            }
        }
    });
}

/// One turn: places what is queued and signs a head. Returns the head's size, if a new one.
pub async fn run(state: &AppState) -> crate::error::ApiResult<Option<i64>> {
    let tx = crate::db::Conn::begin(&state.pool).await?;
    let head = super::store::sequence(&tx).await?;
    tx.commit().await?;
    Ok(head.map(|h| h.size))
}
