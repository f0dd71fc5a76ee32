//! Owner side (mini-program): prove ownership of a unit, list and unbind my properties.

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::{
    param::{Path, Query},
    payload::Json,
    ApiResponse, Enum, Object, OpenApi,
};
use uuid::Uuid;

use super::{area, UnitKind};
use crate::{
    auth::{
        phone,
        principal::Principal,
        sms_code::{self, SmsPurpose},
        BearerAuth, ClientIp,
    },
    error::{ApiError, ApiResult},
    estates::store::{END_NOW, NOT_ENDED},
    state::AppState,
    tags::ApiTags,
    tenancy::{conn::TenantConn, Tenant},
};

#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct EstateChoice {
    pub id: Uuid,
    pub name: String,
    pub address: String,
}

#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct RoomChoice {
    pub unit_id: Uuid,
    pub room: String,
}

#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct UnitToVerify {
    pub unit_id: Uuid,
    pub estate_name: String,
    pub building: String,
    pub entrance: String,
    pub room: String,
    /// The phone registered for this unit, masked: the code goes there.
    pub masked_phone: String,
    /// Someone has already verified as this unit's owner.
    pub already_verified: bool,
}

#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct VerifyRequest {
    #[oai(validator(max_length = 10))]
    pub sms_code: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum HolderRole {
    /// 业主
    Owner,
    /// 共有人
    CoOwner,
}

#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Property {
    pub unit_id: Uuid,
    pub estate_id: Uuid,
    pub estate_name: String,
    pub building: String,
    pub entrance: String,
    pub room: String,
    pub kind: UnitKind,
    /// m², exact.
    pub area: String,
    pub role: HolderRole,
    pub since: DateTime<Utc>,
}

#[derive(ApiResponse)]
pub enum Verified {
    #[oai(status = 201)]
    Created(Json<Property>),
}

#[derive(ApiResponse)]
pub enum Done {
    #[oai(status = 204)]
    Done,
    #[oai(status = 202)]
    Sent,
}

pub fn owner_of(principal: &Principal) -> ApiResult<Uuid> {
    match principal {
        Principal::Owner { id } => Ok(*id),
        _ => Err(ApiError::forbidden(
            "authz.forbidden",
            "仅业主可以操作",
            "Owners only",
        )),
    }
}

fn unit_not_found() -> ApiError {
    ApiError::not_found("unit.not_found", "房屋不存在", "Unit not found")
}

/// Names match when equal ignoring spaces (the roll is typed by hand).
fn same_name(a: &str, b: &str) -> bool {
    let strip = |s: &str| s.chars().filter(|c| !c.is_whitespace()).collect::<String>();
    strip(a) == strip(b)
}

/// The unit's registered phone, whether the caller's real name matches the roll, and the
/// refusals that apply before any code is sent. A name that does not match is told only once
/// the code is proven (`confirm`): telling it at the request would confirm the roll's owner name
/// to whoever typed one.
struct Candidate {
    phone: String,
    name_matches: bool,
}

async fn candidate(conn: &TenantConn, owner: Uuid, unit: Uuid) -> ApiResult<Candidate> {
    let row = conn
        .query_opt(
            "SELECT u.owner_name, u.owner_phone, o.real_name,
                    EXISTS (SELECT 1 FROM unit_holders h WHERE h.unit_id = u.id AND h.role = 'owner' AND h.ended_at IS NULL AND h.owner_id = o.id),
                    EXISTS (SELECT 1 FROM unit_holders h WHERE h.unit_id = u.id AND h.role = 'owner' AND h.ended_at IS NULL)
               FROM units u, owners o WHERE u.id = $1 AND o.id = $2",
            &[&unit, &owner],
        )
        .await?
        .ok_or_else(unit_not_found)?;
    if row.get::<_, bool>(3) {
        return Err(ApiError::conflict(
            "verification.already_mine",
            "您已认证过这套房屋",
            "You have already verified this unit",
        ));
    }
    if row.get::<_, bool>(4) {
        return Err(ApiError::conflict(
            "verification.taken",
            "这套房屋已有业主认证。如您是新业主，请联系居委会办理过户",
            "Another owner has verified this unit; contact the residents' committee",
        ));
    }
    Ok(Candidate {
        phone: row.get(1),
        name_matches: same_name(row.get(0), row.get(2)),
    })
}

pub struct HousingOwnerApi;

#[OpenApi(tag = "ApiTags::Verification")]
impl HousingOwnerApi {
    /// 选择小区 / Estates to choose from.
    #[oai(
        path = "/api/verification/estates",
        method = "get",
        operation_id = "verify_estate_list"
    )]
    async fn estates(
        &self,
        state: Data<&AppState>,
        tenant: Data<&Tenant>,
        _auth: BearerAuth,
    ) -> ApiResult<Json<Vec<EstateChoice>>> {
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        let rows = conn
            .query("SELECT id, name, address FROM estates ORDER BY name", &[])
            .await?;
        conn.commit().await?;
        Ok(Json(
            rows.iter()
                .map(|r| EstateChoice {
                    id: r.get(0),
                    name: r.get(1),
                    address: r.get(2),
                })
                .collect(),
        ))
    }

    /// 选择楼号 / Buildings of an estate.
    #[oai(
        path = "/api/verification/estates/:id/buildings",
        method = "get",
        operation_id = "verify_building_list"
    )]
    async fn buildings(
        &self,
        state: Data<&AppState>,
        tenant: Data<&Tenant>,
        id: Path<Uuid>,
        _auth: BearerAuth,
    ) -> ApiResult<Json<Vec<String>>> {
        distinct(&state, &tenant, "building", id.0, None, None).await
    }

    /// 选择单元 / Entrances of a building.
    #[oai(
        path = "/api/verification/estates/:id/entrances",
        method = "get",
        operation_id = "verify_entrance_list"
    )]
    async fn entrances(
        &self,
        state: Data<&AppState>,
        tenant: Data<&Tenant>,
        id: Path<Uuid>,
        #[oai(validator(max_length = 30))] building: Query<String>,
        _auth: BearerAuth,
    ) -> ApiResult<Json<Vec<String>>> {
        distinct(&state, &tenant, "entrance", id.0, Some(&building.0), None).await
    }

    /// 选择户号 / Rooms of an entrance.
    #[oai(
        path = "/api/verification/estates/:id/rooms",
        method = "get",
        operation_id = "verify_room_list"
    )]
    async fn rooms(
        &self,
        state: Data<&AppState>,
        tenant: Data<&Tenant>,
        id: Path<Uuid>,
        #[oai(validator(max_length = 30))] building: Query<String>,
        #[oai(validator(max_length = 30))] entrance: Query<String>,
        _auth: BearerAuth,
    ) -> ApiResult<Json<Vec<RoomChoice>>> {
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        let rows = conn
            .query(
                "SELECT id, room FROM units WHERE estate_id = $1 AND building = $2 AND entrance = $3 ORDER BY length(room), room",
                &[&id.0, &building.0, &entrance.0],
            )
            .await?;
        conn.commit().await?;
        Ok(Json(
            rows.iter()
                .map(|r| RoomChoice {
                    unit_id: r.get(0),
                    room: r.get(1),
                })
                .collect(),
        ))
    }

    /// 待认证房屋 / The chosen unit with its masked registered phone.
    #[oai(
        path = "/api/verification/units/:id",
        method = "get",
        operation_id = "verify_unit_get"
    )]
    async fn unit(
        &self,
        state: Data<&AppState>,
        tenant: Data<&Tenant>,
        id: Path<Uuid>,
        _auth: BearerAuth,
    ) -> ApiResult<Json<UnitToVerify>> {
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        let row = conn
            .query_opt(
                "SELECT u.id, e.name, u.building, u.entrance, u.room, u.owner_phone,
                        EXISTS (SELECT 1 FROM unit_holders h WHERE h.unit_id = u.id AND h.role = 'owner' AND h.ended_at IS NULL)
                   FROM units u JOIN estates e ON e.id = u.estate_id WHERE u.id = $1",
                &[&id.0],
            )
            .await?
            .ok_or_else(unit_not_found)?;
        conn.commit().await?;
        Ok(Json(UnitToVerify {
            unit_id: row.get(0),
            estate_name: row.get(1),
            building: row.get(2),
            entrance: row.get(3),
            room: row.get(4),
            masked_phone: phone::mask(row.get(5)),
            already_verified: row.get(6),
        }))
    }

    /// 发送认证验证码 / Send a code to the unit's registered phone.
    #[oai(
        path = "/api/verification/units/:id/sms-code",
        method = "post",
        operation_id = "verify_unit_send_code"
    )]
    async fn send_code(
        &self,
        state: Data<&AppState>,
        tenant: Data<&Tenant>,
        principal: Data<&Principal>,
        ip: Data<&ClientIp>,
        id: Path<Uuid>,
        _auth: BearerAuth,
    ) -> ApiResult<Done> {
        let owner = owner_of(&principal)?;
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        let c = candidate(&conn, owner, id.0).await?;
        sms_code::send(
            &conn,
            state.sms.as_ref(),
            &state.config.sms,
            &c.phone,
            SmsPurpose::VerifyUnit,
            &id.0.to_string(),
            &ip.0 .0,
        )
        .await?;
        conn.commit().await?;
        Ok(Done::Sent)
    }

    /// 业主认证 / Become the unit's verified owner with the code sent to its registered phone.
    #[oai(
        path = "/api/verification/units/:id",
        method = "post",
        operation_id = "verify_unit_confirm"
    )]
    async fn confirm(
        &self,
        state: Data<&AppState>,
        tenant: Data<&Tenant>,
        principal: Data<&Principal>,
        id: Path<Uuid>,
        body: Json<VerifyRequest>,
        _auth: BearerAuth,
    ) -> ApiResult<Verified> {
        let owner = owner_of(&principal)?;
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        // Serialise verifications of this unit: at most one verified owner.
        conn.execute("SELECT 1 FROM units WHERE id = $1 FOR UPDATE", &[&id.0])
            .await?;
        let c = candidate(&conn, owner, id.0).await?;
        if let Err(refusal) = sms_code::verify(
            &conn,
            &c.phone,
            SmsPurpose::VerifyUnit,
            &id.0.to_string(),
            &body.sms_code,
        )
        .await?
        {
            conn.commit().await?;
            return Err(refusal);
        }
        if !c.name_matches {
            // The code proves the caller holds the roll's phone; only now is the mismatch told.
            return Err(ApiError::forbidden(
                "verification.name_mismatch",
                "您的实名与房屋登记的业主姓名不一致，无法认证。请联系居委会核实房屋信息",
                "Your real name does not match the registered owner; contact the residents' committee",
            ));
        }
        conn.execute(
            "INSERT INTO unit_holders (id, unit_id, owner_id, role) VALUES ($1, $2, $3, 'owner')",
            &[&Uuid::new_v4(), &id.0, &owner],
        )
        .await?;
        let property = properties(&conn, owner, Some(id.0))
            .await?
            .pop()
            .ok_or_else(unit_not_found)?;
        conn.commit().await?;
        Ok(Verified::Created(Json(property)))
    }

    /// 我的房产 / My verified units (as owner or co-owner).
    #[oai(
        path = "/api/me/properties",
        method = "get",
        operation_id = "my_property_list"
    )]
    async fn mine(
        &self,
        state: Data<&AppState>,
        tenant: Data<&Tenant>,
        principal: Data<&Principal>,
        _auth: BearerAuth,
    ) -> ApiResult<Json<Vec<Property>>> {
        let owner = owner_of(&principal)?;
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        let list = properties(&conn, owner, None).await?;
        conn.commit().await?;
        Ok(Json(list))
    }

    /// 解绑房产 / Unbind a unit I sold (its history is kept).
    #[oai(
        path = "/api/me/properties/:unit_id",
        method = "delete",
        operation_id = "my_property_unbind"
    )]
    async fn unbind(
        &self,
        state: Data<&AppState>,
        tenant: Data<&Tenant>,
        principal: Data<&Principal>,
        unit_id: Path<Uuid>,
        _auth: BearerAuth,
    ) -> ApiResult<Done> {
        let owner = owner_of(&principal)?;
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        let held = conn
            .query_opt(
                "UPDATE unit_holders h SET ended_at = now(), end_reason = 'unbound' FROM units u
                  WHERE u.id = h.unit_id AND h.unit_id = $1 AND h.owner_id = $2 AND h.ended_at IS NULL
                  RETURNING h.role, u.estate_id",
                &[&unit_id.0, &owner],
            )
            .await?
            .ok_or_else(|| ApiError::not_found("property.not_found", "您没有绑定这套房屋", "You hold no such unit"))?;
        let estate: Uuid = held.get(1);
        if held.get::<_, &str>(0) == "owner" {
            // A sold unit: its co-owners and open applications end with the owner's holding.
            conn.execute(
                "UPDATE unit_holders SET ended_at = now(), end_reason = 'unbound' WHERE unit_id = $1 AND role = 'co_owner' AND ended_at IS NULL",
                &[&unit_id.0],
            )
            .await?;
            conn.execute("UPDATE co_owner_applications SET status = 'deleted' WHERE unit_id = $1 AND status IN ('pending', 'approved')", &[&unit_id.0]).await?;
        }
        conn.execute(
            &format!(
                "UPDATE oc_members m SET {}, end_reason = 'no_longer_owner' WHERE m.estate_id = $1 AND m.owner_id = $2 AND {}
                    AND NOT EXISTS (SELECT 1 FROM unit_holders h JOIN units u ON u.id = h.unit_id WHERE h.owner_id = $2 AND u.estate_id = $1 AND h.ended_at IS NULL)",
                END_NOW,
                NOT_ENDED
            ),
            &[&estate, &owner],
        )
        .await?;
        conn.commit().await?;
        Ok(Done::Done)
    }
}

async fn distinct(
    state: &AppState,
    tenant: &Tenant,
    column: &str,
    estate: Uuid,
    building: Option<&str>,
    _: Option<&str>,
) -> ApiResult<Json<Vec<String>>> {
    // `column` is one of our own literals, never user input.
    debug_assert!(matches!(column, "building" | "entrance"));
    let conn = TenantConn::begin(&state.pool, tenant).await?;
    let rows = conn
        .query(
            &format!(
                "SELECT DISTINCT {column}, length({column}) FROM units WHERE estate_id = $1 AND ($2::text IS NULL OR building = $2)
                  ORDER BY length({column}), {column}"
            ),
            &[&estate, &building],
        )
        .await?;
    conn.commit().await?;
    Ok(Json(rows.iter().map(|r| r.get(0)).collect()))
}

/// The owner's current holdings (optionally just one unit).
pub async fn properties(
    conn: &TenantConn,
    owner: Uuid,
    unit: Option<Uuid>,
) -> ApiResult<Vec<Property>> {
    let rows = conn
        .query(
            "SELECT u.id, u.estate_id, e.name, u.building, u.entrance, u.room, u.kind, u.area_centi, h.role, h.since
               FROM unit_holders h JOIN units u ON u.id = h.unit_id JOIN estates e ON e.id = u.estate_id
              WHERE h.owner_id = $1 AND h.ended_at IS NULL AND ($2::uuid IS NULL OR u.id = $2)
              ORDER BY e.name, length(u.building), u.building, u.entrance, length(u.room), u.room",
            &[&owner, &unit],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| Property {
            unit_id: r.get(0),
            estate_id: r.get(1),
            estate_name: r.get(2),
            building: r.get(3),
            entrance: r.get(4),
            room: r.get(5),
            kind: UnitKind::parse(r.get(6)).unwrap_or(UnitKind::Residential),
            area: area::format(r.get(7)),
            role: if r.get::<_, &str>(8) == "owner" {
                HolderRole::Owner
            } else {
                HolderRole::CoOwner
            },
            since: r.get(9),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_match_ignoring_spaces_only() {
        assert!(super::same_name("张三", " 张 三 "));
        assert!(!super::same_name("张三", "张山"));
    }
}
