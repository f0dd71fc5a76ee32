//! One typed configuration, layered: defaults → optional TOML file → `ZMG_*` environment.

use std::{fmt, path::PathBuf};

use serde::Deserialize;

/// A secret value: usable, but never printed by `Debug`, so config dumps and logs stay clean.
#[derive(Clone, Default, Deserialize, PartialEq)]
#[serde(transparent)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() { "\"\"" } else { "\"***\"" })
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// PostgreSQL connection URL; the database is created when missing.
    pub database_url: String,
    pub database_pool_size: usize,
    pub listen: String,
    /// Tenants may be named by the first host label under this domain (e.g. `demo.zmg.example.cn`).
    pub base_domain: Option<String>,
    /// Reverse proxies (ingress) whose `X-Forwarded-For` is believed, by IP address.
    pub trusted_proxies: Vec<String>,
    /// Tenant used when a request names none (the demo sets `demo` so /docs works as is).
    pub default_tenant: Option<String>,
    /// Development mode: exposes the SMS outbox endpoint. Never enable in production.
    pub dev_mode: bool,
    /// `text` or `json`.
    pub log_format: String,
    pub storage_dir: PathBuf,
    pub s3: Option<S3Config>,
    pub upload_limit_bytes: usize,
    /// Lifetime of signed download URLs (S3 only).
    pub signed_url_seconds: u64,
    pub owner_token_hours: i64,
    pub staff_token_hours: i64,
    /// `serve` migrates the platform and every tenant before listening. Turn off where a
    /// migration job does it (the Helm chart), so pods start fast and need no DDL rights.
    pub migrate_on_start: bool,
    /// After SIGTERM, how long requests in flight may take to finish.
    pub shutdown_grace_seconds: u64,
    /// Longest a single SQL statement may run before PostgreSQL cancels it.
    pub statement_timeout_ms: u64,
    /// When set, `/metrics` answers only scrapers that present it as a bearer token.
    pub metrics_token: Option<Secret>,
    /// The secret street offices' ledger signing keys are derived from (see
    /// `voting::signing`). Required outside development mode.
    pub signing_secret: Option<Secret>,
    /// The current signing key's id; a new id rotates every street office's key.
    pub signing_key_id: String,
    /// How often open matters' ledgers are sealed by a Merkle checkpoint.
    pub ledger_checkpoint_seconds: u64,
    /// How often due work runs: matters and election rounds whose voting window has begun are
    /// opened (their roll frozen as it stood at the opening time).
    pub due_sweep_seconds: u64,
    pub sms: SmsConfig,
    pub face: FaceConfig,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct S3Config {
    pub endpoint: String,
    pub bucket: String,
    pub region: String,
    pub access_key: Secret,
    pub secret_key: Secret,
    #[serde(default = "yes")]
    pub path_style: bool,
}

/// A trusted proxy entry as a range: `10.42.0.0/16`, or a single address (a /32 or /128).
pub fn proxy_range(entry: &str) -> Option<ipnet::IpNet> {
    entry
        .parse::<ipnet::IpNet>()
        .or_else(|_| entry.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .ok()
}

/// The one rule for every boolean setting: `true`, `1`, `yes`, `on` or `false`, `0`, `no`,
/// `off`, in any case; anything else stops the start with the variable named, rather than
/// quietly meaning one or the other.
pub fn parse_bool(name: &str, value: &str) -> anyhow::Result<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => {
            anyhow::bail!("{name} must be true or false (also 1/0, yes/no, on/off), got {value:?}")
        }
    }
}

fn yes() -> bool {
    true
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SmsConfig {
    /// `outbox` (development: messages land in a table) or `tencent` (Tencent Cloud SMS).
    pub provider: String,
    /// Codes a phone receives per day across every street office (against SMS bombing)…
    pub daily_limit_per_phone: i64,
    /// …and from any one street office, so one office's users cannot use up another's.
    pub daily_limit_per_phone_per_tenant: i64,
    pub daily_limit_per_ip: i64,
    pub resend_after_seconds: i64,
    /// Text a paper voter who signed their ballot its receipt code when staff enter it.
    pub paper_receipts: bool,
    pub tencent: TencentSmsConfig,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TencentSmsConfig {
    pub endpoint: String,
    pub region: String,
    pub secret_id: Secret,
    pub secret_key: Secret,
    pub sdk_app_id: String,
    pub sign_name: String,
    pub template_id: String,
    /// The template of the paper-ballot receipt message (one parameter: the receipt code).
    pub receipt_template_id: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            database_url: "postgres://postgres@127.0.0.1:5432/zhimaguan".into(),
            database_pool_size: 16,
            listen: "127.0.0.1:8080".into(),
            base_domain: None,
            default_tenant: None,
            trusted_proxies: Vec::new(),
            dev_mode: false,
            log_format: "text".into(),
            storage_dir: PathBuf::from("./var/objects"),
            s3: None,
            upload_limit_bytes: 20 * 1024 * 1024,
            signed_url_seconds: 300,
            owner_token_hours: 24 * 7,
            staff_token_hours: 12,
            migrate_on_start: true,
            shutdown_grace_seconds: 25,
            statement_timeout_ms: 30_000,
            metrics_token: None,
            signing_secret: None,
            signing_key_id: "k1".into(),
            ledger_checkpoint_seconds: 60,
            due_sweep_seconds: 15,
            sms: SmsConfig::default(),
            face: FaceConfig::default(),
        }
    }
}

/// Face verification before election ballots where the election asks for it.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaceConfig {
    /// `dev` (development: passes unless the token ends in `-fail`; refused outside development
    /// mode) or `tencent`.
    pub provider: String,
    pub tencent: TencentFaceConfig,
}

impl Default for FaceConfig {
    fn default() -> Self {
        Self {
            provider: "dev".into(),
            tencent: Default::default(),
        }
    }
}

impl Default for SmsConfig {
    fn default() -> Self {
        Self {
            provider: "outbox".into(),
            daily_limit_per_phone: 10,
            daily_limit_per_phone_per_tenant: 5,
            daily_limit_per_ip: 50,
            resend_after_seconds: 60,
            paper_receipts: false,
            tencent: TencentSmsConfig::default(),
        }
    }
}

impl Default for TencentSmsConfig {
    fn default() -> Self {
        Self {
            endpoint: "https://sms.tencentcloudapi.com".into(),
            region: "ap-guangzhou".into(),
            secret_id: Secret::default(),
            secret_key: Secret::default(),
            sdk_app_id: String::new(),
            sign_name: String::new(),
            template_id: String::new(),
            receipt_template_id: String::new(),
        }
    }
}

impl Config {
    /// Defaults, then the file (if any), then the environment.
    pub fn load(file: Option<&std::path::Path>) -> anyhow::Result<Self> {
        let mut config = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    anyhow::anyhow!("cannot read config file {}: {e}", path.display())
                })?;
                toml::from_str(&text)
                    .map_err(|e| anyhow::anyhow!("config file {}: {e}", path.display()))?
            }
            None => Config::default(),
        };
        config.apply_env(|name| std::env::var(name).ok())?;
        Ok(config)
    }

    /// Environment overrides (booleans as [`parse_bool`] reads them); `lookup` is injectable so tests need not touch the process env.
    pub fn apply_env(&mut self, lookup: impl Fn(&str) -> Option<String>) -> anyhow::Result<()> {
        let parse_num = |name: &str, v: String| -> anyhow::Result<i64> {
            v.parse()
                .map_err(|_| anyhow::anyhow!("{name} must be a number, got {v:?}"))
        };
        if let Some(v) = lookup("ZMG_DATABASE_URL") {
            self.database_url = v;
        }
        if let Some(v) = lookup("ZMG_DATABASE_POOL_SIZE") {
            self.database_pool_size = parse_num("ZMG_DATABASE_POOL_SIZE", v)? as usize;
        }
        if let Some(v) = lookup("ZMG_LISTEN") {
            self.listen = v;
        }
        if let Some(v) = lookup("ZMG_BASE_DOMAIN") {
            self.base_domain = Some(v).filter(|s| !s.is_empty());
        }
        if let Some(v) = lookup("ZMG_TRUSTED_PROXIES") {
            self.trusted_proxies = v
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
        }
        if let Some(bad) = self
            .trusted_proxies
            .iter()
            .find(|entry| proxy_range(entry).is_none())
        {
            anyhow::bail!("ZMG_TRUSTED_PROXIES: {bad:?} is neither an IP address nor a CIDR range");
        }
        if let Some(v) = lookup("ZMG_DEFAULT_TENANT") {
            self.default_tenant = Some(v).filter(|s| !s.is_empty());
        }
        if let Some(v) = lookup("ZMG_DEV_MODE") {
            self.dev_mode = parse_bool("ZMG_DEV_MODE", &v)?;
        }
        if let Some(v) = lookup("ZMG_LOG_FORMAT") {
            self.log_format = v;
        }
        if let Some(v) = lookup("ZMG_MIGRATE_ON_START") {
            self.migrate_on_start = parse_bool("ZMG_MIGRATE_ON_START", &v)?;
        }
        if let Some(v) = lookup("ZMG_SHUTDOWN_GRACE_SECONDS") {
            self.shutdown_grace_seconds = parse_num("ZMG_SHUTDOWN_GRACE_SECONDS", v)?.max(0) as u64;
        }
        if let Some(v) = lookup("ZMG_STATEMENT_TIMEOUT_MS") {
            self.statement_timeout_ms = parse_num("ZMG_STATEMENT_TIMEOUT_MS", v)?.max(0) as u64;
        }
        if let Some(v) = lookup("ZMG_METRICS_TOKEN") {
            self.metrics_token = Some(Secret(v)).filter(|s| !s.0.is_empty());
        }
        if let Some(v) = lookup("ZMG_SIGNING_SECRET") {
            self.signing_secret = Some(Secret(v)).filter(|s| !s.0.is_empty());
        }
        if let Some(v) = lookup("ZMG_SIGNING_KEY_ID") {
            self.signing_key_id = v;
        }
        if let Some(v) = lookup("ZMG_LEDGER_CHECKPOINT_SECONDS") {
            self.ledger_checkpoint_seconds =
                parse_num("ZMG_LEDGER_CHECKPOINT_SECONDS", v)?.max(1) as u64;
        }
        if let Some(v) = lookup("ZMG_DUE_SWEEP_SECONDS") {
            self.due_sweep_seconds = parse_num("ZMG_DUE_SWEEP_SECONDS", v)?.max(1) as u64;
        }
        if let Some(v) = lookup("ZMG_STORAGE_DIR") {
            self.storage_dir = PathBuf::from(v);
        }
        if let Some(v) = lookup("ZMG_UPLOAD_LIMIT_BYTES") {
            self.upload_limit_bytes = parse_num("ZMG_UPLOAD_LIMIT_BYTES", v)? as usize;
        }
        if let Some(v) = lookup("ZMG_SMS_PROVIDER") {
            self.sms.provider = v;
        }
        if let Some(v) = lookup("ZMG_FACE_PROVIDER") {
            self.face.provider = v;
        }
        if let Some(v) = lookup("ZMG_TENCENT_FACE_ENDPOINT") {
            self.face.tencent.endpoint = v;
        }
        if let Some(v) = lookup("ZMG_TENCENT_FACE_REGION") {
            self.face.tencent.region = v;
        }
        if let Some(v) = lookup("ZMG_TENCENT_FACE_SECRET_ID") {
            self.face.tencent.secret_id = Secret(v);
        }
        if let Some(v) = lookup("ZMG_TENCENT_FACE_SECRET_KEY") {
            self.face.tencent.secret_key = Secret(v);
        }
        if let Some(v) = lookup("ZMG_TENCENT_FACE_RULE_ID") {
            self.face.tencent.rule_id = v;
        }
        if let Some(v) = lookup("ZMG_TENCENT_SMS_ENDPOINT") {
            self.sms.tencent.endpoint = v;
        }
        if let Some(v) = lookup("ZMG_TENCENT_SMS_SECRET_ID") {
            self.sms.tencent.secret_id = Secret(v);
        }
        if let Some(v) = lookup("ZMG_TENCENT_SMS_SECRET_KEY") {
            self.sms.tencent.secret_key = Secret(v);
        }
        if let Some(v) = lookup("ZMG_TENCENT_SMS_SDK_APP_ID") {
            self.sms.tencent.sdk_app_id = v;
        }
        if let Some(v) = lookup("ZMG_TENCENT_SMS_SIGN_NAME") {
            self.sms.tencent.sign_name = v;
        }
        if let Some(v) = lookup("ZMG_TENCENT_SMS_TEMPLATE_ID") {
            self.sms.tencent.template_id = v;
        }
        if let Some(v) = lookup("ZMG_TENCENT_SMS_RECEIPT_TEMPLATE_ID") {
            self.sms.tencent.receipt_template_id = v;
        }
        if let Some(v) = lookup("ZMG_SMS_PAPER_RECEIPTS") {
            self.sms.paper_receipts = parse_bool("ZMG_SMS_PAPER_RECEIPTS", &v)?;
        }
        if let Some(endpoint) = lookup("ZMG_S3_ENDPOINT") {
            let get = |name: &str| {
                lookup(name)
                    .ok_or_else(|| anyhow::anyhow!("ZMG_S3_ENDPOINT is set, so {name} is required"))
            };
            self.s3 = Some(S3Config {
                endpoint,
                bucket: get("ZMG_S3_BUCKET")?,
                region: lookup("ZMG_S3_REGION").unwrap_or_else(|| "us-east-1".into()),
                access_key: Secret(get("ZMG_S3_ACCESS_KEY")?),
                secret_key: Secret(get("ZMG_S3_SECRET_KEY")?),
                path_style: match lookup("ZMG_S3_PATH_STYLE") {
                    Some(v) => parse_bool("ZMG_S3_PATH_STYLE", &v)?,
                    None => true,
                },
            });
        }
        if !matches!(self.sms.provider.as_str(), "outbox" | "tencent") {
            anyhow::bail!(
                "ZMG_SMS_PROVIDER must be `outbox` or `tencent`, got {:?}",
                self.sms.provider
            );
        }
        if self.sms.paper_receipts
            && self.sms.provider == "tencent"
            && self.sms.tencent.receipt_template_id.is_empty()
        {
            anyhow::bail!(
                "ZMG_SMS_PAPER_RECEIPTS is on, so ZMG_TENCENT_SMS_RECEIPT_TEMPLATE_ID is required"
            );
        }
        Ok(())
    }
}

/// Tencent Cloud FaceID (see `elections::face`).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct TencentFaceConfig {
    pub endpoint: String,
    /// Sent as `X-TC-Region` when not empty (FaceID's actions do not need it).
    pub region: String,
    pub secret_id: Secret,
    pub secret_key: Secret,
    /// The 业务流程 (RuleId) configured in the FaceID console.
    pub rule_id: String,
}

impl Default for TencentFaceConfig {
    fn default() -> Self {
        Self {
            endpoint: "https://faceid.tencentcloudapi.com".into(),
            region: "ap-guangzhou".into(),
            secret_id: Secret::default(),
            secret_key: Secret::default(),
            rule_id: String::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_overrides_defaults_and_secrets_stay_hidden() {
        let mut c = Config::default();
        let env = [
            ("ZMG_LISTEN", "0.0.0.0:9000"),
            ("ZMG_S3_ENDPOINT", "http://127.0.0.1:9000"),
            ("ZMG_S3_BUCKET", "b"),
            ("ZMG_S3_ACCESS_KEY", "AKID"),
            ("ZMG_S3_SECRET_KEY", "very-secret"),
        ];
        c.apply_env(|k| {
            env.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        })
        .unwrap();
        assert_eq!(c.listen, "0.0.0.0:9000");
        let s3 = c.s3.as_ref().unwrap();
        assert_eq!(s3.region, "us-east-1");
        assert!(s3.path_style);
        let dump = format!("{c:?}");
        assert!(!dump.contains("very-secret"), "secret leaked: {dump}");
    }

    #[test]
    fn every_boolean_follows_one_rule_and_nonsense_is_refused() {
        let with = |pairs: &[(&str, &str)]| {
            let mut c = Config::default();
            let env: Vec<(String, String)> = [
                ("ZMG_S3_ENDPOINT", "http://x"),
                ("ZMG_S3_BUCKET", "b"),
                ("ZMG_S3_ACCESS_KEY", "a"),
                ("ZMG_S3_SECRET_KEY", "s"),
            ]
            .iter()
            .chain(pairs)
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
            c.apply_env(|k| {
                env.iter()
                    .rev()
                    .find(|(n, _)| n == k)
                    .map(|(_, v)| v.clone())
            })
            .map(|()| c)
        };
        let c = with(&[("ZMG_DEV_MODE", "TRUE"), ("ZMG_S3_PATH_STYLE", "0")]).unwrap();
        assert!(c.dev_mode, "TRUE is true");
        assert!(!c.s3.unwrap().path_style, "0 is false");
        let c = with(&[
            ("ZMG_MIGRATE_ON_START", " Off "),
            ("ZMG_SMS_PAPER_RECEIPTS", "no"),
        ])
        .unwrap();
        assert!(!c.migrate_on_start && !c.sms.paper_receipts);
        let err = with(&[("ZMG_DEV_MODE", "ture")]).unwrap_err();
        assert!(err.to_string().contains("ZMG_DEV_MODE"), "{err}");
    }

    #[test]
    fn a_trusted_proxy_that_is_no_address_or_range_stops_the_start() {
        let mut c = Config::default();
        let err = c
            .apply_env(|k| (k == "ZMG_TRUSTED_PROXIES").then(|| "10.0.0.0/8, 10.0.0/8".to_string()))
            .unwrap_err();
        assert!(err.to_string().contains("10.0.0/8"), "{err}");
        let mut c = Config::default();
        c.apply_env(|k| (k == "ZMG_TRUSTED_PROXIES").then(|| "10.0.0.0/8,fd00::1".to_string()))
            .unwrap();
        assert_eq!(c.trusted_proxies, ["10.0.0.0/8", "fd00::1"]);
    }

    #[test]
    fn s3_needs_all_its_settings() {
        let mut c = Config::default();
        let err = c
            .apply_env(|k| (k == "ZMG_S3_ENDPOINT").then(|| "http://x".to_string()))
            .unwrap_err();
        assert!(err.to_string().contains("ZMG_S3_BUCKET"));
    }

    #[test]
    fn file_layer_reads_toml() {
        let c: Config =
            toml::from_str("listen = \"127.0.0.1:1\"\n[sms]\nprovider = \"tencent\"\n").unwrap();
        assert_eq!(c.listen, "127.0.0.1:1");
        assert_eq!(c.sms.provider, "tencent");
        assert_eq!(c.upload_limit_bytes, 20 * 1024 * 1024);
    }

    #[test]
    fn the_face_config_has_defaults_rejects_unknown_fields_and_hides_secrets() {
        let cfg: TencentFaceConfig =
            toml::from_str("rule_id = \"7\"\nsecret_key = \"very-secret\"").unwrap();
        assert_eq!(cfg.endpoint, "https://faceid.tencentcloudapi.com");
        assert_eq!(cfg.region, "ap-guangzhou");
        assert_eq!(cfg.rule_id, "7");
        assert_eq!(cfg.secret_key, Secret("very-secret".into()));
        assert!(!format!("{cfg:?}").contains("very-secret"));
        assert!(toml::from_str::<TencentFaceConfig>("rule = \"7\"").is_err());
    }
}
