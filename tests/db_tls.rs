//! TLS to PostgreSQL: `sslmode` and `sslrootcert` in `ZMG_DATABASE_URL`, against a throwaway
//! PostgreSQL 15 cluster started here with `ssl = on` and a certificate made here by openssl.
//! Its `pg_hba.conf` accepts TLS connections only, so anything that works below went encrypted.
//!
//! The certificate names `localhost` only: `verify-full` to `127.0.0.1` must fail on the name,
//! `verify-ca` to `127.0.0.1` must pass, and a certificate from another CA fails both.
//!
//! Needs the PostgreSQL 15 server binaries (`ZMG_PG_BIN`, default /usr/lib/postgresql/15/bin)
//! and openssl; as root it runs the cluster as the `postgres` user, as scripts do.

mod common;

use std::{
    net::TcpListener,
    path::{Path, PathBuf},
    process::Command,
};

use common::TestApp;
use diesel::{sql_types, QueryableByName};
use diesel_async::RunQueryDsl;
use reqwest::Method;
use zhimaguan::db;

struct Cluster {
    dir: PathBuf,
    port: u16,
    as_root: bool,
}

fn run(command: &mut Command) {
    let out = command.output().expect("command starts");
    assert!(
        out.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn openssl(dir: &Path, args: &[&str]) {
    run(Command::new("openssl").current_dir(dir).args(args));
}

/// A CA (`{name}.crt`, `{name}.key`) valid for a day.
fn make_ca(dir: &Path, name: &str) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
            "-subj",
            &format!("/CN={name}"),
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.crt"),
        ],
    );
}

/// `server.csr` signed by the CA into `out`, with the extensions in `extensions` (a v3
/// certificate) or none (a v1 certificate).
fn sign_server_csr(dir: &Path, out: &str, extensions: Option<&str>) {
    let mut args = vec![
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "1",
        "-out",
        out,
    ];
    if let Some(file) = extensions {
        args.extend(["-extfile", file]);
    }
    openssl(dir, &args);
}

impl Cluster {
    fn start() -> Self {
        let bin = PathBuf::from(
            std::env::var("ZMG_PG_BIN").unwrap_or_else(|_| "/usr/lib/postgresql/15/bin".into()),
        );
        let dir = std::env::temp_dir().join(common::unique("zmg-tls-"));
        std::fs::create_dir_all(&dir).unwrap();
        make_ca(&dir, "ca");
        make_ca(&dir, "other-ca");
        std::fs::write(
            dir.join("server.ext"),
            "subjectAltName = DNS:localhost\nextendedKeyUsage = serverAuth\n",
        )
        .unwrap();
        openssl(
            &dir,
            &[
                "req",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-subj",
                "/CN=localhost",
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
            ],
        );
        sign_server_csr(&dir, "server.crt", Some("server.ext"));
        // The same key in an X.509 v1 certificate (no extensions), as Citus makes for itself.
        sign_server_csr(&dir, "server-v1.crt", None);
        let uid = Command::new("id").arg("-u").output().unwrap();
        let as_root = String::from_utf8_lossy(&uid.stdout).trim() == "0";
        if as_root {
            run(Command::new("chown").arg("-R").arg("postgres").arg(&dir));
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let cluster = Cluster { dir, port, as_root };
        let data = cluster.dir.join("data");
        cluster.pg(
            bin.join("initdb"),
            &[
                "-D",
                data.to_str().unwrap(),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
            ],
        );
        let conf = format!(
            "port = {port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{dir}'\n\
             ssl = on\nssl_cert_file = '{dir}/server.crt'\nssl_key_file = '{dir}/server.key'\n\
             lc_messages = 'C'\nfsync = off\n",
            dir = cluster.dir.display()
        );
        append(&data.join("postgresql.conf"), &conf);
        // TLS or nothing over TCP.
        std::fs::write(
            data.join("pg_hba.conf"),
            "local all all trust\nhostssl all all 127.0.0.1/32 trust\n",
        )
        .unwrap();
        cluster.pg(
            bin.join("pg_ctl"),
            &[
                "-D",
                data.to_str().unwrap(),
                "-l",
                cluster.dir.join("server.log").to_str().unwrap(),
                "-w",
                "start",
            ],
        );
        cluster
    }

    fn pg(&self, program: PathBuf, args: &[&str]) {
        let mut command = if self.as_root {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            Command::new(program)
        };
        run(command.args(args));
    }

    /// Puts `file` in place of the server's certificate and has PostgreSQL reload it.
    fn serve_certificate(&self, file: &str) {
        std::fs::copy(self.dir.join(file), self.dir.join("server.crt")).unwrap();
        let bin =
            std::env::var("ZMG_PG_BIN").unwrap_or_else(|_| "/usr/lib/postgresql/15/bin".into());
        let data = self.dir.join("data");
        self.pg(
            PathBuf::from(bin).join("pg_ctl"),
            &["-D", data.to_str().unwrap(), "reload"],
        );
    }

    fn url(&self, host: &str, database: &str, query: &str) -> String {
        let query = query.replace("{dir}", &self.dir.display().to_string());
        format!(
            "postgres://postgres@{host}:{}/{database}?{query}",
            self.port
        )
    }
}

fn append(path: &Path, text: &str) {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    file.write_all(text.as_bytes()).unwrap();
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let bin =
            std::env::var("ZMG_PG_BIN").unwrap_or_else(|_| "/usr/lib/postgresql/15/bin".into());
        let data = self.dir.join("data");
        let _ = if self.as_root {
            Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(format!("{bin}/pg_ctl"))
                .args(["-D", data.to_str().unwrap(), "-m", "immediate", "stop"])
                .output()
        } else {
            Command::new(format!("{bin}/pg_ctl"))
                .args(["-D", data.to_str().unwrap(), "-m", "immediate", "stop"])
                .output()
        };
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[derive(QueryableByName)]
struct Session {
    #[diesel(sql_type = sql_types::Bool)]
    ssl: bool,
    #[diesel(sql_type = sql_types::Text)]
    version: String,
}

/// Opens a connection through `url` and says how it is protected, or why it was refused.
async fn session(url: &str) -> Result<Session, String> {
    let pool = db::build_pool(url, 1, None).map_err(|e| e.to_string())?;
    let mut conn = pool.get().await.map_err(|e| e.to_string())?;
    diesel::sql_query(
        "SELECT ssl, coalesce(version, '') AS version FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
    )
    .get_result::<Session>(&mut *conn)
    .await
    .map_err(|e| e.to_string())
}

#[tokio::test]
async fn each_sslmode_encrypts_and_checks_the_certificate_as_libpq_does() {
    let cluster = Cluster::start();
    let ok = |label: &str, result: Result<Session, String>| {
        let session = result.unwrap_or_else(|e| panic!("{label}: refused: {e}"));
        assert!(session.ssl, "{label}: connection not encrypted");
        assert!(
            session.version.starts_with("TLSv1."),
            "{label}: {}",
            session.version
        );
    };

    ok(
        "verify-full to the certificate's name",
        session(&cluster.url(
            "localhost",
            "postgres",
            "sslmode=verify-full&sslrootcert={dir}/ca.crt",
        ))
        .await,
    );
    ok(
        "verify-ca to an address the certificate does not name",
        session(&cluster.url(
            "127.0.0.1",
            "postgres",
            "sslmode=verify-ca&sslrootcert={dir}/ca.crt",
        ))
        .await,
    );
    ok(
        "require without a root certificate",
        session(&cluster.url("127.0.0.1", "postgres", "sslmode=require")).await,
    );
    ok(
        "no sslmode (prefer) when the server offers TLS",
        session(&cluster.url("127.0.0.1", "postgres", "")).await,
    );

    let refused = |label: &str, result: Result<Session, String>, because: &[&str]| {
        let error = match result {
            Ok(_) => panic!("{label}: connected"),
            Err(e) => e,
        };
        assert!(
            because.iter().any(|b| error.contains(b)),
            "{label}: refused, but the error does not say why: {error}"
        );
    };
    refused(
        "verify-full to an address the certificate does not name",
        session(&cluster.url(
            "127.0.0.1",
            "postgres",
            "sslmode=verify-full&sslrootcert={dir}/ca.crt",
        ))
        .await,
        &["not valid for name", "NotValidForName"],
    );
    refused(
        "verify-ca with another CA",
        session(&cluster.url(
            "localhost",
            "postgres",
            "sslmode=verify-ca&sslrootcert={dir}/other-ca.crt",
        ))
        .await,
        &["UnknownIssuer", "unknown issuer"],
    );
    refused(
        "verify-full with another CA",
        session(&cluster.url(
            "localhost",
            "postgres",
            "sslmode=verify-full&sslrootcert={dir}/other-ca.crt",
        ))
        .await,
        &["UnknownIssuer", "unknown issuer"],
    );
    refused(
        "require with another CA (a root certificate given is checked, as libpq does)",
        session(&cluster.url(
            "localhost",
            "postgres",
            "sslmode=require&sslrootcert={dir}/other-ca.crt",
        ))
        .await,
        &["UnknownIssuer", "unknown issuer"],
    );
    refused(
        "no sslmode (prefer) with another CA's root certificate (checked once given, as libpq)",
        session(&cluster.url("localhost", "postgres", "sslrootcert={dir}/other-ca.crt")).await,
        &["UnknownIssuer", "unknown issuer"],
    );
    refused(
        "disable, to a server that takes TLS only",
        session(&cluster.url("127.0.0.1", "postgres", "sslmode=disable")).await,
        &["no encryption"],
    );
    refused(
        "verify-full without sslrootcert",
        session(&cluster.url("localhost", "postgres", "sslmode=verify-full")).await,
        &["needs sslrootcert"],
    );

    // A server showing an X.509 v1 certificate (Citus's own, when it turns TLS on): taken
    // unchecked, as libpq takes it; refused where it must be checked (webpki reads v3 only).
    cluster.serve_certificate("server-v1.crt");
    let verifying = cluster.url(
        "localhost",
        "postgres",
        "sslmode=verify-full&sslrootcert={dir}/ca.crt",
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let refused = loop {
        match session(&verifying).await {
            Err(e) => break e,
            Ok(_) if std::time::Instant::now() < deadline => {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            Ok(_) => panic!("PostgreSQL never served the v1 certificate"),
        }
    };
    assert!(refused.contains("UnsupportedCertVersion"), "{refused}");
    ok(
        "require, to a server with a v1 certificate",
        session(&cluster.url("127.0.0.1", "postgres", "sslmode=require")).await,
    );
    ok(
        "no sslmode (prefer), to a server with a v1 certificate",
        session(&cluster.url("127.0.0.1", "postgres", "")).await,
    );
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = sql_types::BigInt)]
    n: i64,
}

#[tokio::test]
async fn the_service_runs_over_verify_full_from_creating_its_database_to_answering() {
    let cluster = Cluster::start();
    let database = common::unique("zmg_tls_");
    let url = cluster.url(
        "localhost",
        &database,
        "sslmode=verify-full&sslrootcert={dir}/ca.crt",
    );
    let mut config = common::test_config();
    config.database_url = url.clone();
    config.database_pool_size = 3;
    // Creates the database (over TLS, to `postgres`), migrates the platform, serves.
    let app = TestApp::start_with(config).await;
    let t = app.tenant().await;
    let (status, body) = app
        .call(
            Method::GET,
            "/api/residents-committees",
            Some(&t.tenant.slug),
            Some(&t.admin_token),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");

    let pool = db::build_pool(&url, 1, None).unwrap();
    let mut conn = pool.get().await.unwrap();
    let count = |ssl: bool| {
        diesel::sql_query(
            "SELECT count(*) AS n FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) \
             WHERE a.datname = current_database() AND s.ssl = $1",
        )
        .bind::<sql_types::Bool, _>(ssl)
    };
    let encrypted = count(true).get_result::<Count>(&mut *conn).await.unwrap().n;
    let plain = count(false)
        .get_result::<Count>(&mut *conn)
        .await
        .unwrap()
        .n;
    assert!(
        encrypted >= 2,
        "the service's connections and this one: {encrypted}"
    );
    assert_eq!(
        plain, 0,
        "no connection to the service's database is plaintext"
    );
}
