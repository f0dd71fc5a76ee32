//! Which street office does a request address? `X-Tenant: <slug>`, or the first host label under
//! the configured base domain. The slug is only a lookup key: the schema comes from the registry.

use crate::db::Pool;
use poem::Request;

use super::{find_by_slug, not_found, Tenant, TenantStatus};
use crate::{
    config::Config,
    error::{ApiError, ApiResult},
};

pub fn requested_slug(req: &Request, config: &Config) -> Option<String> {
    if let Some(v) = req.headers().get("x-tenant").and_then(|v| v.to_str().ok()) {
        return Some(v.trim().to_string());
    }
    let from_host = config.base_domain.as_deref().and_then(|base| {
        let host = req.headers().get("host").and_then(|v| v.to_str().ok())?;
        slug_from_host(host, base)
    });
    from_host.or_else(|| config.default_tenant.clone())
}

fn slug_from_host(host: &str, base: &str) -> Option<String> {
    let host = host.split(':').next()?.to_ascii_lowercase();
    let label = host
        .strip_suffix(&base.to_ascii_lowercase())?
        .strip_suffix('.')?;
    (!label.is_empty() && !label.contains('.')).then(|| label.to_string())
}

pub async fn resolve(pool: &Pool, req: &Request, config: &Config) -> ApiResult<Tenant> {
    let slug = requested_slug(req, config).ok_or_else(|| {
        ApiError::bad_request(
            "tenant.missing",
            "请求未指明所属街道（请设置 X-Tenant 请求头或使用街道子域名）",
            "No tenant named: send the X-Tenant header or use the tenant's subdomain",
        )
    })?;
    if !super::valid_slug(&slug) {
        return Err(not_found(&slug));
    }
    let tenant = find_by_slug(pool, &slug)
        .await?
        .ok_or_else(|| not_found(&slug))?;
    if tenant.status == TenantStatus::Suspended {
        return Err(ApiError::forbidden(
            "tenant.suspended",
            format!("街道“{}”已停用，暂不能使用，请联系平台管理员", tenant.name),
            format!("Tenant '{}' is suspended", tenant.slug),
        ));
    }
    Ok(tenant)
}

#[cfg(test)]
mod tests {
    use super::slug_from_host;

    #[test]
    fn host_subdomain_names_the_tenant() {
        assert_eq!(
            slug_from_host("demo.zmg.example.cn", "zmg.example.cn").as_deref(),
            Some("demo")
        );
        assert_eq!(
            slug_from_host("Demo.ZMG.example.cn:8080", "zmg.example.cn").as_deref(),
            Some("demo")
        );
        assert_eq!(slug_from_host("zmg.example.cn", "zmg.example.cn"), None);
        assert_eq!(slug_from_host("a.b.zmg.example.cn", "zmg.example.cn"), None);
        assert_eq!(slug_from_host("demo.other.cn", "zmg.example.cn"), None);
        assert_eq!(slug_from_host("evilzmg.example.cn", "zmg.example.cn"), None);
    }
}
