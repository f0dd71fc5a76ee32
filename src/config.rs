//! One typed configuration, layered by figment: defaults → optional TOML file → `ZMG_*`
//! environment. Each environment variable is named in [`ENVIRONMENT`] with the setting it
//! sets; anything else starting with `ZMG_` is not configuration and is left alone.

use std::path::PathBuf;

use secrecy::ExposeSecret;

use figment::{
    providers::{Format, Serialized, Toml},
    Figment, Source,
};
use serde::{Deserialize, Deserializer};

/// A secret value (secrecy): read with `expose_secret`, never printed by `Debug`, so config
/// dumps and logs stay clean.
pub use secrecy::SecretString as Secret;

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// PostgreSQL connection URL; the database is created when missing.
    pub database_url: String,
    #[serde(deserialize_with = "number")]
    pub database_pool_size: usize,
    pub listen: String,
    /// Tenants may be named by the first host label under this domain (e.g. `demo.zmg.example.cn`).
    pub base_domain: Option<String>,
    /// Reverse proxies (ingress) whose `X-Forwarded-For` is believed, by IP address or range;
    /// a list in the file, comma-separated in the environment.
    #[serde(deserialize_with = "list")]
    pub trusted_proxies: Vec<String>,
    /// Tenant used when a request names none (the demo sets `demo` so /docs works as is).
    pub default_tenant: Option<String>,
    /// Development mode: exposes the SMS outbox endpoint. Never enable in production.
    #[serde(deserialize_with = "boolean")]
    pub dev_mode: bool,
    /// `text` or `json`.
    pub log_format: String,
    pub storage_dir: PathBuf,
    pub s3: Option<S3Config>,
    #[serde(deserialize_with = "number")]
    pub upload_limit_bytes: usize,
    /// Lifetime of signed download URLs (S3 only).
    #[serde(deserialize_with = "number")]
    pub signed_url_seconds: u64,
    #[serde(deserialize_with = "number")]
    pub owner_token_hours: i64,
    #[serde(deserialize_with = "number")]
    pub staff_token_hours: i64,
    /// `serve` migrates the platform and every tenant before listening. Turn off where a
    /// migration job does it (the Helm chart), so pods start fast and need no DDL rights.
    #[serde(deserialize_with = "boolean")]
    pub migrate_on_start: bool,
    /// After SIGTERM, how long requests in flight may take to finish.
    #[serde(deserialize_with = "number")]
    pub shutdown_grace_seconds: u64,
    /// Longest a single SQL statement may run before PostgreSQL cancels it.
    #[serde(deserialize_with = "number")]
    pub statement_timeout_ms: u64,
    /// When set, `/metrics` answers only scrapers that present it as a bearer token.
    pub metrics_token: Option<Secret>,
    /// The secret street offices' ledger signing keys are derived from (see
    /// `voting::signing`). Required outside development mode.
    pub signing_secret: Option<Secret>,
    /// The current signing key's id; a new id rotates every street office's key.
    pub signing_key_id: String,
    /// How often open matters' ledgers are sealed by a Merkle checkpoint.
    #[serde(deserialize_with = "number")]
    pub ledger_checkpoint_seconds: u64,
    /// How often due work runs: matters and election rounds whose voting window has begun are
    /// opened (their roll frozen as it stood at the opening time).
    #[serde(deserialize_with = "number")]
    pub due_sweep_seconds: u64,
    pub sms: SmsConfig,
    pub face: FaceConfig,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Config {
    pub endpoint: String,
    pub bucket: String,
    #[serde(default = "us_east_1")]
    pub region: String,
    pub access_key: Secret,
    pub secret_key: Secret,
    #[serde(default = "yes", deserialize_with = "boolean")]
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
/// `off`, in any case; anything else stops the start with the setting named (see
/// [`explain`]), rather than quietly meaning one or the other.
fn bool_word(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

fn yes() -> bool {
    true
}

fn us_east_1() -> String {
    "us-east-1".into()
}

/// A boolean by [`bool_word`]'s rule: from the file as `true`, `1` or `"on"`, from the
/// environment as its text (`TRUE`, `0`, `off`…).
fn boolean<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Written {
        Bool(bool),
        Number(i64),
        Text(String),
    }
    let text = match Written::deserialize(deserializer)? {
        Written::Bool(b) => return Ok(b),
        Written::Number(n) => n.to_string(),
        Written::Text(t) => t,
    };
    bool_word(&text).ok_or_else(|| {
        serde::de::Error::custom(format!(
            "must be true or false (also 1/0, yes/no, on/off), got {text:?}"
        ))
    })
}

/// A whole number from the file, or its text from the environment.
fn number<'de, D, N>(deserializer: D) -> Result<N, D::Error>
where
    D: Deserializer<'de>,
    N: Deserialize<'de> + std::str::FromStr,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Written<N> {
        Number(N),
        Text(String),
    }
    match Written::<N>::deserialize(deserializer)? {
        Written::Number(n) => Ok(n),
        Written::Text(text) => text.trim().parse().map_err(|_| {
            serde::de::Error::custom(format!("must be a whole number in range, got {text:?}"))
        }),
    }
}

/// A list from the file, or comma-separated text from the environment.
fn list<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Written {
        List(Vec<String>),
        Text(String),
    }
    let items = match Written::deserialize(deserializer)? {
        Written::List(items) => items,
        Written::Text(text) => text.split(',').map(str::to_owned).collect(),
    };
    Ok(items
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect())
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SmsConfig {
    /// `outbox` (development: messages land in a table) or `tencent` (Tencent Cloud SMS).
    pub provider: String,
    /// Codes a phone receives per day across every street office (against SMS bombing)…
    #[serde(deserialize_with = "number")]
    pub daily_limit_per_phone: i64,
    /// …and from any one street office, so one office's users cannot use up another's.
    #[serde(deserialize_with = "number")]
    pub daily_limit_per_phone_per_tenant: i64,
    #[serde(deserialize_with = "number")]
    pub daily_limit_per_ip: i64,
    #[serde(deserialize_with = "number")]
    pub resend_after_seconds: i64,
    /// Text a paper voter who signed their ballot its receipt code when staff enter it.
    #[serde(deserialize_with = "boolean")]
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

/// Every environment variable the service reads, and the setting (its path in the TOML file)
/// it sets. The names predate the file layout, so they are listed rather than derived.
pub const ENVIRONMENT: &[(&str, &str)] = &[
    ("ZMG_DATABASE_URL", "database_url"),
    ("ZMG_DATABASE_POOL_SIZE", "database_pool_size"),
    ("ZMG_LISTEN", "listen"),
    ("ZMG_BASE_DOMAIN", "base_domain"),
    ("ZMG_TRUSTED_PROXIES", "trusted_proxies"),
    ("ZMG_DEFAULT_TENANT", "default_tenant"),
    ("ZMG_DEV_MODE", "dev_mode"),
    ("ZMG_LOG_FORMAT", "log_format"),
    ("ZMG_STORAGE_DIR", "storage_dir"),
    ("ZMG_UPLOAD_LIMIT_BYTES", "upload_limit_bytes"),
    ("ZMG_SIGNED_URL_SECONDS", "signed_url_seconds"),
    ("ZMG_OWNER_TOKEN_HOURS", "owner_token_hours"),
    ("ZMG_STAFF_TOKEN_HOURS", "staff_token_hours"),
    ("ZMG_MIGRATE_ON_START", "migrate_on_start"),
    ("ZMG_SHUTDOWN_GRACE_SECONDS", "shutdown_grace_seconds"),
    ("ZMG_STATEMENT_TIMEOUT_MS", "statement_timeout_ms"),
    ("ZMG_METRICS_TOKEN", "metrics_token"),
    ("ZMG_SIGNING_SECRET", "signing_secret"),
    ("ZMG_SIGNING_KEY_ID", "signing_key_id"),
    ("ZMG_LEDGER_CHECKPOINT_SECONDS", "ledger_checkpoint_seconds"),
    ("ZMG_DUE_SWEEP_SECONDS", "due_sweep_seconds"),
    ("ZMG_S3_ENDPOINT", "s3.endpoint"),
    ("ZMG_S3_BUCKET", "s3.bucket"),
    ("ZMG_S3_REGION", "s3.region"),
    ("ZMG_S3_ACCESS_KEY", "s3.access_key"),
    ("ZMG_S3_SECRET_KEY", "s3.secret_key"),
    ("ZMG_S3_PATH_STYLE", "s3.path_style"),
    ("ZMG_SMS_PROVIDER", "sms.provider"),
    ("ZMG_SMS_PAPER_RECEIPTS", "sms.paper_receipts"),
    ("ZMG_SMS_DAILY_LIMIT_PER_PHONE", "sms.daily_limit_per_phone"),
    (
        "ZMG_SMS_DAILY_LIMIT_PER_PHONE_PER_TENANT",
        "sms.daily_limit_per_phone_per_tenant",
    ),
    ("ZMG_SMS_DAILY_LIMIT_PER_IP", "sms.daily_limit_per_ip"),
    ("ZMG_SMS_RESEND_AFTER_SECONDS", "sms.resend_after_seconds"),
    ("ZMG_TENCENT_SMS_ENDPOINT", "sms.tencent.endpoint"),
    ("ZMG_TENCENT_SMS_REGION", "sms.tencent.region"),
    ("ZMG_TENCENT_SMS_SECRET_ID", "sms.tencent.secret_id"),
    ("ZMG_TENCENT_SMS_SECRET_KEY", "sms.tencent.secret_key"),
    ("ZMG_TENCENT_SMS_SDK_APP_ID", "sms.tencent.sdk_app_id"),
    ("ZMG_TENCENT_SMS_SIGN_NAME", "sms.tencent.sign_name"),
    ("ZMG_TENCENT_SMS_TEMPLATE_ID", "sms.tencent.template_id"),
    (
        "ZMG_TENCENT_SMS_RECEIPT_TEMPLATE_ID",
        "sms.tencent.receipt_template_id",
    ),
    ("ZMG_FACE_PROVIDER", "face.provider"),
    ("ZMG_TENCENT_FACE_ENDPOINT", "face.tencent.endpoint"),
    ("ZMG_TENCENT_FACE_REGION", "face.tencent.region"),
    ("ZMG_TENCENT_FACE_SECRET_ID", "face.tencent.secret_id"),
    ("ZMG_TENCENT_FACE_SECRET_KEY", "face.tencent.secret_key"),
    ("ZMG_TENCENT_FACE_RULE_ID", "face.tencent.rule_id"),
];

impl Config {
    /// Defaults, then the file (if any), then the environment; then checked as a whole.
    pub fn load(file: Option<&std::path::Path>) -> anyhow::Result<Self> {
        let mut layers = Figment::new();
        if let Some(path) = file {
            anyhow::ensure!(path.is_file(), "cannot read config file {}", path.display());
            layers = layers.merge(Toml::file_exact(path));
        }
        // Each variable's text as it is: figment's own Env provider would read "1400000000"
        // as a number and `"x"` without its quotes, which text settings (an SMS app id, a
        // secret) must not suffer. Numbers and booleans read text themselves (see `number`).
        for (variable, setting) in ENVIRONMENT {
            if let Ok(value) = std::env::var(variable) {
                layers = layers.merge(Serialized::default(setting, value));
            }
        }
        let mut config: Config = layers
            .extract()
            .map_err(|errors| anyhow::anyhow!(explain(errors)))?;
        config.settle()?;
        Ok(config)
    }

    /// Empty texts mean unset, and the settings that only make sense together are checked.
    fn settle(&mut self) -> anyhow::Result<()> {
        let unset_if_empty = |value: &mut Option<String>| {
            if value.as_deref().is_some_and(str::is_empty) {
                *value = None;
            }
        };
        unset_if_empty(&mut self.base_domain);
        unset_if_empty(&mut self.default_tenant);
        for secret in [&mut self.metrics_token, &mut self.signing_secret] {
            if secret
                .as_ref()
                .is_some_and(|s| s.expose_secret().is_empty())
            {
                *secret = None;
            }
        }
        if let Some(bad) = self
            .trusted_proxies
            .iter()
            .find(|entry| proxy_range(entry).is_none())
        {
            anyhow::bail!("ZMG_TRUSTED_PROXIES: {bad:?} is neither an IP address nor a CIDR range");
        }
        // Compared as i64; a u64 past its range is large, not negative.
        let wide = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        let at_least_one = [
            (
                "ZMG_DATABASE_POOL_SIZE",
                wide(self.database_pool_size as u64),
            ),
            ("ZMG_SIGNED_URL_SECONDS", wide(self.signed_url_seconds)),
            ("ZMG_OWNER_TOKEN_HOURS", self.owner_token_hours),
            ("ZMG_STAFF_TOKEN_HOURS", self.staff_token_hours),
            (
                "ZMG_LEDGER_CHECKPOINT_SECONDS",
                wide(self.ledger_checkpoint_seconds),
            ),
            ("ZMG_DUE_SWEEP_SECONDS", wide(self.due_sweep_seconds)),
            (
                "ZMG_SMS_DAILY_LIMIT_PER_PHONE",
                self.sms.daily_limit_per_phone,
            ),
            (
                "ZMG_SMS_DAILY_LIMIT_PER_PHONE_PER_TENANT",
                self.sms.daily_limit_per_phone_per_tenant,
            ),
            ("ZMG_SMS_DAILY_LIMIT_PER_IP", self.sms.daily_limit_per_ip),
        ];
        if let Some((variable, value)) = at_least_one.iter().find(|(_, v)| *v < 1) {
            anyhow::bail!("{variable} must be at least 1, got {value}");
        }
        anyhow::ensure!(
            self.sms.resend_after_seconds >= 0,
            "ZMG_SMS_RESEND_AFTER_SECONDS must not be negative"
        );
        anyhow::ensure!(
            matches!(self.log_format.as_str(), "text" | "json"),
            "ZMG_LOG_FORMAT must be `text` or `json`, got {:?}",
            self.log_format
        );
        anyhow::ensure!(
            matches!(self.face.provider.as_str(), "dev" | "tencent"),
            "ZMG_FACE_PROVIDER must be `dev` or `tencent`, got {:?}",
            self.face.provider
        );
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

/// figment's errors, each naming the setting, the environment variable that sets it, and
/// where the bad value came from.
fn explain(errors: figment::Error) -> String {
    errors
        .into_iter()
        .map(|error| {
            let mut path = error.path.clone();
            if let figment::error::Kind::MissingField(field) = &error.kind {
                path.push(field.to_string());
            }
            let setting = path.join(".");
            let variable = ENVIRONMENT
                .iter()
                .find(|(_, path)| *path == setting)
                .map(|(variable, _)| format!(" ({variable})"))
                .unwrap_or_default();
            let source = match error.metadata.as_ref().and_then(|m| m.source.as_ref()) {
                Some(Source::File(path)) => format!(", in {}", path.display()),
                _ if !variable.is_empty() => ", from the environment".to_string(),
                _ => String::new(),
            };
            format!("configuration {setting}{variable}: {}{source}", error.kind)
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Tencent Cloud FaceID (see `elections::face`).
#[derive(Clone, Debug, Deserialize)]
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
    use figment::Jail;

    use super::*;

    /// `Config::load` in a jail: the environment holds exactly `pairs` (restored afterwards),
    /// and `file` (when given) is written as the TOML file.
    // figment's Jail fixes the closure's error type; nothing here returns it.
    #[allow(clippy::result_large_err)]
    fn load_with(pairs: &[(&str, &str)], file: Option<&str>) -> Result<Config, String> {
        let mut out = Err(String::new());
        Jail::expect_with(|jail| {
            jail.clear_env();
            for (name, value) in pairs {
                jail.set_env(name, value);
            }
            let path = file.map(|text| {
                jail.create_file("zmg.toml", text).expect("config file");
                PathBuf::from("zmg.toml")
            });
            out = Config::load(path.as_deref()).map_err(|e| e.to_string());
            Ok(())
        });
        out
    }

    const S3: [(&str, &str); 4] = [
        ("ZMG_S3_ENDPOINT", "http://127.0.0.1:9000"),
        ("ZMG_S3_BUCKET", "b"),
        ("ZMG_S3_ACCESS_KEY", "AKID"),
        ("ZMG_S3_SECRET_KEY", "very-secret"),
    ];

    #[test]
    fn environment_overrides_defaults_and_secrets_stay_hidden() {
        let mut env = S3.to_vec();
        env.push(("ZMG_LISTEN", "0.0.0.0:9000"));
        env.push(("ZMG_SIGNING_SECRET", "another-very-secret-value"));
        let c = load_with(&env, None).unwrap();
        assert_eq!(c.listen, "0.0.0.0:9000");
        assert_eq!(
            c.database_pool_size, 16,
            "defaults stay where nothing is set"
        );
        let s3 = c.s3.as_ref().unwrap();
        assert_eq!(s3.region, "us-east-1");
        assert!(s3.path_style);
        assert_eq!(s3.secret_key.expose_secret(), "very-secret");
        let dump = format!("{c:?}");
        assert!(!dump.contains("very-secret"), "secret leaked: {dump}");
    }

    #[test]
    fn every_boolean_follows_one_rule_and_nonsense_is_refused() {
        let with = |pairs: &[(&str, &str)]| {
            let env: Vec<_> = S3.iter().chain(pairs).copied().collect();
            load_with(&env, None)
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
        let c = with(&[("ZMG_DEV_MODE", "1"), ("ZMG_MIGRATE_ON_START", "yes")]).unwrap();
        assert!(c.dev_mode && c.migrate_on_start);
        let err = with(&[("ZMG_DEV_MODE", "ture")]).unwrap_err();
        assert!(
            err.contains("ZMG_DEV_MODE") && err.contains("ture"),
            "{err}"
        );
        let err = with(&[("ZMG_DEV_MODE", "2")]).unwrap_err();
        assert!(err.contains("ZMG_DEV_MODE"), "{err}");
    }

    #[test]
    fn numbers_are_checked_and_the_variable_named() {
        let err = load_with(&[("ZMG_DATABASE_POOL_SIZE", "many")], None).unwrap_err();
        assert!(err.contains("ZMG_DATABASE_POOL_SIZE"), "{err}");
        let err = load_with(&[("ZMG_STATEMENT_TIMEOUT_MS", "-1")], None).unwrap_err();
        assert!(err.contains("ZMG_STATEMENT_TIMEOUT_MS"), "{err}");
        let err = load_with(&[("ZMG_DUE_SWEEP_SECONDS", "0")], None).unwrap_err();
        assert!(err.contains("ZMG_DUE_SWEEP_SECONDS"), "{err}");
        let c = load_with(&[("ZMG_SMS_DAILY_LIMIT_PER_PHONE", "3")], None).unwrap();
        assert_eq!(c.sms.daily_limit_per_phone, 3);
    }

    #[test]
    fn text_settings_keep_the_environments_text_as_it_is() {
        let secret = "00123456789012345678901234567890123";
        let c = load_with(
            &[
                ("ZMG_TENCENT_SMS_SDK_APP_ID", "1400000000"),
                ("ZMG_TENCENT_SMS_TEMPLATE_ID", "0012"),
                ("ZMG_SIGNING_KEY_ID", "2"),
                ("ZMG_SIGNING_SECRET", secret),
                ("ZMG_TENCENT_FACE_RULE_ID", "\"7\""),
                ("ZMG_DEFAULT_TENANT", "[demo]"),
                ("ZMG_LOG_FORMAT", "json"),
            ],
            None,
        )
        .unwrap();
        assert_eq!(c.sms.tencent.sdk_app_id, "1400000000");
        assert_eq!(c.sms.tencent.template_id, "0012");
        assert_eq!(c.signing_key_id, "2");
        assert_eq!(c.signing_secret.unwrap().expose_secret(), secret);
        assert_eq!(c.face.tencent.rule_id, "\"7\"");
        assert_eq!(c.default_tenant.as_deref(), Some("[demo]"));
    }

    #[test]
    fn settings_that_would_break_the_service_stop_the_start() {
        for (variable, value) in [
            ("ZMG_OWNER_TOKEN_HOURS", "0"),
            ("ZMG_SMS_DAILY_LIMIT_PER_IP", "-1"),
            ("ZMG_DATABASE_POOL_SIZE", "0"),
            ("ZMG_LOG_FORMAT", "yaml"),
            ("ZMG_FACE_PROVIDER", "real"),
        ] {
            let err = load_with(&[(variable, value)], None).unwrap_err();
            assert!(err.contains(variable), "{variable}={value}: {err}");
        }
    }

    /// The README's table, the operations guide and the Helm chart list every variable, so an
    /// operator never has to read the code to find a setting.
    #[test]
    fn every_variable_is_documented_and_in_the_chart() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let read = |path: &str| std::fs::read_to_string(root.join(path)).unwrap();
        let chart: String = std::fs::read_dir(root.join("helm/zhimaguan/templates"))
            .unwrap()
            .map(|entry| std::fs::read_to_string(entry.unwrap().path()).unwrap_or_default())
            .collect();
        let places = [
            ("README.md", read("README.md")),
            ("docs/operations.md", read("docs/operations.md")),
            ("the Helm chart's templates", chart),
        ];
        // The whole name: ZMG_SMS_DAILY_LIMIT_PER_PHONE is not found in …_PER_PHONE_PER_TENANT.
        let names = |text: &str, variable: &str| {
            text.match_indices(variable).any(|(at, _)| {
                !text[at + variable.len()..]
                    .starts_with(|c: char| c.is_ascii_uppercase() || c == '_')
            })
        };
        let mut missing = Vec::new();
        for (variable, _) in ENVIRONMENT {
            for (place, text) in &places {
                if !names(text, variable) {
                    missing.push(format!("{variable} in {place}"));
                }
            }
        }
        assert!(missing.is_empty(), "not documented: {missing:?}");
    }

    #[test]
    fn other_zmg_variables_are_not_configuration() {
        let c = load_with(
            &[
                ("ZMG_CONFIG", "x.toml"),
                ("ZMG_TEST_DATABASE_URL", "postgres://x"),
            ],
            None,
        )
        .unwrap();
        assert_eq!(c.database_url, Config::default().database_url);
    }

    #[test]
    fn a_trusted_proxy_that_is_no_address_or_range_stops_the_start() {
        let err = load_with(&[("ZMG_TRUSTED_PROXIES", "10.0.0.0/8, 10.0.0/8")], None).unwrap_err();
        assert!(err.contains("10.0.0/8"), "{err}");
        let c = load_with(&[("ZMG_TRUSTED_PROXIES", "10.0.0.0/8,fd00::1")], None).unwrap();
        assert_eq!(c.trusted_proxies, ["10.0.0.0/8", "fd00::1"]);
        let c = load_with(&[], Some("trusted_proxies = [\"10.0.0.1\"]\n")).unwrap();
        assert_eq!(c.trusted_proxies, ["10.0.0.1"]);
    }

    #[test]
    fn s3_needs_all_its_settings() {
        let err = load_with(&[("ZMG_S3_ENDPOINT", "http://x")], None).unwrap_err();
        assert!(err.contains("ZMG_S3_BUCKET"), "{err}");
    }

    #[test]
    fn empty_texts_mean_unset() {
        let c = load_with(&[("ZMG_METRICS_TOKEN", ""), ("ZMG_BASE_DOMAIN", "")], None).unwrap();
        assert!(c.metrics_token.is_none() && c.base_domain.is_none());
    }

    #[test]
    fn the_file_is_read_and_the_environment_wins_over_it() {
        let file = "listen = \"127.0.0.1:1\"\ndev_mode = true\n[sms]\nprovider = \"tencent\"\n";
        let c = load_with(&[], Some(file)).unwrap();
        assert_eq!(c.listen, "127.0.0.1:1");
        assert!(c.dev_mode);
        assert_eq!(c.sms.provider, "tencent");
        assert_eq!(c.upload_limit_bytes, 20 * 1024 * 1024);
        let c = load_with(
            &[("ZMG_LISTEN", "127.0.0.1:2"), ("ZMG_DEV_MODE", "off")],
            Some(file),
        )
        .unwrap();
        assert_eq!(c.listen, "127.0.0.1:2");
        assert!(!c.dev_mode);
        let err = load_with(&[], Some("listen = \"x\"\nlisten_port = 1\n")).unwrap_err();
        assert!(
            err.contains("listen_port"),
            "an unknown setting is refused: {err}"
        );
        let err = Config::load(Some(std::path::Path::new("/nonexistent/zmg.toml"))).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/zmg.toml"), "{err}");
    }

    #[test]
    fn the_face_config_has_defaults_rejects_unknown_fields_and_hides_secrets() {
        let c = load_with(
            &[("ZMG_TENCENT_FACE_SECRET_KEY", "very-secret")],
            Some("[face.tencent]\nrule_id = \"7\"\n"),
        )
        .unwrap();
        let cfg = &c.face.tencent;
        assert_eq!(cfg.endpoint, "https://faceid.tencentcloudapi.com");
        assert_eq!(cfg.region, "ap-guangzhou");
        assert_eq!(cfg.rule_id, "7");
        assert_eq!(cfg.secret_key.expose_secret(), "very-secret");
        assert!(!format!("{cfg:?}").contains("very-secret"));
        assert!(load_with(&[], Some("[face.tencent]\nrule = \"7\"\n")).is_err());
    }
}
