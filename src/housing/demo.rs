//! Demo housing: a generated roll and some verified owners, so a newcomer can try verification
//! and (later) votes on the demo tenant. Only manifests ask for it (tenants/demo.toml).

use serde::Deserialize;
use uuid::Uuid;

use super::{store, UnitKind};
use crate::{auth::password, error::ApiResult, tenancy::conn::TenantConn};

/// The password every generated demo owner logs in with (printed by `zmg serve --demo`).
pub const DEMO_OWNER_PASSWORD: &str = "Demo1234";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoHousing {
    pub buildings: u32,
    pub entrances: u32,
    pub floors: u32,
    pub rooms_per_floor: u32,
    /// How many of the units get a verified owner account.
    #[serde(default)]
    pub verified_owners: u32,
    /// First digits of the generated phones (3 digits; the rest counts up).
    pub phone_prefix: String,
}

const SURNAMES: [&str; 12] = [
    "王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴", "徐", "孙",
];
const GIVEN: [&str; 10] = ["伟", "芳", "娜", "敏", "静", "磊", "洋", "勇", "艳", "杰"];

/// Generates the roll when the estate has none yet (and the office has street staff to name
/// as its importer); returns how many units were created.
pub async fn seed(conn: &TenantConn, estate_id: Uuid, spec: &DemoHousing) -> ApiResult<u32> {
    let has_units = store::estate_has_units(conn, estate_id).await?;
    let Some(admin) = store::first_street_staff(conn).await? else {
        return Ok(0);
    };
    if has_units {
        return Ok(0);
    }
    let import_id = Uuid::new_v4();
    let total = spec.buildings * spec.entrances * spec.floors * spec.rooms_per_floor;
    store::insert_import(
        conn,
        import_id,
        estate_id,
        "demo",
        total as i32,
        Some(admin),
    )
    .await?;
    let mut n = 0u32;
    let owner_hash = password::hash(DEMO_OWNER_PASSWORD.to_string()).await?;
    for b in 1..=spec.buildings {
        for e in 1..=spec.entrances {
            for f in 1..=spec.floors {
                for r in 1..=spec.rooms_per_floor {
                    let unit = Place {
                        estate_id,
                        import_id,
                        building: b,
                        entrance: e,
                        floor: f,
                        room: r,
                    };
                    let verified = n < spec.verified_owners;
                    seed_unit(
                        conn,
                        spec,
                        &unit,
                        n,
                        verified.then_some(owner_hash.as_str()),
                    )
                    .await?;
                    n += 1;
                }
            }
        }
    }
    // The estate's own figures (小区信息) agree with the roll it now has.
    store::match_estate_figures(conn, estate_id, n as i32).await?;
    store::refresh_statistics(conn).await?;
    Ok(n)
}

/// Where a generated unit sits: its estate and import, and its numbers.
struct Place {
    estate_id: Uuid,
    import_id: Uuid,
    building: u32,
    entrance: u32,
    floor: u32,
    room: u32,
}

/// Puts the `n`th generated unit on the roll with a made-up owner, and with `owner_hash` also
/// gives that owner an account (that password) verified as the unit's owner.
async fn seed_unit(
    conn: &TenantConn,
    spec: &DemoHousing,
    place: &Place,
    n: u32,
    owner_hash: Option<&str>,
) -> ApiResult<()> {
    let name = format!(
        "{}{}",
        SURNAMES[n as usize % SURNAMES.len()],
        GIVEN[(n as usize / SURNAMES.len()) % GIVEN.len()]
    );
    let phone = format!("{}{:08}", spec.phone_prefix, n + 1);
    // 70.00 to 139.95 m², exact hundredths.
    let area: i64 = 7000 + ((n as i64 * 737) % 7000) / 5 * 5;
    let unit = Uuid::new_v4();
    store::insert_demo_unit(
        conn,
        &store::DemoUnit {
            id: unit,
            estate_id: place.estate_id,
            import_id: place.import_id,
            building: &place.building.to_string(),
            entrance: &place.entrance.to_string(),
            room: &format!("{}{:02}", place.floor, place.room),
            kind: UnitKind::Residential.as_str(),
            area_centi: area,
            owner_name: &name,
            owner_phone: &phone,
        },
    )
    .await?;
    if let Some(hash) = owner_hash {
        store::insert_demo_owner(conn, Uuid::new_v4(), &name, &phone, hash).await?;
        super::service::link_approved_co_owner(conn, &phone).await?;
        store::hold_as_owner_by_phone(conn, unit, &phone).await?;
    }
    Ok(())
}
