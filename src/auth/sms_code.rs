//! SMS verification codes: 6 digits, valid 5 minutes, single use, at most 5 wrong tries,
//! resend after 60 s, daily caps per phone (overall and per street office) and per client IP. Only a hash of the code is kept.

use rand::Rng;
use sha2::{Digest, Sha256};

use super::sms::SmsSender;
use crate::{
    config::SmsConfig,
    error::{ApiError, ApiResult},
    tenancy::conn::TenantConn,
};

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

/// Issues a code after checking the resend interval (per phone, purpose and `subject`, e.g. the
/// unit being verified) and the daily caps (per phone, per address). Every 429 says when to
/// retry.
pub async fn send(
    conn: &TenantConn,
    sender: &dyn SmsSender,
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
        "SELECT pg_advisory_xact_lock(hashtext('sms-phone:' || $1))",
        &[&phone],
    )
    .await?;
    conn.execute(
        "SELECT pg_advisory_xact_lock(hashtext('sms-ip:' || $1))",
        &[&client_ip],
    )
    .await?;
    let row = conn
        .query_one(
            "SELECT
                (SELECT extract(epoch FROM now() - max(created_at))::float8 FROM platform.sms_sends WHERE phone = $1 AND purpose = $3 AND subject = $4),
                (SELECT count(*) FROM platform.sms_sends WHERE phone = $1 AND created_at > now() - interval '1 day'),
                (SELECT count(*) FROM platform.sms_sends WHERE client_ip = $2 AND created_at > now() - interval '1 day'),
                -- When the oldest send of each day window leaves it (the caps' retry time).
                (SELECT extract(epoch FROM min(created_at) + interval '1 day' - now())::float8 FROM platform.sms_sends WHERE phone = $1 AND created_at > now() - interval '1 day'),
                (SELECT extract(epoch FROM min(created_at) + interval '1 day' - now())::float8 FROM platform.sms_sends WHERE client_ip = $2 AND created_at > now() - interval '1 day'),
                -- This street office's own sends to the phone (its schema is the search path).
                (SELECT count(*) FROM platform.sms_sends WHERE phone = $1 AND tenant = current_schema() AND created_at > now() - interval '1 day'),
                (SELECT extract(epoch FROM min(created_at) + interval '1 day' - now())::float8 FROM platform.sms_sends
                  WHERE phone = $1 AND tenant = current_schema() AND created_at > now() - interval '1 day')",
            &[&phone, &client_ip, &purpose.as_str(), &subject],
        )
        .await?;
    if let Some(elapsed) = row.get::<_, Option<f64>>(0) {
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
    if row.get::<_, i64>(5) >= limits.daily_limit_per_phone_per_tenant {
        return Err(ApiError::too_many(
            "sms.daily_limit_tenant",
            "该手机号今天在本街道获取验证码的次数已达上限，请明天再试",
            "Daily code limit reached for this phone in this street office",
        )
        .retry_after(row.get::<_, Option<f64>>(6).unwrap_or(0.0).ceil() as i64));
    }
    if row.get::<_, i64>(1) >= limits.daily_limit_per_phone {
        return Err(ApiError::too_many(
            "sms.daily_limit_phone",
            "该手机号今天获取验证码的次数已达上限，请明天再试",
            "Daily code limit reached for this phone",
        )
        .retry_after(row.get::<_, Option<f64>>(3).unwrap_or(0.0).ceil() as i64));
    }
    if row.get::<_, i64>(2) >= limits.daily_limit_per_ip {
        return Err(ApiError::too_many(
            "sms.daily_limit_ip",
            "当前网络今天获取验证码的次数已达上限，请明天再试",
            "Daily code limit reached for this network",
        )
        .retry_after(row.get::<_, Option<f64>>(4).unwrap_or(0.0).ceil() as i64));
    }
    conn.execute(
        "INSERT INTO platform.sms_sends (phone, client_ip, purpose, subject, tenant) VALUES ($1, $2, $3, $4, current_schema())",
        &[&phone, &client_ip, &purpose.as_str(), &subject],
    )
    .await?;
    let code = format!("{:06}", rand::thread_rng().gen_range(0..1_000_000));
    // Expiry on the database clock, like every other time comparison here.
    conn.execute(
        "INSERT INTO sms_codes (phone, purpose, subject, code_hash, client_ip, expires_at) VALUES ($1, $2, $3, $4, $5, now() + make_interval(mins => $6))",
        &[&phone, &purpose.as_str(), &subject, &code_hash(phone, &code), &client_ip, &(VALID_MINUTES as i32)],
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
    let row = conn
        .query_opt(
            "SELECT id, code_hash, attempts FROM sms_codes
              WHERE phone = $1 AND purpose = $2 AND subject = $3 AND used_at IS NULL AND expires_at > now()
              ORDER BY created_at DESC LIMIT 1 FOR UPDATE",
            &[&phone, &purpose.as_str(), &subject],
        )
        .await?;
    let Some(row) = row else {
        return Ok(Err(wrong_code()));
    };
    let id: i64 = row.get(0);
    if row.get::<_, i32>(2) >= MAX_WRONG_TRIES {
        return Ok(Err(ApiError::field(
            "sms_code",
            "sms.too_many_tries",
            "验证码输错次数过多，请重新获取",
            "Too many wrong tries, request a new code",
        )));
    }
    let expected: Vec<u8> = row.get(1);
    if expected != code_hash(phone, code.trim()) {
        conn.execute(
            "UPDATE sms_codes SET attempts = attempts + 1 WHERE id = $1",
            &[&id],
        )
        .await?;
        return Ok(Err(wrong_code()));
    }
    conn.execute("UPDATE sms_codes SET used_at = now() WHERE id = $1", &[&id])
        .await?;
    Ok(Ok(()))
}
