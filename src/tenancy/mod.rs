//! Street offices (tenants): the registry, request resolution, provisioning and `TenantConn`.

pub mod api;
pub mod conn;
pub mod manifest;
pub mod provision;
pub mod resolve;

use deadpool_postgres::Pool;
use poem_openapi::Enum;
use tokio_postgres::Row;
use uuid::Uuid;

use crate::error::{ApiError, ApiResult};

/// A tenant as the registry knows it. `schema` is the only schema name ever put in search_path.
#[derive(Clone, Debug)]
pub struct Tenant {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
    pub schema: String,
    pub status: TenantStatus,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum TenantStatus {
    Active,
    Suspended,
}

impl Tenant {
    fn from_row(row: &Row) -> Self {
        Tenant {
            id: row.get("id"),
            slug: row.get("slug"),
            name: row.get("name"),
            schema: row.get("schema_name"),
            status: if row.get::<_, &str>("status") == "suspended" {
                TenantStatus::Suspended
            } else {
                TenantStatus::Active
            },
        }
    }
}

const SELECT: &str = "SELECT id, slug, name, schema_name, status FROM platform.tenants";

pub async fn find_by_slug(pool: &Pool, slug: &str) -> ApiResult<Option<Tenant>> {
    let client = pool.get().await?;
    let row = client
        .query_opt(&format!("{SELECT} WHERE slug = $1"), &[&slug])
        .await?;
    Ok(row.as_ref().map(Tenant::from_row))
}

pub async fn list(pool: &Pool) -> ApiResult<Vec<Tenant>> {
    let client = pool.get().await?;
    let rows = client
        .query(&format!("{SELECT} ORDER BY slug"), &[])
        .await?;
    Ok(rows.iter().map(Tenant::from_row).collect())
}

pub fn not_found(slug: &str) -> ApiError {
    ApiError::not_found(
        "tenant.not_found",
        format!("街道“{slug}”不存在，请检查访问地址"),
        format!("Tenant '{slug}' does not exist"),
    )
}

/// Slugs become schema names, so they are kept to a strict, quote-free alphabet.
pub fn valid_slug(slug: &str) -> bool {
    let bytes = slug.as_bytes();
    (2..=31).contains(&bytes.len())
        && bytes[0].is_ascii_lowercase()
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_')
}

#[cfg(test)]
mod tests {
    use super::valid_slug;

    #[test]
    fn slugs_are_safe_schema_suffixes() {
        assert!(valid_slug("demo"));
        assert!(valid_slug("jiedao_01"));
        assert!(!valid_slug("d"));
        assert!(!valid_slug("1abc"));
        assert!(!valid_slug("Demo"));
        assert!(!valid_slug("a\";drop"));
        assert!(!valid_slug("a-b"));
    }
}
