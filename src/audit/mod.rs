//! The append-only audit log (per tenant; platform actions in `platform.audit_log`).
//! Entries are written in the same transaction as the change they describe.

pub mod api;

use crate::{auth::principal::Principal, context, db::Db, error::ApiResult};

pub async fn record(
    db: &dyn Db,
    actor: &Principal,
    object_type: &str,
    object_id: &str,
) -> ApiResult<()> {
    record_with(db, actor, object_type, object_id, None).await
}

/// An entry that also keeps what happened, e.g. the lot drawn to break a tie.
pub async fn record_with(
    db: &dyn Db,
    actor: &Principal,
    object_type: &str,
    object_id: &str,
    detail: Option<serde_json::Value>,
) -> ApiResult<()> {
    let (kind, id) = actor.actor();
    db.execute(
        "INSERT INTO audit_log (actor_kind, actor_id, operation, object_type, object_id, request_id, detail)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[&kind, &id, &context::operation(), &object_type, &object_id, &context::request_id(), &detail],
    )
    .await?;
    Ok(())
}

pub async fn record_platform(
    db: &dyn Db,
    actor: &Principal,
    object_type: &str,
    object_id: &str,
) -> ApiResult<()> {
    let (_, id) = actor.actor();
    db.execute(
        "INSERT INTO platform.audit_log (actor_id, operation, object_type, object_id, request_id)
         VALUES ($1, $2, $3, $4, $5)",
        &[
            &id,
            &context::operation(),
            &object_type,
            &object_id,
            &context::request_id(),
        ],
    )
    .await?;
    Ok(())
}
