//! Tenant manifests (`tenants/*.toml`): a street office, its residents' committees and estates,
//! applied idempotently by `zmg tenant apply` and `zmg serve --demo`.

use deadpool_postgres::Pool;
use serde::Deserialize;
use uuid::Uuid;

use super::{conn::TenantConn, find_by_slug, provision, Tenant};
use crate::{
    auth::staff_api::StaffCreated,
    error::ApiError,
    housing::demo::{self, DemoHousing},
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub slug: String,
    pub name: String,
    #[serde(default = "default_admin")]
    pub admin_username: String,
    #[serde(default)]
    pub residents_committees: Vec<RcManifest>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RcManifest {
    pub name: String,
    #[serde(default)]
    pub contact: String,
    #[serde(default)]
    pub phone: String,
    #[serde(default)]
    pub address: String,
    #[serde(default)]
    pub estates: Vec<EstateManifest>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EstateManifest {
    pub name: String,
    #[serde(default)]
    pub address: String,
    #[serde(default)]
    pub phone: String,
    /// Demo only: generate a roll and verified owners when the estate has no units.
    pub demo_housing: Option<DemoHousing>,
}

fn default_admin() -> String {
    "admin".into()
}

pub struct Applied {
    pub tenant: Tenant,
    /// Present when this run created the tenant: the admin's password, shown once.
    pub created_admin: Option<StaffCreated>,
}

pub fn parse(text: &str) -> anyhow::Result<Manifest> {
    Ok(toml::from_str(text)?)
}

fn api(e: ApiError) -> anyhow::Error {
    anyhow::anyhow!(
        "{e}: {:?}",
        e.fields.iter().map(|f| &f.field).collect::<Vec<_>>()
    )
}

/// Creates the tenant when missing, otherwise updates its name; then upserts committees and
/// estates by name.
pub async fn apply(pool: &Pool, manifest: &Manifest) -> anyhow::Result<Applied> {
    let (tenant, created_admin) = match find_by_slug(pool, &manifest.slug).await.map_err(api)? {
        Some(t) => {
            provision::validate(&manifest.slug, &manifest.name).map_err(api)?;
            crate::migrate::migrate_tenant(pool, &t).await?;
            let client = pool.get().await?;
            client
                .execute(
                    "UPDATE platform.tenants SET name = $2, updated_at = now() WHERE id = $1",
                    &[&t.id, &manifest.name],
                )
                .await?;
            (t, None)
        }
        None => {
            let (t, admin) = provision::create(
                pool,
                &manifest.slug,
                &manifest.name,
                &manifest.admin_username,
                None,
            )
            .await
            .map_err(api)?;
            (t, Some(admin))
        }
    };
    let conn = TenantConn::begin(pool, &tenant).await.map_err(api)?;
    for rc in &manifest.residents_committees {
        let rc_id: Uuid = conn
            .query_one(
                "INSERT INTO residents_committees (id, name, contact, phone, address) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (name) DO UPDATE SET contact = EXCLUDED.contact, phone = EXCLUDED.phone, address = EXCLUDED.address
                 RETURNING id",
                &[&Uuid::new_v4(), &rc.name, &rc.contact, &rc.phone, &rc.address],
            )
            .await?
            .get(0);
        for estate in &rc.estates {
            let estate_id: Uuid = conn
                .query_one(
                    "INSERT INTO estates (id, rc_id, name, address, phone) VALUES ($1, $2, $3, $4, $5)
                     ON CONFLICT (name) DO UPDATE SET rc_id = EXCLUDED.rc_id, address = EXCLUDED.address, phone = EXCLUDED.phone
                     RETURNING id",
                    &[&Uuid::new_v4(), &rc_id, &estate.name, &estate.address, &estate.phone],
                )
                .await?
                .get(0);
            if let Some(spec) = &estate.demo_housing {
                demo::seed(&conn, estate_id, spec).await.map_err(api)?;
            }
        }
    }
    conn.commit().await?;
    Ok(Applied {
        tenant,
        created_admin,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_shipped_demo_manifest_parses() {
        let m = super::parse(include_str!("../../tenants/demo.toml")).unwrap();
        assert_eq!(m.slug, "demo");
        assert!(!m.residents_committees.is_empty());
        assert!(m
            .residents_committees
            .iter()
            .any(|rc| !rc.estates.is_empty()));
        let housing = m.residents_committees[0].estates[0]
            .demo_housing
            .as_ref()
            .expect("the demo estate has housing");
        assert!(
            housing.buildings * housing.entrances * housing.floors * housing.rooms_per_floor >= 200,
            "a few hundred units"
        );
    }
}
