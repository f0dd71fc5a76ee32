//! Every statement on the audit logs: the tenant's `audit_log` (written by every staff write,
//! read by street staff) and `platform.audit_log`. Rows are read by column name into
//! [`EntryRow`] here (`QueryableByName`), and nowhere else.

use chrono::{DateTime, Utc};
use diesel::{sql_query, sql_types as sql, QueryableByName};
use uuid::Uuid;

use crate::{db::Conn, error::ApiResult, tenancy::conn::TenantConn};

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
    db.execute(
        sql_query(
            "INSERT INTO audit_log (actor_kind, actor_id, operation, object_type, object_id, request_id, detail)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind::<sql::Text, _>(entry.actor_kind)
        .bind::<sql::Nullable<sql::Uuid>, _>(entry.actor_id)
        .bind::<sql::Text, _>(&entry.operation)
        .bind::<sql::Text, _>(entry.object_type)
        .bind::<sql::Text, _>(entry.object_id)
        .bind::<sql::Text, _>(&entry.request_id)
        .bind::<sql::Nullable<sql::Jsonb>, _>(detail),
    )
    .await?;
    Ok(())
}

/// Appends an entry to the platform's log (its actors are platform staff, so no kind).
pub async fn insert_platform_entry(db: &Conn, entry: &NewEntry<'_>) -> ApiResult<()> {
    db.execute(
        sql_query(
            "INSERT INTO platform.audit_log (actor_id, operation, object_type, object_id, request_id)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind::<sql::Nullable<sql::Uuid>, _>(entry.actor_id)
        .bind::<sql::Text, _>(&entry.operation)
        .bind::<sql::Text, _>(entry.object_type)
        .bind::<sql::Text, _>(entry.object_id)
        .bind::<sql::Text, _>(&entry.request_id),
    )
    .await?;
    Ok(())
}

/// An entry of the tenant's log as stored (without its detail): the columns of
/// [`entries_page`], by name.
#[derive(QueryableByName)]
pub struct EntryRow {
    #[diesel(sql_type = sql::BigInt)]
    pub id: i64,
    #[diesel(sql_type = sql::Text)]
    pub actor_kind: String,
    #[diesel(sql_type = sql::Nullable<sql::Uuid>)]
    pub actor_id: Option<Uuid>,
    #[diesel(sql_type = sql::Text)]
    pub operation: String,
    #[diesel(sql_type = sql::Text)]
    pub object_type: String,
    #[diesel(sql_type = sql::Text)]
    pub object_id: String,
    #[diesel(sql_type = sql::Text)]
    pub request_id: String,
    #[diesel(sql_type = sql::Timestamptz)]
    pub at: DateTime<Utc>,
}

/// A count, selected as `count(*) AS n`.
#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = sql::BigInt)]
    n: i64,
}

/// How many entries have the operation id `operation` (`None`: every entry).
pub async fn count_entries(conn: &TenantConn, operation: Option<&str>) -> ApiResult<i64> {
    Ok(conn
        .first::<_, Count>(
            sql_query(
                "SELECT count(*) AS n FROM audit_log WHERE $1::text IS NULL OR operation = $1",
            )
            .bind::<sql::Nullable<sql::Text>, _>(operation),
        )
        .await?
        .n)
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
            sql_query(
                "SELECT id, actor_kind, actor_id, operation, object_type, object_id, request_id, at FROM audit_log
                      WHERE $1::text IS NULL OR operation = $1 ORDER BY id DESC LIMIT $2 OFFSET $3",
            )
            .bind::<sql::Nullable<sql::Text>, _>(operation)
            .bind::<sql::BigInt, _>(limit)
            .bind::<sql::BigInt, _>(offset),
        )
        .await?)
}
