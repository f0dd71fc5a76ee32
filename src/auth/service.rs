//! The accounts' steps that take more than one statement or apply a rule: registering an owner,
//! replacing a password, creating a staff account and paging through them. Handlers call these
//! inside their transaction, after validating the input, and record the audit entry and commit
//! themselves (a refused SMS code's try must be committed, which only the handler can decide).

use uuid::Uuid;

use super::{
    login::{self, AccountTable, Admitted},
    password,
    store::{self, StaffFields, StaffRow},
};
use crate::{
    db::Conn,
    error::{ApiError, ApiResult},
    paging::Paging,
    tenancy::conn::TenantConn,
};

/// Creates an owner's account once the registration code proved the phone is the caller's, and
/// returns its id. Only then is the phone said to be taken (telling it earlier would tell anyone
/// who has an account), and only then is the password hashed.
pub async fn register_owner(
    conn: &TenantConn,
    real_name: &str,
    phone: &str,
    password_text: String,
) -> ApiResult<Uuid> {
    if store::phone_registered(conn, phone).await? {
        return Err(ApiError::conflict(
            "owner.phone_taken",
            "该手机号已注册，请直接登录",
            "This phone is already registered; log in instead",
        ));
    }
    let hash = password::hash(password_text).await?;
    let id = Uuid::new_v4();
    store::insert_owner(conn, id, real_name, phone, &hash).await?;
    crate::housing::service::link_approved_co_owner(conn, phone).await?;
    Ok(id)
}

/// Stores `new_hash` for the account `id` of `table` if `old_password` is its current password
/// (a wrong one is a field error, not "logged out"). The same rule for owners, staff and
/// platform staff; the caller ends the account's sessions and audits as its audience requires.
pub async fn replace_password(
    db: &Conn,
    admitted: &Admitted<'_>,
    table: AccountTable,
    id: Uuid,
    old_password: String,
    new_hash: &str,
) -> ApiResult<()> {
    admitted
        .check_password(db, old_password)
        .await
        .map_err(login::old_password_refusal)?;
    store::set_password_hash(db, table, id, new_hash).await
}

/// Creates a staff account with a generated password and returns it with that password, which
/// is shown once and never stored in the clear (callers have checked `staff` already).
pub async fn create_staff(
    conn: &TenantConn,
    staff: &StaffFields<'_>,
) -> ApiResult<(StaffRow, String)> {
    let initial_password = password::generate();
    let hash = password::hash(initial_password.clone()).await?;
    let row = store::insert_staff(conn, Uuid::new_v4(), staff, &hash).await?;
    Ok((row, initial_password))
}

/// One page of the street office's staff accounts, with the total over every page.
pub async fn staff_page(conn: &TenantConn, paging: &Paging) -> ApiResult<(Vec<StaffRow>, i64)> {
    let total = store::count_staff(conn).await?;
    let rows = store::staff_page(conn, paging.limit(), paging.offset()).await?;
    Ok((rows, total))
}
