//! Platform staff accounts (the team that onboards street offices).

pub mod api;

use uuid::Uuid;

use crate::{auth::password, error::ApiResult};

/// Creates a platform-staff account (CLI only) and returns its generated password.
pub async fn create_staff(
    pool: &deadpool_postgres::Pool,
    username: &str,
    display_name: &str,
) -> ApiResult<String> {
    let initial = password::generate();
    let hash = password::hash(initial.clone()).await?;
    let client = pool.get().await?;
    client
        .execute(
            "INSERT INTO platform.staff (id, username, display_name, password_hash) VALUES ($1, $2, $3, $4)",
            &[&Uuid::new_v4(), &username, &display_name, &hash],
        )
        .await?;
    Ok(initial)
}
