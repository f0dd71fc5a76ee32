//! Owners (mini-program): register, log in by password or SMS code, profile, password.

use chrono::{Duration, Utc};
use poem::web::Data;
use poem_openapi::{payload::Json, ApiResponse, Object, OpenApi};
use uuid::Uuid;

use super::{
    login::{self, AccountTable},
    password, phone,
    principal::{Principal, SessionToken},
    required, service, sessions,
    sms_code::{self, SmsPurpose},
    store::{self, OwnerProfileRow},
    ClientIp, TokenResponse,
};
use crate::{
    error::{ApiError, ApiResult, FieldIssue},
    state::AppState,
    tags::ApiTags,
    tenancy::{conn::TenantConn, Tenant},
};

/// What an account code is for (unit verification codes have their own operation).
#[derive(Clone, Copy, Debug, PartialEq, Eq, poem_openapi::Enum)]
#[oai(rename_all = "snake_case")]
pub enum AccountCodePurpose {
    /// 注册
    Register,
    /// 验证码登录
    Login,
}

#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct SmsCodeRequest {
    /// 11-digit mainland mobile number.
    #[oai(validator(max_length = 20))]
    pub phone: String,
    pub purpose: AccountCodePurpose,
}

#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct RegisterRequest {
    /// 真实姓名: must match the housing roll when verifying a unit later.
    #[oai(validator(max_length = 50))]
    pub real_name: String,
    #[oai(validator(max_length = 20))]
    pub phone: String,
    #[oai(validator(max_length = 10))]
    pub sms_code: String,
    /// At least 8 characters with upper case, lower case and a digit.
    #[oai(validator(max_length = 128))]
    pub password: String,
    /// The user agreement (用户协议) must be accepted.
    pub accept_agreement: bool,
}

#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct OwnerLoginRequest {
    #[oai(validator(max_length = 20))]
    pub phone: String,
    /// Give either the password or an SMS code (purpose `login`).
    #[oai(validator(max_length = 128))]
    pub password: Option<String>,
    #[oai(validator(max_length = 10))]
    pub sms_code: Option<String>,
    pub accept_agreement: bool,
}

#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct OwnerProfile {
    pub id: Uuid,
    pub real_name: String,
    /// Masked (138****8888).
    pub phone: String,
    pub nickname: String,
    pub agreement_accepted_at: chrono::DateTime<Utc>,
}

#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct OwnerProfileUpdate {
    /// 昵称. The real name is a legal identity checked against the roll and is not editable here.
    #[oai(validator(max_length = 30))]
    pub nickname: String,
}

#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct PasswordChange {
    #[oai(validator(max_length = 128))]
    pub old_password: String,
    #[oai(validator(max_length = 128))]
    pub new_password: String,
}

#[derive(ApiResponse)]
pub enum Accepted {
    /// The code was sent (or, for an unknown phone asking to log in, silently not sent).
    #[oai(status = 202)]
    Accepted,
}

#[derive(ApiResponse)]
pub enum NoContent {
    #[oai(status = 204)]
    Done,
}

#[derive(ApiResponse)]
pub enum Registered {
    #[oai(status = 201)]
    Created(Json<TokenResponse>),
}

/// Refuses a registration or login that does not accept the user agreement, naming the field.
fn agreement_issue(accepted: bool) -> Option<FieldIssue> {
    (!accepted).then(|| {
        FieldIssue::new(
            "accept_agreement",
            "agreement.required",
            "请先阅读并同意用户协议",
            "Accept the user agreement first",
        )
    })
}

impl From<OwnerProfileRow> for OwnerProfile {
    /// The stored account as its owner sees it: the phone masked, like every phone shown.
    fn from(r: OwnerProfileRow) -> Self {
        OwnerProfile {
            id: r.id,
            real_name: r.real_name,
            phone: phone::mask(&r.phone),
            nickname: r.nickname,
            agreement_accepted_at: r.agreement_accepted_at,
        }
    }
}

/// The caller's owner id: these operations are an owner's own; anyone else is refused.
fn owner_id(principal: &Principal) -> ApiResult<Uuid> {
    match principal {
        Principal::Owner { id } => Ok(*id),
        _ => Err(ApiError::forbidden(
            "authz.forbidden",
            "仅业主可以操作",
            "Owners only",
        )),
    }
}

#[derive(Default)]
pub struct OwnerApi;

#[OpenApi(tag = "ApiTags::Owners")]
impl OwnerApi {
    /// 获取短信验证码 / Send an SMS code (6 digits, valid 5 minutes).
    #[oai(
        path = "/api/auth/sms-codes",
        method = "post",
        operation_id = "sms_code_send"
    )]
    async fn send_code(
        &self,
        state: Data<&AppState>,
        tenant: Data<&Tenant>,
        ip: Data<&ClientIp>,
        body: Json<SmsCodeRequest>,
    ) -> ApiResult<Accepted> {
        if let Some(issue) = phone::issue("phone", &body.phone) {
            return Err(ApiError::validation(vec![issue]));
        }
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        let registered = store::phone_registered(&conn, &body.phone).await?;
        // Answered alike whether or not the phone is registered (no one learns who has an
        // account): a registration code goes to a registered phone too, and the registration
        // itself says "already registered" once the code proves the phone is the caller's. A
        // login code for a phone with no account is sent nowhere, but counts against the same
        // limits, so a quick second request gets the same 429 either way.
        let purpose = match body.purpose {
            AccountCodePurpose::Login if !registered => {
                let ip = &ip.0 .0;
                let purpose = SmsPurpose::Login;
                sms_code::throttle(&conn, &state.config.sms, &body.phone, purpose, "", ip).await?;
                conn.commit().await?;
                return Ok(Accepted::Accepted);
            }
            AccountCodePurpose::Register => SmsPurpose::Register,
            AccountCodePurpose::Login => SmsPurpose::Login,
        };
        sms_code::send(
            &conn,
            state.sms.as_ref(),
            &state.config.sms,
            &body.phone,
            purpose,
            "",
            &ip.0 .0,
        )
        .await?;
        conn.commit().await?;
        Ok(Accepted::Accepted)
    }

    /// 业主注册 / Register as an owner.
    #[oai(
        path = "/api/owners/register",
        method = "post",
        operation_id = "owner_register"
    )]
    async fn register(
        &self,
        state: Data<&AppState>,
        tenant: Data<&Tenant>,
        body: Json<RegisterRequest>,
    ) -> ApiResult<Registered> {
        let mut issues = Vec::new();
        required(&mut issues, "real_name", &body.real_name);
        issues.extend(phone::issue("phone", &body.phone));
        required(&mut issues, "sms_code", &body.sms_code);
        issues.extend(password::strength_issue("password", &body.password));
        issues.extend(agreement_issue(body.accept_agreement));
        if !issues.is_empty() {
            return Err(ApiError::validation(issues));
        }
        // The code first: nobody without one makes the service hash a password. A refused code's
        // try is committed; an accepted one is used only if the account is created, so a 503
        // from a busy hasher leaves the code for the retry (valid codes are rate-limited, so few
        // transactions wait here).
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        if let Err(refusal) =
            sms_code::verify(&conn, &body.phone, SmsPurpose::Register, "", &body.sms_code).await?
        {
            conn.commit().await?;
            return Err(refusal);
        }
        let id = service::register_owner(
            &conn,
            body.real_name.trim(),
            &body.phone,
            body.password.clone(),
        )
        .await?;
        let token =
            sessions::issue_tenant(&conn, &tenant, "owner", id, state.config.owner_token_hours)
                .await?;
        conn.commit().await?;
        Ok(Registered::Created(Json(TokenResponse {
            token,
            expires_at: Utc::now() + Duration::hours(state.config.owner_token_hours),
        })))
    }

    /// 业主登录 / Owner login by password or SMS code.
    #[oai(
        path = "/api/auth/owner/login",
        method = "post",
        operation_id = "owner_login"
    )]
    async fn login(
        &self,
        state: Data<&AppState>,
        tenant: Data<&Tenant>,
        ip: Data<&ClientIp>,
        body: Json<OwnerLoginRequest>,
    ) -> ApiResult<Json<TokenResponse>> {
        let mut issues: Vec<FieldIssue> = phone::issue("phone", &body.phone).into_iter().collect();
        issues.extend(agreement_issue(body.accept_agreement));
        if body.password.as_deref().unwrap_or("").is_empty()
            && body.sms_code.as_deref().unwrap_or("").is_empty()
        {
            issues.push(FieldIssue::new(
                "password",
                "required",
                "请输入密码或短信验证码",
                "Give a password or an SMS code",
            ));
        }
        if !issues.is_empty() {
            return Err(ApiError::validation(issues));
        }
        let origin = login::Origin {
            pool: &state.pool,
            scope: &tenant.schema,
            client_ip: &ip.0 .0,
        };
        let password_login = match &body.password {
            Some(pw) if !pw.is_empty() => Some((
                login::admit(&origin, AccountTable("owners"), "phone", &body.phone).await?,
                pw.clone(),
            )),
            _ => None,
        };
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        let id = match (password_login, &body.sms_code) {
            (Some((admitted, pw)), _) => admitted.check_password(&conn, pw).await?,
            // The SMS code is the owner's way in whatever strangers do to the password: it has
            // its own attempt limit and is not throttled by failed passwords.
            (_, Some(code)) => {
                if let Err(refusal) =
                    sms_code::verify(&conn, &body.phone, SmsPurpose::Login, "", code).await?
                {
                    // The failed attempt is counted against the code.
                    conn.commit().await?;
                    return Err(refusal);
                }
                store::owner_by_phone(&conn, &body.phone)
                    .await?
                    .ok_or_else(login::invalid_credentials)?
            }
            _ => unreachable!("checked above"),
        };
        store::accept_agreement(&conn, id).await?;
        let token =
            sessions::issue_tenant(&conn, &tenant, "owner", id, state.config.owner_token_hours)
                .await?;
        conn.commit().await?;
        Ok(Json(TokenResponse {
            token,
            expires_at: Utc::now() + Duration::hours(state.config.owner_token_hours),
        }))
    }

    /// 退出登录 / Log out (revokes this token; owners and staff).
    #[oai(
        path = "/api/auth/logout",
        method = "post",
        operation_id = "auth_logout"
    )]
    async fn logout(
        &self,
        state: Data<&AppState>,
        tenant: Data<&Tenant>,
        principal: Data<&Principal>,
        token: Data<&SessionToken>,
    ) -> ApiResult<NoContent> {
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        sessions::revoke_tenant_token(&conn, &token).await?;
        // Staff actions are audited, their sessions' ends included; owners' are not staff acts.
        if let Principal::Staff { id, .. } = *principal {
            crate::audit::record(&conn, &principal, "staff", &id.to_string()).await?;
        }
        conn.commit().await?;
        Ok(NoContent::Done)
    }

    /// 个人资料 / My profile.
    #[oai(path = "/api/me", method = "get", operation_id = "owner_profile_get")]
    async fn me(
        &self,
        state: Data<&AppState>,
        tenant: Data<&Tenant>,
        principal: Data<&Principal>,
    ) -> ApiResult<Json<OwnerProfile>> {
        let id = owner_id(&principal)?;
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        let p = store::owner_profile(&conn, id).await?;
        conn.commit().await?;
        Ok(Json(OwnerProfile::from(p)))
    }

    /// 修改个人资料 / Edit my profile.
    #[oai(
        path = "/api/me",
        method = "patch",
        operation_id = "owner_profile_update"
    )]
    async fn update_me(
        &self,
        state: Data<&AppState>,
        tenant: Data<&Tenant>,
        principal: Data<&Principal>,
        body: Json<OwnerProfileUpdate>,
    ) -> ApiResult<Json<OwnerProfile>> {
        let id = owner_id(&principal)?;
        if body.nickname.chars().count() > 30 {
            return Err(ApiError::field(
                "nickname",
                "nickname.too_long",
                "昵称不能超过 30 个字",
                "Nickname is at most 30 characters",
            ));
        }
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        store::set_nickname(&conn, id, body.nickname.trim()).await?;
        let p = store::owner_profile(&conn, id).await?;
        conn.commit().await?;
        Ok(Json(OwnerProfile::from(p)))
    }

    /// 修改密码 / Change my password (every session of mine ends).
    #[oai(
        path = "/api/me/password",
        method = "post",
        operation_id = "owner_password_change"
    )]
    async fn change_password(
        &self,
        state: Data<&AppState>,
        tenant: Data<&Tenant>,
        principal: Data<&Principal>,
        ip: Data<&ClientIp>,
        body: Json<PasswordChange>,
    ) -> ApiResult<NoContent> {
        let id = owner_id(&principal)?;
        change_tenant_password(
            &state,
            &tenant,
            ip.0,
            AccountTable("owners"),
            &principal,
            id,
            &body,
        )
        .await?;
        Ok(NoContent::Done)
    }
}

/// Shared by owners and staff: check the old password, store the new one, revoke every token.
/// Staff changes are audited (every staff write is).
pub async fn change_tenant_password(
    state: &AppState,
    tenant: &Tenant,
    ip: &ClientIp,
    table: AccountTable,
    principal: &Principal,
    id: Uuid,
    body: &PasswordChange,
) -> ApiResult<()> {
    let (kind, _) = principal.actor();
    if let Some(issue) = password::strength_issue("new_password", &body.new_password) {
        return Err(ApiError::validation(vec![issue]));
    }
    let hash = password::hash(body.new_password.clone()).await?;
    let id_text = id.to_string();
    let origin = login::Origin {
        pool: &state.pool,
        scope: &tenant.schema,
        client_ip: &ip.0,
    };
    let admitted = login::admit(&origin, table, "id::text", &id_text).await?;
    let conn = TenantConn::begin(&state.pool, tenant).await?;
    service::replace_password(
        &conn,
        &admitted,
        table,
        id,
        body.old_password.clone(),
        &hash,
    )
    .await?;
    sessions::revoke_all_tenant(&conn, kind, id).await?;
    if matches!(principal, Principal::Staff { .. }) {
        crate::audit::record(&conn, principal, "staff", &id.to_string()).await?;
    }
    conn.commit().await?;
    Ok(())
}
