//! Seals open matters' ledgers periodically, so an entry's place is fixed (and published with a
//! root) minutes after it is cast rather than only at close. Every replica may run it: the
//! per-matter checkpoint lock makes them take turns, and a turn with nothing new writes nothing.

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
    let seconds = state.config.ledger_checkpoint_seconds;
    super::periodic::spawn(state, seconds, "seal ledgers", |state, tenant| async move {
        seal_tenant(&state, &tenant).await
    });
}

pub async fn seal_tenant(state: &AppState, tenant: &Tenant) -> ApiResult<usize> {
    let conn = TenantConn::begin(&state.pool, tenant).await?;
    let matters: Vec<Uuid> = conn
        .load::<_, Id>(sql_query(
            "SELECT m.id FROM matters m WHERE m.status = 'open' AND m.ledger_version >= 2 AND EXISTS (
                 SELECT 1 FROM ledger_entries e WHERE e.matter_id = m.id AND NOT EXISTS (SELECT 1 FROM ledger_positions p WHERE p.seq = e.seq))",
        ))
        .await?
        .into_iter()
        .map(|r| r.id)
        .collect();
    conn.commit().await?;
    let mut sealed = 0;
    // One transaction per matter: a long round never holds one matter's lock for the others.
    for id in matters {
        let conn = TenantConn::begin(&state.pool, tenant).await?;
        match service::checkpoint(&conn, id).await {
            Ok(new) => {
                conn.commit().await?;
                sealed += usize::from(new.is_some());
            }
            Err(e) => {
                tracing::warn!(tenant = %tenant.slug, matter = %id, error = %e, "ledger checkpoint failed for this matter")
            }
        }
    }
    Ok(sealed)
}
