//! Every statement on the accounts themselves: owners and tenant staff, and the password column
//! all account tables share (`owners`, `staff`, `platform.staff`), written with diesel's query
//! builder over the typed schema. Sessions, SMS codes and login throttling keep their statements
//! in their own modules (`sessions.rs`, `sms_code.rs`, `throttle.rs`, `login.rs`): each is small,
//! has one job and is no API, so gathering them here would only make this file the whole of
//! `auth/`.

use chrono::{DateTime, Utc};
use diesel::{dsl::now, prelude::*, sql_query, sql_types as sql};
use uuid::Uuid;

use super::login::AccountTable;
use crate::{
    db::Conn,
    error::ApiResult,
    schema::tenant::{owners, staff},
    tenancy::conn::TenantConn,
};

// Owners.

/// An owner's own account as stored (the phone unmasked: callers mask it).
#[derive(Queryable, Selectable)]
#[diesel(table_name = owners, check_for_backend(diesel::pg::Pg))]
pub struct OwnerProfileRow {
    pub id: Uuid,
    pub real_name: String,
    pub phone: String,
    pub nickname: String,
    pub agreement_accepted_at: DateTime<Utc>,
}

/// The owner `id`'s profile; the caller is that owner, so the account exists.
pub async fn owner_profile(conn: &TenantConn, id: Uuid) -> ApiResult<OwnerProfileRow> {
    Ok(conn
        .first(owners::table.find(id).select(OwnerProfileRow::as_select()))
        .await?)
}

/// Whether an account already uses `phone` (phones are unique among owners).
pub async fn phone_registered(conn: &TenantConn, phone: &str) -> ApiResult<bool> {
    Ok(conn
        .first(diesel::select(diesel::dsl::exists(
            owners::table.filter(owners::phone.eq(phone)),
        )))
        .await?)
}

/// The owner registered with `phone`, if any.
pub async fn owner_by_phone(conn: &TenantConn, phone: &str) -> ApiResult<Option<Uuid>> {
    Ok(conn
        .optional(
            owners::table
                .filter(owners::phone.eq(phone))
                .select(owners::id),
        )
        .await?)
}

/// Creates the owner `id`, who accepted the user agreement just now.
pub async fn insert_owner(
    conn: &TenantConn,
    id: Uuid,
    real_name: &str,
    phone: &str,
    password_hash: &str,
) -> ApiResult<()> {
    conn.execute(diesel::insert_into(owners::table).values((
        owners::id.eq(id),
        owners::real_name.eq(real_name),
        owners::phone.eq(phone),
        owners::password_hash.eq(password_hash),
        owners::agreement_accepted_at.eq(now),
    )))
    .await?;
    Ok(())
}

/// Records that the owner accepted the user agreement again (every login asks for it).
pub async fn accept_agreement(conn: &TenantConn, id: Uuid) -> ApiResult<()> {
    conn.execute(diesel::update(owners::table.find(id)).set(owners::agreement_accepted_at.eq(now)))
        .await?;
    Ok(())
}

/// Rewrites the owner's nickname, already trimmed by the caller.
pub async fn set_nickname(conn: &TenantConn, id: Uuid, nickname: &str) -> ApiResult<()> {
    conn.execute(
        diesel::update(owners::table.find(id))
            .set((owners::nickname.eq(nickname), owners::updated_at.eq(now))),
    )
    .await?;
    Ok(())
}

// Staff.

/// A staff account as stored (the phone unmasked and possibly empty).
#[derive(Queryable, Selectable)]
#[diesel(table_name = staff, check_for_backend(diesel::pg::Pg))]
pub struct StaffRow {
    pub id: Uuid,
    pub username: String,
    pub display_name: String,
    pub phone: String,
    /// The stored text (`street_staff`, `rc_staff`).
    pub role: String,
    pub rc_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

/// What a new staff account holds besides its password, already checked by the caller.
pub struct StaffFields<'a> {
    pub username: &'a str,
    /// Already trimmed.
    pub display_name: &'a str,
    /// Empty when none was given.
    pub phone: &'a str,
    /// The stored text (`street_staff`, `rc_staff`).
    pub role: &'a str,
    pub rc_id: Option<Uuid>,
}

/// Creates the staff account `id` with the given password hash, as stored.
pub async fn insert_staff(
    conn: &TenantConn,
    id: Uuid,
    fields: &StaffFields<'_>,
    password_hash: &str,
) -> ApiResult<StaffRow> {
    Ok(conn
        .first(
            diesel::insert_into(staff::table)
                .values((
                    staff::id.eq(id),
                    staff::username.eq(fields.username),
                    staff::display_name.eq(fields.display_name),
                    staff::phone.eq(fields.phone),
                    staff::role.eq(fields.role),
                    staff::rc_id.eq(fields.rc_id),
                    staff::password_hash.eq(password_hash),
                ))
                .returning(StaffRow::as_returning()),
        )
        .await?)
}

/// The staff account `id`; the caller is that staff member, so the account exists.
pub async fn staff(conn: &TenantConn, id: Uuid) -> ApiResult<StaffRow> {
    Ok(conn
        .first(staff::table.find(id).select(StaffRow::as_select()))
        .await?)
}

/// How many staff accounts the street office has (the list's total).
pub async fn count_staff(conn: &TenantConn) -> ApiResult<i64> {
    Ok(conn.first(staff::table.count()).await?)
}

/// One page of the staff accounts, oldest first.
pub async fn staff_page(conn: &TenantConn, limit: i64, offset: i64) -> ApiResult<Vec<StaffRow>> {
    Ok(conn
        .load(
            staff::table
                .order((staff::created_at, staff::username))
                .limit(limit)
                .offset(offset)
                .select(StaffRow::as_select()),
        )
        .await?)
}

/// Gives the staff account `username` a new password hash (the demo's admin, each start).
pub async fn set_staff_password(
    conn: &TenantConn,
    username: &str,
    password_hash: &str,
) -> ApiResult<()> {
    conn.execute(
        diesel::update(staff::table.filter(staff::username.eq(username)))
            .set(staff::password_hash.eq(password_hash)),
    )
    .await?;
    Ok(())
}

// Passwords, on every account table.

/// Stores a new password hash for the account `id` of `table` (a tenant transaction for
/// `owners` and `staff`, a platform one for `platform.staff`).
pub async fn set_password_hash(
    db: &Conn,
    table: AccountTable,
    id: Uuid,
    password_hash: &str,
) -> ApiResult<()> {
    // The table is one of the service's constants (AccountTable).
    db.execute(
        sql_query(format!(
            "UPDATE {} SET password_hash = $2 WHERE id = $1",
            table.0
        ))
        .bind::<sql::Uuid, _>(id)
        .bind::<sql::Text, _>(password_hash),
    )
    .await?;
    Ok(())
}
