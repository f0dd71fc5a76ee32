//! Owner side (mini-program): prove ownership of a unit, list and unbind my properties.

use crate::paging::{Paging, TextPage};
use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::{
    param::{Path, Query},
    payload::Json,
    ApiResponse, Enum, Object, OpenApi,
};
use uuid::Uuid;

use super::{
    area,
    service::{self, no_such_unit},
    store::{self, EstateChoiceRow, PropertyRow, RollColumn, RoomRow, UnitToVerifyRow},
    UnitKind,
};
use crate::{
    auth::{
        phone,
        principal::Principal,
        sms_code::{self, SmsPurpose},
        ClientIp,
    },
    error::{ApiError, ApiResult},
    state::AppState,
    tags::ApiTags,
    tenancy::{conn::TenantConn, Tenant},
};

crate::page_of!(EstateChoicePage, EstateChoice);
crate::page_of!(PropertyPage, Property);
crate::page_of!(RoomChoicePage, RoomChoice);

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
    #[oai(validator(pattern = r"^[0-9]+\.[0-9]{2}$"))]
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

/// The caller's owner id: these operations are an owner's own; anyone else is refused.
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

impl From<EstateChoiceRow> for EstateChoice {
    /// The stored estate as an owner picks it (the same fields).
    fn from(r: EstateChoiceRow) -> Self {
        EstateChoice {
            id: r.id,
            name: r.name,
            address: r.address,
        }
    }
}

impl From<RoomRow> for RoomChoice {
    /// The stored room as an owner picks it (the same fields).
    fn from(r: RoomRow) -> Self {
        RoomChoice {
            unit_id: r.unit_id,
            room: r.room,
        }
    }
}

impl From<UnitToVerifyRow> for UnitToVerify {
    /// The chosen unit as the owner sees it: the registered phone masked.
    fn from(r: UnitToVerifyRow) -> Self {
        UnitToVerify {
            unit_id: r.unit_id,
            estate_name: r.estate_name,
            building: r.building,
            entrance: r.entrance,
            room: r.room,
            masked_phone: phone::mask(&r.owner_phone),
            already_verified: r.already_verified,
        }
    }
}

impl From<PropertyRow> for Property {
    /// A stored holding as the owner sees it: the area as exact text, kind and role as enums.
    fn from(r: PropertyRow) -> Self {
        Property {
            unit_id: r.unit_id,
            estate_id: r.estate_id,
            estate_name: r.estate_name,
            building: r.building,
            entrance: r.entrance,
            room: r.room,
            kind: UnitKind::parse(&r.kind).unwrap_or(UnitKind::Residential),
            area: area::format(r.area_centi),
            role: if r.role == "owner" {
                HolderRole::Owner
            } else {
                HolderRole::CoOwner
            },
            since: r.since,
        }
    }
}

#[derive(Default)]
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
        /// Page number, from 1.
        #[oai(validator(minimum(value = "1"), maximum(value = "1000000")))]
        page: Query<Option<i64>>,
        /// Items per page, 1–100 (default 20).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        page_size: Query<Option<i64>>,
    ) -> ApiResult<Json<EstateChoicePage>> {
        let paging = Paging::new(page.0, page_size.0)?;
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        let rows = store::estate_choices(&conn).await?;
        conn.commit().await?;
        Ok(Json(EstateChoicePage::cut(
            rows.into_iter().map(EstateChoice::from).collect(),
            paging,
        )))
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
        /// Page number, from 1.
        #[oai(validator(minimum(value = "1"), maximum(value = "1000000")))]
        page: Query<Option<i64>>,
        /// Items per page, 1–100 (default 20).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        page_size: Query<Option<i64>>,
    ) -> ApiResult<Json<TextPage>> {
        let paging = Paging::new(page.0, page_size.0)?;
        let all = distinct(&state, &tenant, RollColumn::Building, id.0, None).await?;
        Ok(Json(TextPage::cut(all, paging)))
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
        /// Page number, from 1.
        #[oai(validator(minimum(value = "1"), maximum(value = "1000000")))]
        page: Query<Option<i64>>,
        /// Items per page, 1–100 (default 20).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        page_size: Query<Option<i64>>,
    ) -> ApiResult<Json<TextPage>> {
        let paging = Paging::new(page.0, page_size.0)?;
        let all = distinct(
            &state,
            &tenant,
            RollColumn::Entrance,
            id.0,
            Some(&building.0),
        )
        .await?;
        Ok(Json(TextPage::cut(all, paging)))
    }

    /// 选择户号 / Rooms of an entrance.
    #[oai(
        path = "/api/verification/estates/:id/rooms",
        method = "get",
        operation_id = "verify_room_list"
    )]
    #[allow(clippy::too_many_arguments)] // one extractor per parameter, as poem-openapi wants them
    async fn rooms(
        &self,
        state: Data<&AppState>,
        tenant: Data<&Tenant>,
        id: Path<Uuid>,
        #[oai(validator(max_length = 30))] building: Query<String>,
        #[oai(validator(max_length = 30))] entrance: Query<String>,
        /// Page number, from 1.
        #[oai(validator(minimum(value = "1"), maximum(value = "1000000")))]
        page: Query<Option<i64>>,
        /// Items per page, 1–100 (default 20).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        page_size: Query<Option<i64>>,
    ) -> ApiResult<Json<RoomChoicePage>> {
        let paging = Paging::new(page.0, page_size.0)?;
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        let rows = store::rooms(&conn, id.0, &building.0, &entrance.0).await?;
        conn.commit().await?;
        Ok(Json(RoomChoicePage::cut(
            rows.into_iter().map(RoomChoice::from).collect(),
            paging,
        )))
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
    ) -> ApiResult<Json<UnitToVerify>> {
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        let row = store::unit_to_verify(&conn, id.0)
            .await?
            .ok_or_else(no_such_unit)?;
        conn.commit().await?;
        Ok(Json(UnitToVerify::from(row)))
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
    ) -> ApiResult<Done> {
        let owner = owner_of(&principal)?;
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        let c = service::candidate(&conn, owner, id.0).await?;
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
    ) -> ApiResult<Verified> {
        let owner = owner_of(&principal)?;
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        let c = service::locked_candidate(&conn, owner, id.0).await?;
        if let Err(refusal) = sms_code::verify(
            &conn,
            &c.phone,
            SmsPurpose::VerifyUnit,
            &id.0.to_string(),
            &body.sms_code,
        )
        .await?
        {
            // The try counter is kept even when the code is refused.
            conn.commit().await?;
            return Err(refusal);
        }
        service::become_owner(&conn, owner, id.0, &c).await?;
        let property = store::properties(&conn, owner, Some(id.0))
            .await?
            .pop()
            .map(Property::from)
            .ok_or_else(no_such_unit)?;
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
        /// Page number, from 1.
        #[oai(validator(minimum(value = "1"), maximum(value = "1000000")))]
        page: Query<Option<i64>>,
        /// Items per page, 1–100 (default 20).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        page_size: Query<Option<i64>>,
    ) -> ApiResult<Json<PropertyPage>> {
        let paging = Paging::new(page.0, page_size.0)?;
        let owner = owner_of(&principal)?;
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        let rows = store::properties(&conn, owner, None).await?;
        conn.commit().await?;
        Ok(Json(PropertyPage::cut(
            rows.into_iter().map(Property::from).collect(),
            paging,
        )))
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
    ) -> ApiResult<Done> {
        let owner = owner_of(&principal)?;
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        service::unbind(&conn, owner, unit_id.0).await?;
        conn.commit().await?;
        Ok(Done::Done)
    }
}

/// The distinct values of `column` on the estate's roll (within `building` when given), in a
/// transaction of their own: the shared body of the building and entrance pickers.
async fn distinct(
    state: &AppState,
    tenant: &Tenant,
    column: RollColumn,
    estate: Uuid,
    building: Option<&str>,
) -> ApiResult<Vec<String>> {
    let conn = TenantConn::begin(&state.pool, tenant).await?;
    let values = store::distinct_values(&conn, column, estate, building).await?;
    conn.commit().await?;
    Ok(values)
}
