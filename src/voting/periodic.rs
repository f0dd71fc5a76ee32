//! Work that runs on every replica at an interval, over every active street office: sealing
//! ledgers (`checkpointer`) and opening due matters (`due`). Each job makes its own work safe to
//! run concurrently; this module only schedules it and keeps one failing tenant from stopping
//! the others.

use std::{future::Future, time::Duration};

use crate::{
    error::ApiResult,
    state::AppState,
    tenancy::{self, Tenant, TenantStatus},
};

/// Runs `job` over every active tenant every `seconds`, from one interval after start.
pub fn spawn<F, Fut>(state: AppState, seconds: u64, what: &'static str, job: F)
where
    F: Fn(AppState, Tenant) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ApiResult<usize>> + Send,
{
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(seconds.max(1)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tick.tick().await;
            if let Err(e) = every_tenant(&state, what, &job).await {
                tracing::warn!(job = what, error = %e, "background round failed; retrying next round");
            }
        }
    });
}

/// One round over every active tenant; a tenant that fails is logged and skipped.
async fn every_tenant<F, Fut>(state: &AppState, what: &'static str, job: &F) -> ApiResult<usize>
where
    F: Fn(AppState, Tenant) -> Fut,
    Fut: Future<Output = ApiResult<usize>>,
{
    let mut done = 0;
    for tenant in tenancy::list(&state.pool)
        .await?
        .into_iter()
        .filter(|t| t.status == TenantStatus::Active)
    {
        let slug = tenant.slug.clone();
        match job(state.clone(), tenant).await {
            Ok(n) => done += n,
            Err(e) => {
                tracing::warn!(job = what, tenant = %slug, error = %e, "background work failed for this tenant")
            }
        }
    }
    Ok(done)
}
