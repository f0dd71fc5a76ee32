//! The OpenAPI service: every API of the product in one spec, the contract for all clients.
//! poem-openapi derives the spec from the handlers; `contract` then adds what the gate decides
//! (who needs a token, which street office) and each operation's real error statuses.

pub mod contract;

use poem_openapi::{LicenseObject, OpenApiService, ServerObject};

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
Every tenant-scoped operation names its street office with the `X-Tenant: <slug>` header (the \
`Tenant` security scheme; or the tenant's subdomain). Authenticate with \
`Authorization: Bearer <token>` from a login operation (the `BearerAuth` scheme). Errors are \
RFC 9457 problems (`application/problem+json`) with a stable `code`, a Chinese `detail` \
(English with `Accept-Language: en`), the `request_id` and, for 422, every failing field. \
Every list is paged the same way (`items`, `total`, `page`, `page_size`). Writes that must \
happen once take an `Idempotency-Key` header.";

pub fn service() -> OpenApiService<Apis, ()> {
    OpenApiService::new(
        Apis::default(),
        "Zhimaguan 社区芝麻官",
        env!("CARGO_PKG_VERSION"),
    )
    .description(DESCRIPTION)
    .server(ServerObject::new("/").description("This server"))
    .license(LicenseObject::new("Proprietary"))
}

/// The finished spec, as the served and committed copies carry it.
pub fn document() -> serde_json::Value {
    finish(&service().spec())
}

fn finish(derived: &str) -> serde_json::Value {
    let mut doc = serde_json::from_str(derived).expect("poem-openapi writes JSON");
    contract::finish(&mut doc);
    doc
}

pub fn spec_json() -> String {
    serde_json::to_string_pretty(&document()).expect("a JSON value serializes")
}

pub fn spec_yaml() -> String {
    serde_yaml::to_string(&document()).expect("a JSON value serializes")
}

/// The finished spec in every form the service serves, derived once.
pub struct Published {
    pub yaml: String,
    pub json: String,
    /// Swagger UI: poem-openapi's page with its embedded spec swapped for the finished one.
    pub docs_html: String,
}

pub fn published() -> Published {
    let service = service();
    let derived = service.spec();
    let doc = finish(&derived);
    let json = serde_json::to_string_pretty(&doc).expect("a JSON value serializes");
    let docs_html = service
        .swagger_ui_html()
        .replacen(&derived, &json, 1)
        // The tenant and the token, once set in "Authorize", survive a reload.
        .replacen(
            "deepLinking: true,",
            "deepLinking: true, persistAuthorization: true,",
            1,
        );
    Published {
        yaml: serde_yaml::to_string(&doc).expect("a JSON value serializes"),
        json,
        docs_html,
    }
}
