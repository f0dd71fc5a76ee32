//! Street-office and residents'-committee staff (console): log in, password, accounts.

use chrono::{DateTime, Duration, Utc};
use poem::web::Data;
use poem_openapi::{param::Query, payload::Json, ApiResponse, Enum, Object, OpenApi};
use uuid::Uuid;

use super::{
    login::{self, AccountTable},
    owner_api::{change_tenant_password, NoContent, PasswordChange},
    phone,
    principal::{Principal, StaffRole},
    required, service, sessions,
    store::{self, StaffFields, StaffRow},
    ClientIp, TokenResponse,
};
use crate::{
    audit,
    error::{ApiError, ApiResult, FieldIssue},
    estates,
    paging::Paging,
    state::AppState,
    tags::ApiTags,
    tenancy::{conn::TenantConn, Tenant},
};

#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct StaffLoginRequest {
    #[oai(validator(max_length = 64))]
    pub username: String,
    #[oai(validator(max_length = 128))]
    pub password: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum StaffRoleName {
    /// 街道工作人员: the whole street office.
    StreetStaff,
    /// 居委会工作人员: one residents' committee.
    RcStaff,
}

impl From<StaffRoleName> for StaffRole {
    fn from(r: StaffRoleName) -> Self {
        match r {
            StaffRoleName::StreetStaff => StaffRole::StreetStaff,
            StaffRoleName::RcStaff => StaffRole::RcStaff,
        }
    }
}

#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct StaffCreateRequest {
    /// Login name: 3–32 letters, digits or underscores.
    #[oai(validator(max_length = 32))]
    pub username: String,
    #[oai(validator(max_length = 50))]
    pub display_name: String,
    #[oai(validator(max_length = 20))]
    pub phone: Option<String>,
    pub role: StaffRoleName,
    /// Jurisdiction: required for residents'-committee staff, absent for street staff.
    pub rc_id: Option<Uuid>,
}

#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct StaffView {
    pub id: Uuid,
    pub username: String,
    pub display_name: String,
    /// Masked.
    pub phone: String,
    pub role: StaffRoleName,
    pub rc_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct StaffCreated {
    pub staff: StaffView,
    /// Shown once: hand it to the person, who should change it at first login.
    pub initial_password: String,
}

crate::page_of!(StaffPage, StaffView);

#[derive(ApiResponse)]
pub enum Created {
    #[oai(status = 201)]
    Created(Json<StaffCreated>),
}

impl From<StaffRow> for StaffView {
    /// The stored account as the console shows it: a phone masked (none stays empty), the role
    /// as its enum.
    fn from(r: StaffRow) -> Self {
        StaffView {
            id: r.id,
            username: r.username,
            display_name: r.display_name,
            phone: if r.phone.is_empty() {
                String::new()
            } else {
                phone::mask(&r.phone)
            },
            role: if r.role == "street_staff" {
                StaffRoleName::StreetStaff
            } else {
                StaffRoleName::RcStaff
            },
            rc_id: r.rc_id,
            created_at: r.created_at,
        }
    }
}

/// A login name: 3–32 ASCII letters, digits or underscores.
pub fn valid_username(u: &str) -> bool {
    (3..=32).contains(&u.len()) && u.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Creates a staff account with a generated password; shared with tenant provisioning.
pub async fn create_staff(conn: &TenantConn, req: &StaffCreateRequest) -> ApiResult<StaffCreated> {
    validate(conn, req).await?;
    let phone = req.phone.clone().unwrap_or_default();
    let fields = StaffFields {
        username: &req.username,
        display_name: req.display_name.trim(),
        phone: &phone,
        role: StaffRole::from(req.role).as_str(),
        rc_id: req.rc_id,
    };
    let (row, initial_password) = service::create_staff(conn, &fields).await?;
    Ok(StaffCreated {
        staff: StaffView::from(row),
        initial_password,
    })
}

/// Refuses what the types cannot: every field at fault at once, the committee checked to
/// exist so that the answer names `rc_id` rather than the insert failing.
async fn validate(conn: &TenantConn, req: &StaffCreateRequest) -> ApiResult<()> {
    let mut issues = Vec::new();
    if !valid_username(&req.username) {
        issues.push(FieldIssue::new(
            "username",
            "username.invalid",
            "账号须为 3–32 位字母、数字或下划线",
            "3–32 letters, digits or underscores",
        ));
    }
    required(&mut issues, "display_name", &req.display_name);
    if let Some(p) = req.phone.as_deref().filter(|p| !p.is_empty()) {
        issues.extend(phone::issue("phone", p));
    }
    match (req.role, req.rc_id) {
        (StaffRoleName::RcStaff, None) => issues.push(FieldIssue::new(
            "rc_id",
            "required",
            "居委会工作人员须指定所属居委会",
            "Residents'-committee staff need rc_id",
        )),
        (StaffRoleName::StreetStaff, Some(_)) => issues.push(FieldIssue::new(
            "rc_id",
            "rc_id.not_allowed",
            "街道工作人员管辖整个街道，不能指定居委会",
            "Street staff cover the whole street; omit rc_id",
        )),
        (_, Some(rc)) if !estates::store::rc_exists(conn, rc).await? => {
            issues.push(FieldIssue::new(
                "rc_id",
                "rc.not_found",
                "所选居委会不存在",
                "No such residents' committee",
            ));
        }
        _ => {}
    }
    if issues.is_empty() {
        Ok(())
    } else {
        Err(ApiError::validation(issues))
    }
}

/// The caller's staff id: these operations are a staff member's own; anyone else is refused.
fn staff_id(principal: &Principal) -> ApiResult<Uuid> {
    match principal {
        Principal::Staff { id, .. } => Ok(*id),
        _ => Err(ApiError::forbidden(
            "authz.forbidden",
            "仅工作人员可以操作",
            "Staff only",
        )),
    }
}

#[derive(Default)]
pub struct StaffApi;

#[OpenApi(tag = "ApiTags::Staff")]
impl StaffApi {
    /// 工作人员登录 / Staff login with account and password.
    #[oai(
        path = "/api/auth/staff/login",
        method = "post",
        operation_id = "staff_login"
    )]
    async fn login(
        &self,
        state: Data<&AppState>,
        tenant: Data<&Tenant>,
        ip: Data<&ClientIp>,
        body: Json<StaffLoginRequest>,
    ) -> ApiResult<Json<TokenResponse>> {
        let mut issues = Vec::new();
        required(&mut issues, "username", &body.username);
        required(&mut issues, "password", &body.password);
        if !issues.is_empty() {
            return Err(ApiError::validation(issues));
        }
        let origin = login::Origin {
            pool: &state.pool,
            scope: &tenant.schema,
            client_ip: &ip.0 .0,
        };
        let admitted =
            login::admit(&origin, AccountTable("staff"), "username", &body.username).await?;
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        let id = admitted
            .check_password(&conn, body.password.clone())
            .await?;
        let token =
            sessions::issue_tenant(&conn, &tenant, "staff", id, state.config.staff_token_hours)
                .await?;
        conn.commit().await?;
        Ok(Json(TokenResponse {
            token,
            expires_at: Utc::now() + Duration::hours(state.config.staff_token_hours),
        }))
    }

    /// 当前工作人员 / Who am I (staff).
    #[oai(path = "/api/staff/me", method = "get", operation_id = "staff_me")]
    async fn me(
        &self,
        state: Data<&AppState>,
        tenant: Data<&Tenant>,
        principal: Data<&Principal>,
    ) -> ApiResult<Json<StaffView>> {
        let id = staff_id(&principal)?;
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        let row = store::staff(&conn, id).await?;
        conn.commit().await?;
        Ok(Json(StaffView::from(row)))
    }

    /// 修改密码 / Change my password (every session of mine ends).
    #[oai(
        path = "/api/staff/me/password",
        method = "post",
        operation_id = "staff_password_change"
    )]
    async fn change_password(
        &self,
        state: Data<&AppState>,
        tenant: Data<&Tenant>,
        principal: Data<&Principal>,
        ip: Data<&ClientIp>,
        body: Json<PasswordChange>,
    ) -> ApiResult<NoContent> {
        let id = staff_id(&principal)?;
        change_tenant_password(
            &state,
            &tenant,
            ip.0,
            AccountTable("staff"),
            &principal,
            id,
            &body,
        )
        .await?;
        Ok(NoContent::Done)
    }

    /// 工作人员列表 / Staff accounts of this street office.
    #[oai(path = "/api/staff", method = "get", operation_id = "staff_list")]
    async fn list(
        &self,
        state: Data<&AppState>,
        tenant: Data<&Tenant>,
        /// Page number, from 1.
        #[oai(validator(minimum(value = "1"), maximum(value = "1000000")))]
        page: Query<Option<i64>>,
        /// Items per page, 1–100 (default 20).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        page_size: Query<Option<i64>>,
    ) -> ApiResult<Json<StaffPage>> {
        let paging = Paging::new(page.0, page_size.0)?;
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        let (rows, total) = service::staff_page(&conn, &paging).await?;
        conn.commit().await?;
        Ok(Json(StaffPage::new(
            rows.into_iter().map(StaffView::from).collect(),
            total,
            paging,
        )))
    }

    /// 新建工作人员账号 / Create a staff account (its initial password is shown once).
    #[oai(path = "/api/staff", method = "post", operation_id = "staff_create")]
    async fn create(
        &self,
        state: Data<&AppState>,
        tenant: Data<&Tenant>,
        principal: Data<&Principal>,
        body: Json<StaffCreateRequest>,
    ) -> ApiResult<Created> {
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        let created = create_staff(&conn, &body).await?;
        audit::record(&conn, &principal, "staff", &created.staff.id.to_string()).await?;
        conn.commit().await?;
        Ok(Created::Created(Json(created)))
    }
}
