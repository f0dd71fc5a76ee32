//! Demo housing: a generated roll and some verified owners, so a newcomer can try verification
//! and (later) votes on the demo tenant. Only manifests ask for it (tenants/demo.toml).

use serde::Deserialize;
use uuid::Uuid;

use super::UnitKind;
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

/// Generates the roll when the estate has none yet; returns how many units were created.
pub async fn seed(conn: &TenantConn, estate_id: Uuid, spec: &DemoHousing) -> ApiResult<u32> {
    let has_units = conn
        .query_opt(
            "SELECT 1 FROM units WHERE estate_id = $1 LIMIT 1",
            &[&estate_id],
        )
        .await?
        .is_some();
    let Some(admin) = conn
        .query_opt(
            "SELECT id FROM staff WHERE role = 'street_staff' ORDER BY created_at LIMIT 1",
            &[],
        )
        .await?
    else {
        return Ok(0);
    };
    if has_units {
        return Ok(0);
    }
    let admin: Uuid = admin.get(0);
    let import_id = Uuid::new_v4();
    let total = spec.buildings * spec.entrances * spec.floors * spec.rooms_per_floor;
    conn.execute(
        "INSERT INTO housing_imports (id, estate_id, file_name, unit_count, staff_id) VALUES ($1, $2, 'demo', $3, $4)",
        &[&import_id, &estate_id, &(total as i32), &admin],
    )
    .await?;
    let mut n = 0u32;
    let owner_hash = password::hash(DEMO_OWNER_PASSWORD.to_string()).await?;
    for b in 1..=spec.buildings {
        for e in 1..=spec.entrances {
            for f in 1..=spec.floors {
                for r in 1..=spec.rooms_per_floor {
                    let name = format!(
                        "{}{}",
                        SURNAMES[n as usize % SURNAMES.len()],
                        GIVEN[(n as usize / SURNAMES.len()) % GIVEN.len()]
                    );
                    let phone = format!("{}{:08}", spec.phone_prefix, n + 1);
                    // 70.00 to 139.95 m², exact hundredths.
                    let area: i64 = 7000 + ((n as i64 * 737) % 7000) / 5 * 5;
                    let unit = Uuid::new_v4();
                    conn.execute(
                        "INSERT INTO units (id, estate_id, import_id, building, entrance, room, kind, area_centi, owner_name, owner_phone)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                        &[
                            &unit,
                            &estate_id,
                            &import_id,
                            &b.to_string(),
                            &e.to_string(),
                            &format!("{f}{r:02}"),
                            &UnitKind::Residential.as_str(),
                            &area,
                            &name,
                            &phone,
                        ],
                    )
                    .await?;
                    if n < spec.verified_owners {
                        let owner = Uuid::new_v4();
                        conn.execute(
                            "INSERT INTO owners (id, real_name, phone, password_hash, agreement_accepted_at) VALUES ($1, $2, $3, $4, now())
                             ON CONFLICT (phone) DO NOTHING",
                            &[&owner, &name, &phone, &owner_hash],
                        )
                        .await?;
                        conn.execute(
                            "INSERT INTO unit_holders (id, unit_id, owner_id, role) SELECT $1, $2, id, 'owner' FROM owners WHERE phone = $3",
                            &[&Uuid::new_v4(), &unit, &phone],
                        )
                        .await?;
                    }
                    n += 1;
                }
            }
        }
    }
    // The estate's own figures (小区信息) agree with the roll it now has.
    conn.execute(
        "UPDATE estates SET total_households = $2, total_area_centi = (SELECT sum(area_centi) FROM units WHERE estate_id = $1), updated_at = now() WHERE id = $1",
        &[&estate_id, &(n as i32)],
    )
    .await?;
    super::store::refresh_statistics(conn).await?;
    Ok(n)
}
