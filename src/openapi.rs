//! The OpenAPI service: every API of the product in one spec, the contract for all clients.

use poem_openapi::{OpenApiService, Tags};

use crate::{
    attachments::api::AttachmentsApi,
    audit::api::AuditApi,
    auth::{owner_api::OwnerApi, staff_api::StaffApi},
    dev::DevApi,
    estates::api::EstatesApi,
    platform::api::PlatformAuthApi,
    tenancy::api::TenantsApi,
};

#[derive(Tags)]
pub enum ApiTags {
    /// 业主账号 / Owner accounts (mini-program)
    Owners,
    /// 工作人员 / Street and residents'-committee staff (console)
    Staff,
    /// 小区 / Estates
    Estates,
    /// 附件 / Attachments
    Attachments,
    /// 审计日志 / Audit log
    Audit,
    /// 平台 / Platform staff: tenants
    Platform,
    /// 开发 / Development only
    Dev,
}

pub type Apis = (OwnerApi, StaffApi, EstatesApi, AttachmentsApi, AuditApi, TenantsApi, PlatformAuthApi, DevApi);

const DESCRIPTION: &str = "社区芝麻官 API。\n\n\
Every tenant-scoped operation names its street office with the `X-Tenant: <slug>` header (or the \
tenant's subdomain). Authenticate with `Authorization: Bearer <token>` from a login operation. \
Errors carry a stable `code` and a Chinese `message` (English with `Accept-Language: en`).";

pub fn service() -> OpenApiService<Apis, ()> {
    OpenApiService::new(
        (OwnerApi, StaffApi, EstatesApi, AttachmentsApi, AuditApi, TenantsApi, PlatformAuthApi, DevApi),
        "Zhimaguan 社区芝麻官",
        env!("CARGO_PKG_VERSION"),
    )
    .description(DESCRIPTION)
}

pub fn spec_yaml() -> String {
    service().spec_yaml()
}
