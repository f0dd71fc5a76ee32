//! TLS to PostgreSQL, with libpq's `sslmode` and `sslrootcert` read from `ZMG_DATABASE_URL`.
//!
//! tokio-postgres (which diesel-async drives) understands `sslmode=disable|prefer|require`
//! only, and no `sslrootcert`, so both are taken out of the URL here and turned into a rustls
//! configuration; the rest of the URL goes to tokio-postgres as it was.
//!
//! | `sslmode`        | encrypted                   | server certificate checked            |
//! |------------------|-----------------------------|---------------------------------------|
//! | `disable`        | never                       | no                                    |
//! | `prefer` (unset) | when the server offers it   | against `sslrootcert` when given      |
//! | `require`        | always                      | against `sslrootcert` when given      |
//! | `verify-ca`      | always                      | chain against `sslrootcert`           |
//! | `verify-full`    | always                      | chain, and the host name in the URL   |
//!
//! `sslrootcert` is a PEM file of CA certificates, or `system` for the Mozilla root set (a
//! managed database whose CA is public; it means, and only takes, `verify-full`). The
//! verifying modes need it: there is no implicit
//! `~/.postgresql/root.crt` here, so a missing setting stops the start instead of quietly
//! connecting unchecked.

use std::{fmt, sync::Arc};

use diesel::{ConnectionError, ConnectionResult};
use diesel_async::AsyncPgConnection;
use rustls::{
    client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
    client::{verify_server_cert_signed_by_trust_anchor, WebPkiServerVerifier},
    crypto::{
        verify_tls12_signature, verify_tls13_signature, verify_tls13_signature_with_raw_key,
        CryptoProvider,
    },
    pki_types::{pem::PemObject, CertificateDer, ServerName, SubjectPublicKeyInfoDer, UnixTime},
    server::ParsedCertificate,
    ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio_postgres::config::SslMode as WireMode;
use tokio_postgres_rustls::MakeRustlsConnect;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    fn parse(value: &str) -> anyhow::Result<Self> {
        Ok(match value {
            "disable" => Self::Disable,
            "prefer" => Self::Prefer,
            "require" => Self::Require,
            "verify-ca" => Self::VerifyCa,
            "verify-full" => Self::VerifyFull,
            // libpq's `allow` tries plaintext first; nothing here wants that.
            other => anyhow::bail!(
                "ZMG_DATABASE_URL: sslmode must be disable, prefer, require, verify-ca or \
                 verify-full, got {other:?}"
            ),
        })
    }

    /// What tokio-postgres is told: it only decides whether TLS is attempted or demanded;
    /// the checking is the rustls configuration's.
    fn wire(self) -> WireMode {
        match self {
            Self::Disable => WireMode::Disable,
            Self::Prefer => WireMode::Prefer,
            Self::Require | Self::VerifyCa | Self::VerifyFull => WireMode::Require,
        }
    }
}

impl fmt::Display for SslMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Disable => "disable",
            Self::Prefer => "prefer",
            Self::Require => "require",
            Self::VerifyCa => "verify-ca",
            Self::VerifyFull => "verify-full",
        })
    }
}

/// How every connection of a pool is opened: built once from the URL, cloned per connection.
#[derive(Clone)]
pub struct Connector {
    pub mode: SslMode,
    tls: MakeRustlsConnect,
}

impl fmt::Debug for Connector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connector")
            .field("mode", &self.mode)
            .finish()
    }
}

impl Connector {
    /// Splits `url` into the URL tokio-postgres reads (without `sslmode` and `sslrootcert`)
    /// and the connector those two settings describe.
    pub fn from_url(url: &url::Url) -> anyhow::Result<(url::Url, Self)> {
        let mut mode = SslMode::Prefer;
        let mut explicit_mode = false;
        let mut root_cert = None;
        let mut rest = Vec::new();
        for (key, value) in url.query_pairs() {
            match key.as_ref() {
                "sslmode" => {
                    mode = SslMode::parse(&value)?;
                    explicit_mode = true;
                }
                "sslrootcert" => root_cert = Some(value.into_owned()),
                _ => rest.push((key.into_owned(), value.into_owned())),
            }
        }
        // As libpq 16: the public roots are only worth checking with the host name, so
        // `sslrootcert=system` means `verify-full` and takes no weaker mode (any public CA
        // would vouch for any name the attacker owns).
        if root_cert.as_deref() == Some("system") {
            if !explicit_mode {
                mode = SslMode::VerifyFull;
            }
            anyhow::ensure!(
                mode == SslMode::VerifyFull,
                "ZMG_DATABASE_URL: sslrootcert=system takes sslmode=verify-full only, got {mode}"
            );
        }
        let roots = root_cert.as_deref().map(load_roots).transpose()?;
        let verifier = verifier_for(mode, roots)?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        let mut plain = url.clone();
        if rest.is_empty() {
            plain.set_query(None);
        } else {
            plain.query_pairs_mut().clear().extend_pairs(rest);
            // The form encoding writes a space as `+`; the PostgreSQL URL reader only decodes
            // `%20` (a real `+` is already `%2B`).
            let query = plain.query().map(|q| q.replace('+', "%20"));
            plain.set_query(query.as_deref());
        }
        let connector = Connector {
            mode,
            tls: MakeRustlsConnect::new(config),
        };
        Ok((plain, connector))
    }

    /// Opens one connection to `url` (a URL this connector was split from, with any session
    /// settings added).
    pub async fn connect(&self, url: &str) -> ConnectionResult<AsyncPgConnection> {
        let mut config: tokio_postgres::Config =
            url.parse().map_err(|e: tokio_postgres::Error| {
                ConnectionError::InvalidConnectionUrl(e.to_string())
            })?;
        config.ssl_mode(self.mode.wire());
        let (client, connection) = config
            .connect(self.tls.clone())
            .await
            .map_err(|e| ConnectionError::BadConnection(describe(&e)))?;
        AsyncPgConnection::try_from_client_and_connection(client, connection).await
    }
}

/// tokio-postgres's error with its causes, so a refused certificate says why.
fn describe(error: &tokio_postgres::Error) -> String {
    let mut text = error.to_string();
    let mut cause = std::error::Error::source(error);
    while let Some(inner) = cause {
        let line = inner.to_string();
        if !text.contains(&line) {
            text.push_str(": ");
            text.push_str(&line);
        }
        cause = inner.source();
    }
    text
}

fn load_roots(setting: &str) -> anyhow::Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    if setting == "system" {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        return Ok(roots);
    }
    let certs = CertificateDer::pem_file_iter(setting)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| anyhow::anyhow!("ZMG_DATABASE_URL: cannot read sslrootcert {setting}: {e}"))?;
    let (added, _) = roots.add_parsable_certificates(certs);
    anyhow::ensure!(
        added > 0,
        "ZMG_DATABASE_URL: sslrootcert {setting} holds no usable CA certificate"
    );
    Ok(roots)
}

fn verifier_for(
    mode: SslMode,
    roots: Option<RootCertStore>,
) -> anyhow::Result<Arc<dyn ServerCertVerifier>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let webpki = |roots: RootCertStore| {
        WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone()).build()
    };
    Ok(match (mode, roots) {
        (SslMode::VerifyFull, Some(roots)) => webpki(roots)?,
        // As libpq: with a root certificate `require` (and `prefer`, when TLS is used) checks
        // the chain like `verify-ca`.
        (SslMode::VerifyCa | SslMode::Require | SslMode::Prefer, Some(roots)) => {
            Arc::new(ChainOnly {
                roots: Arc::new(roots),
                provider,
            })
        }
        (SslMode::VerifyCa | SslMode::VerifyFull, None) => anyhow::bail!(
            "ZMG_DATABASE_URL: sslmode={mode} needs sslrootcert (a PEM file of CA certificates, \
             or system for the public roots)"
        ),
        (_, _) => Arc::new(Unchecked(provider)),
    })
}

/// `verify-ca`: the chain must lead to a trusted root; the name is not looked at (webpki's
/// chain check on its own, not a full check with name errors forgiven).
#[derive(Debug)]
struct ChainOnly {
    roots: Arc<RootCertStore>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let cert = ParsedCertificate::try_from(end_entity)?;
        verify_server_cert_signed_by_trust_anchor(
            &cert,
            &self.roots,
            intermediates,
            now,
            self.provider.signature_verification_algorithms.all,
        )?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.provider.signature_verification_algorithms;
        verify_tls12_signature(message, cert, dss, algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.provider.signature_verification_algorithms;
        verify_tls13_signature(message, cert, dss, algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// `prefer` and `require` without a root certificate: encrypted, the certificate taken as
/// offered (libpq's behaviour for these modes). The handshake signature is still checked, so
/// the server must hold the key of the certificate it shows. Under TLS 1.3 it is checked
/// against the certificate's public key alone, so an X.509 v1 certificate (which webpki does
/// not parse; Citus makes one for itself when it turns TLS on) is taken as libpq takes it.
#[derive(Debug)]
struct Unchecked(Arc<CryptoProvider>);

impl ServerCertVerifier for Unchecked {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.0.signature_verification_algorithms;
        match public_key_of(cert) {
            Some(spki) => verify_tls13_signature_with_raw_key(message, &spki, dss, algorithms),
            None => verify_tls13_signature(message, cert, dss, algorithms),
        }
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The certificate's SubjectPublicKeyInfo, whatever its X.509 version.
fn public_key_of(cert: &CertificateDer<'_>) -> Option<SubjectPublicKeyInfoDer<'static>> {
    use x509_cert::der::{Decode, Encode};
    let parsed = x509_cert::Certificate::from_der(cert.as_ref()).ok()?;
    let spki = parsed
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .ok()?;
    Some(SubjectPublicKeyInfoDer::from(spki))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(url: &str) -> anyhow::Result<(String, SslMode)> {
        let (plain, connector) = Connector::from_url(&url::Url::parse(url)?)?;
        Ok((plain.to_string(), connector.mode))
    }

    #[test]
    fn sslmode_and_sslrootcert_leave_the_url_and_the_rest_stays() {
        let (plain, mode) =
            split("postgres://u@db:5432/zmg?sslmode=require&application_name=zmg").unwrap();
        assert_eq!(plain, "postgres://u@db:5432/zmg?application_name=zmg");
        assert_eq!(mode, SslMode::Require);
        let (plain, mode) = split("postgres://u@db/zmg").unwrap();
        assert_eq!(plain, "postgres://u@db/zmg");
        assert_eq!(mode, SslMode::Prefer);
        let (plain, mode) =
            split("postgres://u@db/zmg?sslmode=verify-full&sslrootcert=system").unwrap();
        assert_eq!(plain, "postgres://u@db/zmg");
        assert_eq!(mode, SslMode::VerifyFull);
    }

    #[test]
    fn the_public_roots_are_checked_with_the_name_or_not_at_all() {
        let (_, mode) = split("postgres://u@db/zmg?sslrootcert=system").unwrap();
        assert_eq!(mode, SslMode::VerifyFull, "as libpq 16");
        for weaker in ["require", "verify-ca", "prefer"] {
            let err = split(&format!(
                "postgres://u@db/zmg?sslmode={weaker}&sslrootcert=system"
            ))
            .unwrap_err();
            assert!(
                err.to_string().contains("verify-full only"),
                "{weaker}: {err}"
            );
        }
    }

    #[test]
    fn spaces_in_other_parameters_stay_spaces_postgres_reads() {
        let (plain, _) =
            split("postgres://u@db/zmg?sslmode=disable&options=-c%20search_path%3Dx&application_name=a+b%2Bc")
                .unwrap();
        assert_eq!(
            plain,
            "postgres://u@db/zmg?options=-c%20search_path%3Dx&application_name=a%20b%2Bc"
        );
    }

    #[test]
    fn a_verifying_mode_without_roots_or_an_unknown_mode_stops_the_start() {
        let err = split("postgres://db/zmg?sslmode=verify-full").unwrap_err();
        assert!(err.to_string().contains("needs sslrootcert"), "{err}");
        let err = split("postgres://db/zmg?sslmode=verify-ca").unwrap_err();
        assert!(err.to_string().contains("needs sslrootcert"), "{err}");
        let err = split("postgres://db/zmg?sslmode=allow").unwrap_err();
        assert!(err.to_string().contains("sslmode must be"), "{err}");
        let err =
            split("postgres://db/zmg?sslmode=require&sslrootcert=/nonexistent/ca.pem").unwrap_err();
        assert!(err.to_string().contains("cannot read sslrootcert"), "{err}");
    }
}
