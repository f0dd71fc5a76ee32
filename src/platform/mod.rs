//! Platform staff accounts (the team that onboards street offices).

pub mod api;

use diesel::prelude::*;
use uuid::Uuid;

use crate::{
    auth::password,
    db::{Conn, Pool},
    error::ApiResult,
    schema::platform::staff,
};

/// Creates a platform-staff account (CLI only) and returns its generated password.
pub async fn create_staff(pool: &Pool, username: &str, display_name: &str) -> ApiResult<String> {
    let initial = password::generate();
    let hash = password::hash(initial.clone()).await?;
    Conn::get(pool)
        .await?
        .execute(diesel::insert_into(staff::table).values((
            staff::id.eq(Uuid::new_v4()),
            staff::username.eq(username),
            staff::display_name.eq(display_name),
            staff::password_hash.eq(&hash),
        )))
        .await?;
    Ok(initial)
}
