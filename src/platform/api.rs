//! Platform staff: log in, log out, change password.

use chrono::{Duration, Utc};
use poem::web::Data;
use poem_openapi::{payload::Json, OpenApi};

use crate::{
    auth::{
        login::{self, AccountTable},
        owner_api::{NoContent, PasswordChange},
        password,
        principal::{Principal, SessionToken},
        service, sessions,
        staff_api::StaffLoginRequest,
        ClientIp, TokenResponse,
    },
    error::{ApiError, ApiResult},
    state::AppState,
    tags::ApiTags,
};

/// Platform staff's accounts: their logins are throttled and checked like the tenants' own.
const TABLE: AccountTable = AccountTable("platform.staff");

#[derive(Default)]
pub struct PlatformAuthApi;

#[OpenApi(tag = "ApiTags::Platform")]
impl PlatformAuthApi {
    /// 平台人员登录 / Platform staff login.
    #[oai(
        path = "/api/platform/auth/login",
        method = "post",
        operation_id = "platform_login"
    )]
    async fn login(
        &self,
        state: Data<&AppState>,
        ip: Data<&ClientIp>,
        body: Json<StaffLoginRequest>,
    ) -> ApiResult<Json<TokenResponse>> {
        let origin = login::Origin {
            pool: &state.pool,
            scope: "platform",
            client_ip: &ip.0 .0,
        };
        let admitted = login::admit(&origin, TABLE, "username", &body.username).await?;
        let tx = crate::db::Conn::begin(&state.pool).await?;
        let id = admitted.check_password(&tx, body.password.clone()).await?;
        let token = sessions::issue_platform(&tx, id, state.config.staff_token_hours).await?;
        tx.commit().await?;
        Ok(Json(TokenResponse {
            token,
            expires_at: Utc::now() + Duration::hours(state.config.staff_token_hours),
        }))
    }

    /// 退出登录 / Log out.
    #[oai(
        path = "/api/platform/auth/logout",
        method = "post",
        operation_id = "platform_logout"
    )]
    async fn logout(
        &self,
        state: Data<&AppState>,
        principal: Data<&Principal>,
        token: Data<&SessionToken>,
    ) -> ApiResult<NoContent> {
        let tx = crate::db::Conn::begin(&state.pool).await?;
        sessions::revoke_platform_token(&tx, &token).await?;
        let (_, id) = principal.actor();
        crate::audit::record_platform(
            &tx,
            &principal,
            "platform_staff",
            &id.map(|id| id.to_string()).unwrap_or_default(),
        )
        .await?;
        tx.commit().await?;
        Ok(NoContent::Done)
    }

    /// 修改密码 / Change my password (every session of mine ends).
    #[oai(
        path = "/api/platform/me/password",
        method = "post",
        operation_id = "platform_password_change"
    )]
    async fn change_password(
        &self,
        state: Data<&AppState>,
        principal: Data<&Principal>,
        ip: Data<&ClientIp>,
        body: Json<PasswordChange>,
    ) -> ApiResult<NoContent> {
        let Principal::Platform { id } = *principal else {
            return Err(ApiError::forbidden(
                "authz.forbidden",
                "仅平台人员可以操作",
                "Platform staff only",
            ));
        };
        if let Some(issue) = password::strength_issue("new_password", &body.new_password) {
            return Err(ApiError::validation(vec![issue]));
        }
        let hash = password::hash(body.new_password.clone()).await?;
        let id_text = id.to_string();
        let origin = login::Origin {
            pool: &state.pool,
            scope: "platform",
            client_ip: &ip.0 .0,
        };
        let admitted = login::admit(&origin, TABLE, "id::text", &id_text).await?;
        let tx = crate::db::Conn::begin(&state.pool).await?;
        service::replace_password(&tx, &admitted, TABLE, *id, body.old_password.clone(), &hash)
            .await?;
        sessions::revoke_all_platform(&tx, *id).await?;
        // Every platform write is audited, in its own transaction (as staff password changes are).
        crate::audit::record_platform(&tx, &principal, "platform_staff", &id.to_string()).await?;
        tx.commit().await?;
        Ok(NoContent::Done)
    }
}
