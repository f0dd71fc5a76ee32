//! Every statement on the accounts themselves: owners and tenant staff, and the password column
//! all account tables share (`owners`, `staff`, `platform.staff`). Rows are read by position
//! here and nowhere else, one reading function per row type, so the move to diesel touches one
//! file. Sessions, SMS codes and login throttling keep their statements in their own modules
//! (`sessions.rs`, `sms_code.rs`, `throttle.rs`, `login.rs`): each is small, has one job and is
//! no API, so gathering them here would only make this file the whole of `auth/`.

use chrono::{DateTime, Utc};
use tokio_postgres::Row;
use uuid::Uuid;

use super::login::AccountTable;
use crate::{db::Db, error::ApiResult, tenancy::conn::TenantConn};

// Owners.

/// An owner's profile as stored, in the order [`owner_profile_row`] reads.
const OWNER_PROFILE_SELECT: &str =
    "SELECT id, real_name, phone, nickname, agreement_accepted_at FROM owners WHERE id = $1";

/// An owner's own account as stored (the phone unmasked: callers mask it).
pub struct OwnerProfileRow {
    pub id: Uuid,
    pub real_name: String,
    pub phone: String,
    pub nickname: String,
    pub agreement_accepted_at: DateTime<Utc>,
}

/// The one place a profile row is read by position (the columns of [`OWNER_PROFILE_SELECT`]).
fn owner_profile_row(r: &Row) -> OwnerProfileRow {
    OwnerProfileRow {
        id: r.get(0),
        real_name: r.get(1),
        phone: r.get(2),
        nickname: r.get(3),
        agreement_accepted_at: r.get(4),
    }
}

/// The owner `id`'s profile; the caller is that owner, so the account exists.
pub async fn owner_profile(conn: &TenantConn, id: Uuid) -> ApiResult<OwnerProfileRow> {
    let row = conn.query_one(OWNER_PROFILE_SELECT, &[&id]).await?;
    Ok(owner_profile_row(&row))
}

/// Whether an account already uses `phone` (phones are unique among owners).
pub async fn phone_registered(conn: &TenantConn, phone: &str) -> ApiResult<bool> {
    Ok(conn
        .exists("SELECT 1 FROM owners WHERE phone = $1", &[&phone])
        .await?)
}

/// The owner registered with `phone`, if any.
pub async fn owner_by_phone(conn: &TenantConn, phone: &str) -> ApiResult<Option<Uuid>> {
    Ok(conn
        .query_opt("SELECT id FROM owners WHERE phone = $1", &[&phone])
        .await?
        .map(|r| r.get(0)))
}

/// Creates the owner `id`, who accepted the user agreement just now.
pub async fn insert_owner(
    conn: &TenantConn,
    id: Uuid,
    real_name: &str,
    phone: &str,
    password_hash: &str,
) -> ApiResult<()> {
    conn.execute(
        "INSERT INTO owners (id, real_name, phone, password_hash, agreement_accepted_at) VALUES ($1, $2, $3, $4, now())",
        &[&id, &real_name, &phone, &password_hash],
    )
    .await?;
    Ok(())
}

/// Records that the owner accepted the user agreement again (every login asks for it).
pub async fn accept_agreement(conn: &TenantConn, id: Uuid) -> ApiResult<()> {
    conn.execute(
        "UPDATE owners SET agreement_accepted_at = now() WHERE id = $1",
        &[&id],
    )
    .await?;
    Ok(())
}

/// Rewrites the owner's nickname, already trimmed by the caller.
pub async fn set_nickname(conn: &TenantConn, id: Uuid, nickname: &str) -> ApiResult<()> {
    conn.execute(
        "UPDATE owners SET nickname = $2, updated_at = now() WHERE id = $1",
        &[&id, &nickname],
    )
    .await?;
    Ok(())
}

// Staff.

/// A staff account's columns, in the order [`staff_row`] reads.
const STAFF_COLUMNS: &str = "id, username, display_name, phone, role, rc_id, created_at";

/// A staff account as stored (the phone unmasked and possibly empty).
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

/// The one place a staff row is read by position (the columns of [`STAFF_COLUMNS`]).
fn staff_row(r: &Row) -> StaffRow {
    StaffRow {
        id: r.get(0),
        username: r.get(1),
        display_name: r.get(2),
        phone: r.get(3),
        role: r.get(4),
        rc_id: r.get(5),
        created_at: r.get(6),
    }
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
    staff: &StaffFields<'_>,
    password_hash: &str,
) -> ApiResult<StaffRow> {
    let row = conn
        .query_one(
            &format!(
                "INSERT INTO staff (id, username, display_name, phone, role, rc_id, password_hash)
                 VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {STAFF_COLUMNS}"
            ),
            &[
                &id,
                &staff.username,
                &staff.display_name,
                &staff.phone,
                &staff.role,
                &staff.rc_id,
                &password_hash,
            ],
        )
        .await?;
    Ok(staff_row(&row))
}

/// The staff account `id`; the caller is that staff member, so the account exists.
pub async fn staff(conn: &TenantConn, id: Uuid) -> ApiResult<StaffRow> {
    let row = conn
        .query_one(
            &format!("SELECT {STAFF_COLUMNS} FROM staff WHERE id = $1"),
            &[&id],
        )
        .await?;
    Ok(staff_row(&row))
}

/// How many staff accounts the street office has (the list's total).
pub async fn count_staff(conn: &TenantConn) -> ApiResult<i64> {
    Ok(conn
        .query_one("SELECT count(*) FROM staff", &[])
        .await?
        .get(0))
}

/// One page of the staff accounts, oldest first.
pub async fn staff_page(conn: &TenantConn, limit: i64, offset: i64) -> ApiResult<Vec<StaffRow>> {
    let rows = conn
        .query(
            &format!(
                "SELECT {STAFF_COLUMNS} FROM staff ORDER BY created_at, username LIMIT $1 OFFSET $2"
            ),
            &[&limit, &offset],
        )
        .await?;
    Ok(rows.iter().map(staff_row).collect())
}

// Passwords, on every account table.

/// Stores a new password hash for the account `id` of `table` (a tenant transaction for
/// `owners` and `staff`, a platform one for `platform.staff`).
pub async fn set_password_hash(
    db: &dyn Db,
    table: AccountTable,
    id: Uuid,
    password_hash: &str,
) -> ApiResult<()> {
    db.execute(
        &format!("UPDATE {} SET password_hash = $2 WHERE id = $1", table.0),
        &[&id, &password_hash],
    )
    .await?;
    Ok(())
}
