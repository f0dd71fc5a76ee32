//! Object storage behind one small module: the local filesystem by default, any S3-compatible
//! service when configured. Keys are always built here (`<tenant>/<kind>/<uuid>`), never taken
//! from a client.

use secrecy::ExposeSecret;
use std::{sync::Arc, time::Duration};

use bytes::Bytes;
use object_store::{
    aws::{AmazonS3, AmazonS3Builder},
    local::LocalFileSystem,
    path::Path,
    signer::Signer,
    BackoffConfig, ClientOptions, ObjectStore, PutPayload, RetryConfig,
};
use uuid::Uuid;

use crate::{config::Config, error::ApiError, tenancy::Tenant};

#[derive(Clone)]
pub struct Storage {
    store: Arc<dyn ObjectStore>,
    /// Present on S3: downloads may be handed out as short-lived signed URLs.
    signer: Option<Arc<AmazonS3>>,
    signed_url_ttl: Duration,
}

fn unavailable(err: impl std::fmt::Display) -> ApiError {
    tracing::warn!(error = %err, "object store unavailable");
    ApiError::unavailable(
        "storage.unavailable",
        "文件存储暂不可用，请稍后重试",
        "File storage is unavailable",
    )
}

impl Storage {
    pub fn from_config(config: &Config) -> anyhow::Result<Self> {
        let ttl = Duration::from_secs(config.signed_url_seconds);
        match &config.s3 {
            Some(s3) => {
                // Fail fast when the store is down: one retry, short timeouts, then 503.
                let retry = RetryConfig {
                    backoff: BackoffConfig::default(),
                    max_retries: 1,
                    retry_timeout: Duration::from_secs(5),
                };
                let options = ClientOptions::new()
                    .with_allow_http(s3.endpoint.starts_with("http://"))
                    .with_connect_timeout(Duration::from_secs(3))
                    .with_timeout(Duration::from_secs(60));
                let store = AmazonS3Builder::new()
                    .with_endpoint(&s3.endpoint)
                    .with_bucket_name(&s3.bucket)
                    .with_region(&s3.region)
                    .with_access_key_id(s3.access_key.expose_secret())
                    .with_secret_access_key(s3.secret_key.expose_secret())
                    .with_virtual_hosted_style_request(!s3.path_style)
                    .with_retry(retry)
                    .with_client_options(options)
                    .build()?;
                let store = Arc::new(store);
                Ok(Self {
                    store: store.clone(),
                    signer: Some(store),
                    signed_url_ttl: ttl,
                })
            }
            None => {
                std::fs::create_dir_all(&config.storage_dir)?;
                let store = LocalFileSystem::new_with_prefix(&config.storage_dir)?;
                Ok(Self {
                    store: Arc::new(store),
                    signer: None,
                    signed_url_ttl: ttl,
                })
            }
        }
    }

    /// `<tenant slug>/<kind>/<uuid>`. `Path::parse` keeps the key as written (no percent-encoding).
    pub fn key(tenant: &Tenant, kind: &str, id: Uuid) -> Result<Path, ApiError> {
        Path::parse(format!("{}/{kind}/{id}", tenant.slug)).map_err(ApiError::internal)
    }

    pub async fn put(&self, key: &Path, bytes: Bytes) -> Result<(), ApiError> {
        self.store
            .put(key, PutPayload::from_bytes(bytes))
            .await
            .map(|_| ())
            .map_err(unavailable)
    }

    pub async fn get(&self, key: &Path) -> Result<Bytes, ApiError> {
        match self.store.get(key).await {
            Ok(result) => result.bytes().await.map_err(unavailable),
            Err(object_store::Error::NotFound { .. }) => Err(ApiError::not_found(
                "attachment.content_missing",
                "文件内容已丢失，请重新上传",
                "The file content is missing",
            )),
            Err(e) => Err(unavailable(e)),
        }
    }

    /// Best effort: used to clean up after a failed metadata write.
    pub async fn delete(&self, key: &Path) {
        if let Err(e) = self.store.delete(key).await {
            tracing::warn!(error = %e, key = %key, "could not delete orphaned object");
        }
    }

    /// A short-lived signed GET URL when on S3; `None` on the local store.
    pub async fn signed_url(&self, key: &Path) -> Result<Option<(String, Duration)>, ApiError> {
        let Some(signer) = &self.signer else {
            return Ok(None);
        };
        let url = signer
            .signed_url(poem::http::Method::GET, key, self.signed_url_ttl)
            .await
            .map_err(unavailable)?;
        Ok(Some((url.to_string(), self.signed_url_ttl)))
    }
}
