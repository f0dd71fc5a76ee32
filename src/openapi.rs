//! The OpenAPI service: every API of the product in one spec, the contract for all clients.

use poem_openapi::OpenApiService;

use crate::{
    attachments::api::AttachmentsApi,
    audit::api::AuditApi,
    auth::{owner_api::OwnerApi, staff_api::StaffApi},
    dev::DevApi,
    elections::{api::ElectionsApi, face_api::FaceApi, prep_api::PrepGroupsApi},
    estates::{api::EstatesApi, oc_api::OcApi, rc_api::RcApi},
    housing::{co_owner_api::CoOwnerApi, owner_api::HousingOwnerApi, staff_api::HousingStaffApi},
    platform::api::PlatformAuthApi,
    tenancy::api::TenantsApi,
    transparency::api::LogApi,
    voting::{api::MattersApi, ballots_api::BallotsApi, receipts_api::ReceiptsApi},
};

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
