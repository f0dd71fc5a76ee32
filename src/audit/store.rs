//! Every statement on the audit logs: the tenant's `audit_log` (written by every staff write,
//! read by street staff) and `platform.audit_log`, written with diesel's query builder over the
//! typed schema. Rows are read into [`EntryRow`] here, and nowhere else.

use chrono::{DateTime, Utc};
use diesel::{prelude::*, sql_types as sql};
use uuid::Uuid;

use crate::{
    db::Conn,
    error::ApiResult,
    schema::{platform, tenant::audit_log},
    tenancy::conn::TenantConn,
};

/// What an entry says: who did what to which object, under which request.
pub struct NewEntry<'a> {
    pub actor_kind: &'static str,
    pub actor_id: Option<Uuid>,
    pub operation: String,
    pub object_type: &'a str,
    pub object_id: &'a str,
    pub request_id: String,
}

/// Appends an entry to the tenant's log, with what happened when it is worth keeping.
pub async fn insert_entry(
    db: &Conn,
    entry: &NewEntry<'_>,
    detail: Option<serde_json::Value>,
) -> ApiResult<()> {
    db.execute(diesel::insert_into(audit_log::table).values((
        audit_log::actor_kind.eq(entry.actor_kind),
        audit_log::actor_id.eq(entry.actor_id),
        audit_log::operation.eq(&entry.operation),
        audit_log::object_type.eq(entry.object_type),
        audit_log::object_id.eq(entry.object_id),
        audit_log::request_id.eq(&entry.request_id),
        audit_log::detail.eq(detail),
    )))
    .await?;
    Ok(())
}

/// Appends an entry to the platform's log (its actors are platform staff, so no kind).
pub async fn insert_platform_entry(db: &Conn, entry: &NewEntry<'_>) -> ApiResult<()> {
    use platform::audit_log as log;
    db.execute(diesel::insert_into(log::table).values((
        log::actor_id.eq(entry.actor_id),
        log::operation.eq(&entry.operation),
        log::object_type.eq(entry.object_type),
        log::object_id.eq(entry.object_id),
        log::request_id.eq(&entry.request_id),
    )))
    .await?;
    Ok(())
}

/// An entry of the tenant's log as stored (without its detail).
#[derive(Queryable, Selectable)]
#[diesel(table_name = audit_log, check_for_backend(diesel::pg::Pg))]
pub struct EntryRow {
    pub id: i64,
    pub actor_kind: String,
    pub actor_id: Option<Uuid>,
    pub operation: String,
    pub object_type: String,
    pub object_id: String,
    pub request_id: String,
    pub at: DateTime<Utc>,
}

/// The entries with the operation id `operation` (`None`: every entry).
#[diesel::dsl::auto_type]
fn with_operation<'a>(operation: Option<&'a str>) -> _ {
    let wanted: diesel::dsl::AsExprOf<Option<&'a str>, sql::Nullable<sql::Text>> =
        operation.into_sql::<sql::Nullable<sql::Text>>();
    audit_log::table.filter(
        wanted
            .is_null()
            .or(audit_log::operation.nullable().eq(wanted)),
    )
}

/// How many entries have the operation id `operation` (`None`: every entry).
pub async fn count_entries(conn: &TenantConn, operation: Option<&str>) -> ApiResult<i64> {
    Ok(conn.first(with_operation(operation).count()).await?)
}

/// One page of the entries with the operation id `operation` (`None`: every entry), newest
/// first.
pub async fn entries_page(
    conn: &TenantConn,
    operation: Option<&str>,
    limit: i64,
    offset: i64,
) -> ApiResult<Vec<EntryRow>> {
    Ok(conn
        .load(
            with_operation(operation)
                .order(audit_log::id.desc())
                .limit(limit)
                .offset(offset)
                .select(EntryRow::as_select()),
        )
        .await?)
}
