//! The append-only audit log (per tenant; platform actions in `platform.audit_log`).
//! Entries are written in the same transaction as the change they describe.

pub mod api;
pub mod store;

use store::NewEntry;

use crate::{auth::principal::Principal, context, db::Conn, error::ApiResult};

/// Records that `actor` acted on the object, in the caller's tenant transaction.
pub async fn record(
    db: &Conn,
    actor: &Principal,
    object_type: &str,
    object_id: &str,
) -> ApiResult<()> {
    record_with(db, actor, object_type, object_id, None).await
}

/// An entry that also keeps what happened, e.g. the lot drawn to break a tie.
pub async fn record_with(
    db: &Conn,
    actor: &Principal,
    object_type: &str,
    object_id: &str,
    detail: Option<serde_json::Value>,
) -> ApiResult<()> {
    store::insert_entry(db, &entry(actor, object_type, object_id), detail).await
}

/// Records a platform staff action in `platform.audit_log`, in the caller's transaction.
pub async fn record_platform(
    db: &Conn,
    actor: &Principal,
    object_type: &str,
    object_id: &str,
) -> ApiResult<()> {
    store::insert_platform_entry(db, &entry(actor, object_type, object_id)).await
}

/// The entry `actor` makes on the object, named with the request's operation id and request
/// id (the request context), so every entry can be traced to the request that made it.
fn entry<'a>(actor: &Principal, object_type: &'a str, object_id: &'a str) -> NewEntry<'a> {
    let (actor_kind, actor_id) = actor.actor();
    NewEntry {
        actor_kind,
        actor_id,
        operation: context::operation(),
        object_type,
        object_id,
        request_id: context::request_id(),
    }
}
