//! Due work: matters (and election rounds, which vote through matters) open on schedule, not
//! when someone first reads them. Every replica may sweep: each due matter is claimed with
//! `FOR UPDATE SKIP LOCKED` and opened in the claiming transaction, so two replicas never open
//! the same matter and a crash mid-open leaves it due for the next sweep.

use diesel::{
    dsl::{not, now},
    prelude::*,
};
use uuid::Uuid;

use super::service;
use crate::{
    error::ApiResult,
    schema::tenant::matters,
    state::AppState,
    tenancy::{conn::TenantConn, Tenant},
};

pub fn spawn(state: AppState) {
    let seconds = state.config.due_sweep_seconds;
    super::periodic::spawn(
        state,
        seconds,
        "open due matters",
        |state, tenant| async move { open_due(&state, &tenant).await },
    );
}

/// Opens every due matter of one tenant, one transaction each; returns how many it opened. A
/// matter that fails to open is logged and left for the next sweep, after the others.
pub async fn open_due(state: &AppState, tenant: &Tenant) -> ApiResult<usize> {
    let (mut opened, mut failed) = (0, Vec::<Uuid>::new());
    loop {
        let conn = TenantConn::begin(&state.pool, tenant).await?;
        let due: Option<Uuid> = conn
            .optional(
                matters::table
                    .filter(matters::status.eq("approved"))
                    .filter(matters::opens_at.le(now))
                    .filter(not(matters::id.eq_any(&failed)))
                    .order((matters::opens_at, matters::id))
                    .limit(1)
                    .for_update()
                    .skip_locked()
                    .select(matters::id),
            )
            .await?;
        let Some(id) = due else {
            conn.commit().await?;
            return Ok(opened);
        };
        match service::open_if_due(&conn, id).await {
            Ok(m) if m.status == "open" => {
                conn.commit().await?;
                opened += 1;
            }
            // Due by the database's clock, not yet by this replica's: the next sweep opens it.
            Ok(_) => failed.push(id),
            Err(e) => {
                tracing::warn!(tenant = %tenant.slug, matter = %id, error = %e, "opening a due matter failed");
                failed.push(id);
            }
        }
    }
}
