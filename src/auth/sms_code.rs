//! SMS verification codes: 6 digits, valid 5 minutes, single use, at most 5 wrong tries,
//! resend after 60 s, daily caps per phone (overall and per street office) and per client IP. Only a hash of the code is kept.

use diesel::{dsl::now, prelude::*, sql_query, sql_types as sql};
use rand::Rng;
use sha2::{Digest, Sha256};

use super::sms::SmsSender;
use crate::{
    config::SmsConfig,
    error::{ApiError, ApiResult},
    schema::tenant::sms_codes as codes,
    tenancy::conn::TenantConn,
};

/// What the sending limits need to know of recent sends (seconds, counts over a day).
#[derive(QueryableByName)]
struct RecentSends {
    #[diesel(sql_type = sql::Nullable<sql::Double>)]
    since_last: Option<f64>,
    #[diesel(sql_type = sql::BigInt)]
    phone_sends: i64,
    #[diesel(sql_type = sql::BigInt)]
    address_sends: i64,
    #[diesel(sql_type = sql::Nullable<sql::Double>)]
    phone_reset_in: Option<f64>,
    #[diesel(sql_type = sql::Nullable<sql::Double>)]
    address_reset_in: Option<f64>,
    #[diesel(sql_type = sql::BigInt)]
    tenant_phone_sends: i64,
    #[diesel(sql_type = sql::Nullable<sql::Double>)]
    tenant_phone_reset_in: Option<f64>,
}

const RECENT_SENDS: &str = "SELECT
    (SELECT extract(epoch FROM now() - max(created_at))::float8 FROM platform.sms_sends WHERE phone = $1 AND purpose = $3 AND subject = $4) AS since_last,
    (SELECT count(*) FROM platform.sms_sends WHERE phone = $1 AND created_at > now() - interval '1 day') AS phone_sends,
    (SELECT count(*) FROM platform.sms_sends WHERE client_ip = $2 AND created_at > now() - interval '1 day') AS address_sends,
    -- When the oldest send of each day window leaves it (the caps' retry time).
    (SELECT extract(epoch FROM min(created_at) + interval '1 day' - now())::float8 FROM platform.sms_sends WHERE phone = $1 AND created_at > now() - interval '1 day') AS phone_reset_in,
    (SELECT extract(epoch FROM min(created_at) + interval '1 day' - now())::float8 FROM platform.sms_sends WHERE client_ip = $2 AND created_at > now() - interval '1 day') AS address_reset_in,
    -- This street office's own sends to the phone (its schema is the search path).
    (SELECT count(*) FROM platform.sms_sends WHERE phone = $1 AND tenant = current_schema() AND created_at > now() - interval '1 day') AS tenant_phone_sends,
    (SELECT extract(epoch FROM min(created_at) + interval '1 day' - now())::float8 FROM platform.sms_sends
      WHERE phone = $1 AND tenant = current_schema() AND created_at > now() - interval '1 day') AS tenant_phone_reset_in";

/// A live code as stored.
#[derive(Queryable, Selectable)]
#[diesel(table_name = codes, check_for_backend(diesel::pg::Pg))]
struct LiveCode {
    id: i64,
    code_hash: Vec<u8>,
    attempts: i32,
}

pub const VALID_MINUTES: i64 = 5;
pub const MAX_WRONG_TRIES: i32 = 5;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmsPurpose {
    /// 注册
    Register,
    /// 验证码登录
    Login,
    /// 业主认证: sent to a unit's registered phone
    VerifyUnit,
}

impl SmsPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            SmsPurpose::Register => "register",
            SmsPurpose::Login => "login",
            SmsPurpose::VerifyUnit => "verify_unit",
        }
    }
}

fn code_hash(phone: &str, code: &str) -> Vec<u8> {
    Sha256::digest(format!("{phone}:{code}").as_bytes()).to_vec()
}

/// Issues a code after [`throttle`] lets it through.
pub async fn send(
    conn: &TenantConn,
    sender: &dyn SmsSender,
    limits: &SmsConfig,
    phone: &str,
    purpose: SmsPurpose,
    subject: &str,
    client_ip: &str,
) -> ApiResult<()> {
    throttle(conn, limits, phone, purpose, subject, client_ip).await?;
    let code = format!("{:06}", rand::thread_rng().gen_range(0..1_000_000));
    // Expiry on the database clock, like every other time comparison here.
    conn.execute(
        sql_query("INSERT INTO sms_codes (phone, purpose, subject, code_hash, client_ip, expires_at) VALUES ($1, $2, $3, $4, $5, now() + make_interval(mins => $6))")
            .bind::<sql::Text, _>(phone)
            .bind::<sql::Text, _>(purpose.as_str())
            .bind::<sql::Text, _>(subject)
            .bind::<sql::Bytea, _>(code_hash(phone, &code))
            .bind::<sql::Text, _>(client_ip)
            .bind::<sql::Integer, _>(VALID_MINUTES as i32),
    )
    .await?;
    sender.send_code(conn, phone, &code).await.map_err(|e| {
        tracing::warn!(error = %e, "sms provider failed");
        ApiError::unavailable(
            "sms.unavailable",
            "短信发送失败，请稍后重试",
            "SMS could not be sent, try again later",
        )
    })
}

/// Checks the resend interval (per phone, purpose and `subject`, e.g. the unit being verified)
/// and the daily caps (per phone, per address), and counts this request against them. Every
/// 429 says when to retry. A request answered without a message (a login code for a phone with
/// no account) passes here too, so its answers are the same as a registered phone's.
pub async fn throttle(
    conn: &TenantConn,
    limits: &SmsConfig,
    phone: &str,
    purpose: SmsPurpose,
    subject: &str,
    client_ip: &str,
) -> ApiResult<()> {
    // The limits count sends across every tenant (platform.sms_sends), one sender at a time
    // per phone and per address (always locked in this order), so parallel requests cannot
    // both slip under a limit.
    conn.execute(
        sql_query("SELECT pg_advisory_xact_lock(hashtext('sms-phone:' || $1))")
            .bind::<sql::Text, _>(phone),
    )
    .await?;
    conn.execute(
        sql_query("SELECT pg_advisory_xact_lock(hashtext('sms-ip:' || $1))")
            .bind::<sql::Text, _>(client_ip),
    )
    .await?;
    let row: RecentSends = conn
        .first(
            sql_query(RECENT_SENDS)
                .bind::<sql::Text, _>(phone)
                .bind::<sql::Text, _>(client_ip)
                .bind::<sql::Text, _>(purpose.as_str())
                .bind::<sql::Text, _>(subject),
        )
        .await?;
    if let Some(elapsed) = row.since_last {
        let wait = (limits.resend_after_seconds as f64 - elapsed).ceil() as i64;
        if wait > 0 {
            return Err(ApiError::too_many(
                "sms.too_soon",
                format!("验证码发送太频繁，请 {wait} 秒后再试"),
                format!("Please wait {wait} s before requesting another code"),
            )
            .retry_after(wait));
        }
    }
    if row.tenant_phone_sends >= limits.daily_limit_per_phone_per_tenant {
        return Err(ApiError::too_many(
            "sms.daily_limit_tenant",
            "该手机号今天在本街道获取验证码的次数已达上限，请明天再试",
            "Daily code limit reached for this phone in this street office",
        )
        .retry_after(row.tenant_phone_reset_in.unwrap_or(0.0).ceil() as i64));
    }
    if row.phone_sends >= limits.daily_limit_per_phone {
        return Err(ApiError::too_many(
            "sms.daily_limit_phone",
            "该手机号今天获取验证码的次数已达上限，请明天再试",
            "Daily code limit reached for this phone",
        )
        .retry_after(row.phone_reset_in.unwrap_or(0.0).ceil() as i64));
    }
    if row.address_sends >= limits.daily_limit_per_ip {
        return Err(ApiError::too_many(
            "sms.daily_limit_ip",
            "当前网络今天获取验证码的次数已达上限，请明天再试",
            "Daily code limit reached for this network",
        )
        .retry_after(row.address_reset_in.unwrap_or(0.0).ceil() as i64));
    }
    conn.execute(
        sql_query("INSERT INTO platform.sms_sends (phone, client_ip, purpose, subject, tenant) VALUES ($1, $2, $3, $4, current_schema())")
            .bind::<sql::Text, _>(phone)
            .bind::<sql::Text, _>(client_ip)
            .bind::<sql::Text, _>(purpose.as_str())
            .bind::<sql::Text, _>(subject),
    )
    .await?;
    Ok(())
}

fn wrong_code() -> ApiError {
    ApiError::field(
        "sms_code",
        "sms.code_invalid",
        "验证码错误或已失效，请重新获取",
        "The code is wrong or expired",
    )
}

/// Consumes the latest live code for (phone, purpose, subject): a code for one unit never
/// verifies another, and asking for a second unit's code leaves the first one's alive. The outer
/// result is a database failure;
/// the inner one the verdict, returned after the try counter was written so the caller can
/// commit it even when refusing.
pub async fn verify(
    conn: &TenantConn,
    phone: &str,
    purpose: SmsPurpose,
    subject: &str,
    code: &str,
) -> ApiResult<Result<(), ApiError>> {
    let row: Option<LiveCode> = conn
        .optional(
            codes::table
                .filter(codes::phone.eq(phone))
                .filter(codes::purpose.eq(purpose.as_str()))
                .filter(codes::subject.eq(subject))
                .filter(codes::used_at.is_null())
                .filter(codes::expires_at.gt(now))
                .order(codes::created_at.desc())
                .limit(1)
                .for_update()
                .select(LiveCode::as_select()),
        )
        .await?;
    let Some(row) = row else {
        return Ok(Err(wrong_code()));
    };
    if row.attempts >= MAX_WRONG_TRIES {
        return Ok(Err(ApiError::field(
            "sms_code",
            "sms.too_many_tries",
            "验证码输错次数过多，请重新获取",
            "Too many wrong tries, request a new code",
        )));
    }
    if row.code_hash != code_hash(phone, code.trim()) {
        conn.execute(
            diesel::update(codes::table.find(row.id)).set(codes::attempts.eq(codes::attempts + 1)),
        )
        .await?;
        return Ok(Err(wrong_code()));
    }
    conn.execute(diesel::update(codes::table.find(row.id)).set(codes::used_at.eq(now)))
        .await?;
    Ok(Ok(()))
}
