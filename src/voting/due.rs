//! Due work: matters (and election rounds, which vote through matters) open on schedule, not
//! when someone first reads them. Every replica may sweep: each due matter is claimed with
//! `FOR UPDATE SKIP LOCKED` and opened in the claiming transaction, so two replicas never open
//! the same matter and a crash mid-open leaves it due for the next sweep.

use diesel::{sql_query, sql_types as sql, QueryableByName};
use uuid::Uuid;

use super::service;
use crate::{
    error::ApiResult,
    state::AppState,
    tenancy::{conn::TenantConn, Tenant},
};

#[derive(QueryableByName)]
struct Id {
    #[diesel(sql_type = sql::Uuid)]
    id: Uuid,
}

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
            .optional::<_, Id>(
                sql_query(
                    "SELECT id FROM matters WHERE status = 'approved' AND opens_at <= now() AND NOT (id = ANY ($1))
                  ORDER BY opens_at, id LIMIT 1 FOR UPDATE SKIP LOCKED",
                )
                .bind::<sql::Array<sql::Uuid>, _>(&failed),
            )
            .await?
            .map(|r| r.id);
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
