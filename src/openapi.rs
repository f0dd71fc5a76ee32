//! The OpenAPI service: every API of the product in one spec, the contract for all clients.

use poem_openapi::{OpenApiService, Tags};

use crate::{
    attachments::api::AttachmentsApi,
    audit::api::AuditApi,
    auth::{owner_api::OwnerApi, staff_api::StaffApi},
    dev::DevApi,
    elections::{api::ElectionsApi, face_api::FaceApi, prep_api::PrepGroupsApi},
    estates::{api::EstatesApi, oc_api::OcApi, rc_api::RcApi},
    housing::{co_owners::CoOwnerApi, owner_api::HousingOwnerApi, staff_api::HousingStaffApi},
    platform::api::PlatformAuthApi,
    tenancy::api::TenantsApi,
    transparency::api::LogApi,
    voting::{api::MattersApi, ballots_api::BallotsApi, receipts_api::ReceiptsApi},
};

#[derive(Tags)]
pub enum ApiTags {
    /// 业主账号 / Owner accounts (mini-program)
    Owners,
    /// 工作人员 / Street and residents'-committee staff (console)
    Staff,
    /// 居委会与小区 / Residents' committees and estates
    Estates,
    /// 房屋信息 / The housing roll (console)
    Housing,
    /// 业主认证与共有人 / Owner verification, my properties, co-owners (mini-program)
    Verification,
    /// 附件 / Attachments
    Attachments,
    /// 议事与表决 / Deliberation matters, ballots, tallies and the ballot ledger
    Matters,
    /// 选举 / Preparatory groups, owners'-committee terms and elections
    Elections,
    /// 审计日志 / Audit log
    Audit,
    /// 平台 / Platform staff: tenants
    Platform,
    /// 开发 / Development only
    Dev,
}

pub type Apis = (
    (
        OwnerApi,
        StaffApi,
        AttachmentsApi,
        AuditApi,
        TenantsApi,
        PlatformAuthApi,
        DevApi,
        LogApi,
    ),
    (
        RcApi,
        EstatesApi,
        OcApi,
        HousingStaffApi,
        HousingOwnerApi,
        CoOwnerApi,
    ),
    (MattersApi, BallotsApi, ReceiptsApi),
    (PrepGroupsApi, ElectionsApi, FaceApi),
);

const DESCRIPTION: &str = "社区芝麻官 API。\n\n\
Every tenant-scoped operation names its street office with the `X-Tenant: <slug>` header (or the \
tenant's subdomain). Authenticate with `Authorization: Bearer <token>` from a login operation. \
Errors carry a stable `code` and a Chinese `message` (English with `Accept-Language: en`).";

pub fn service() -> OpenApiService<Apis, ()> {
    OpenApiService::new(
        (
            (
                OwnerApi,
                StaffApi,
                AttachmentsApi,
                AuditApi,
                TenantsApi,
                PlatformAuthApi,
                DevApi,
                LogApi,
            ),
            (
                RcApi,
                EstatesApi,
                OcApi,
                HousingStaffApi,
                HousingOwnerApi,
                CoOwnerApi,
            ),
            (MattersApi, BallotsApi, ReceiptsApi),
            (PrepGroupsApi, ElectionsApi, FaceApi),
        ),
        "Zhimaguan 社区芝麻官",
        env!("CARGO_PKG_VERSION"),
    )
    .description(DESCRIPTION)
}

pub fn spec_yaml() -> String {
    service().spec_yaml()
}
