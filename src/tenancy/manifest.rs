//! Tenant manifests (`tenants/*.toml`): a street office, its residents' committees and estates,
//! applied idempotently by `zmg tenant apply` and `zmg serve --demo`.

use diesel::{dsl::now, prelude::*, upsert::excluded};
use serde::Deserialize;
use uuid::Uuid;

use super::{conn::TenantConn, find_by_slug, provision, Tenant};
use crate::{
    auth::staff_api::StaffCreated,
    db::{Conn, Pool},
    error::ApiError,
    housing::demo::{self, DemoHousing},
    schema::{
        platform::tenants,
        tenant::{estates, residents_committees as rcs},
    },
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
            Conn::get(pool)
                .await
                .map_err(api)?
                .execute(
                    diesel::update(tenants::table)
                        .filter(tenants::id.eq(t.id))
                        .set((
                            tenants::name.eq(&manifest.name),
                            tenants::updated_at.eq(now),
                        )),
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
            .first(
                diesel::insert_into(rcs::table)
                    .values((
                        rcs::id.eq(Uuid::new_v4()),
                        rcs::name.eq(&rc.name),
                        rcs::contact.eq(&rc.contact),
                        rcs::phone.eq(&rc.phone),
                        rcs::address.eq(&rc.address),
                    ))
                    .on_conflict(rcs::name)
                    .do_update()
                    .set((
                        rcs::contact.eq(excluded(rcs::contact)),
                        rcs::phone.eq(excluded(rcs::phone)),
                        rcs::address.eq(excluded(rcs::address)),
                    ))
                    .returning(rcs::id),
            )
            .await?;
        for estate in &rc.estates {
            let estate_id: Uuid = conn
                .first(
                    diesel::insert_into(estates::table)
                        .values((
                            estates::id.eq(Uuid::new_v4()),
                            estates::rc_id.eq(rc_id),
                            estates::name.eq(&estate.name),
                            estates::address.eq(&estate.address),
                            estates::phone.eq(&estate.phone),
                        ))
                        .on_conflict(estates::name)
                        .do_update()
                        .set((
                            estates::rc_id.eq(excluded(estates::rc_id)),
                            estates::address.eq(excluded(estates::address)),
                            estates::phone.eq(excluded(estates::phone)),
                        ))
                        .returning(estates::id),
                )
                .await?;
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
