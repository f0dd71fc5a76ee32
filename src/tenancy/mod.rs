//! Street offices (tenants): the registry, request resolution, provisioning and `TenantConn`.

pub mod api;
pub mod conn;
pub mod manifest;
pub mod provision;
pub mod resolve;

use diesel::prelude::*;
use poem_openapi::Enum;
use uuid::Uuid;

use crate::{
    db::{Conn, Pool},
    error::{ApiError, ApiResult},
    schema::platform::tenants,
};

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

/// A registry row as stored.
#[derive(Queryable, Selectable)]
#[diesel(table_name = tenants, check_for_backend(diesel::pg::Pg))]
struct TenantRow {
    id: Uuid,
    slug: String,
    name: String,
    schema_name: String,
    status: String,
}

impl From<TenantRow> for Tenant {
    fn from(row: TenantRow) -> Self {
        Tenant {
            id: row.id,
            slug: row.slug,
            name: row.name,
            schema: row.schema_name,
            status: if row.status == "suspended" {
                TenantStatus::Suspended
            } else {
                TenantStatus::Active
            },
        }
    }
}

pub async fn find_by_slug(pool: &Pool, slug: &str) -> ApiResult<Option<Tenant>> {
    let row: Option<TenantRow> = Conn::get(pool)
        .await?
        .optional(
            tenants::table
                .filter(tenants::slug.eq(slug))
                .select(TenantRow::as_select()),
        )
        .await?;
    Ok(row.map(Tenant::from))
}

pub async fn list(pool: &Pool) -> ApiResult<Vec<Tenant>> {
    let rows: Vec<TenantRow> = Conn::get(pool)
        .await?
        .load(
            tenants::table
                .order(tenants::slug)
                .select(TenantRow::as_select()),
        )
        .await?;
    Ok(rows.into_iter().map(Tenant::from).collect())
}

pub fn not_found(slug: &str) -> ApiError {
    ApiError::not_found(
        "tenant.not_found",
        format!("街道“{slug}”不存在，请检查访问地址"),
        format!("Tenant '{slug}' does not exist"),
    )
}

/// What [`valid_slug`] accepts, as the spec declares it.
pub const SLUG_PATTERN: &str = "^[a-z][a-z0-9_]{1,30}$";

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
