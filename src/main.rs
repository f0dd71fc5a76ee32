//! `zmg`: serve | migrate | tenant … | platform-staff … | openapi

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use zhimaguan::{app, config::Config, db, migrate, openapi, platform, tenancy};

#[derive(Parser)]
#[command(name = "zmg", about = "Zhimaguan (社区芝麻官) API service", version)]
struct Cli {
    /// Optional TOML config file (also ZMG_CONFIG); ZMG_* environment variables override it.
    #[arg(long, env = "ZMG_CONFIG", global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP API.
    Serve {
        /// Development demo: ensure the demo tenant exists, print its admin login, enable dev mode.
        #[arg(long)]
        demo: bool,
    },
    /// Migrate the platform schema and every tenant schema.
    Migrate,
    /// Street offices (tenants).
    Tenant {
        #[command(subcommand)]
        command: TenantCommand,
    },
    /// Platform-staff accounts.
    PlatformStaff {
        #[command(subcommand)]
        command: PlatformStaffCommand,
    },
    /// Print the OpenAPI spec as YAML.
    Openapi,
    /// Print the typed schema (diesel `table!` definitions) the migrations give, as committed
    /// in src/schema/ (needs the database; a tenant's is read from a scratch schema, rolled back).
    PrintSchema {
        which: zhimaguan::schema_print::Which,
    },
    /// Check a published ballot ledger (GET /api/matters/{id}/ledger saved as JSON): every
    /// entry hash, the root, and the tally recomputed from the ledger alone; with `--keys`
    /// (GET /api/platform/signing-keys saved as JSON) the street office's signatures too, which
    /// a signed ledger (version 5) needs.
    VerifyMatter {
        ledger: PathBuf,
        #[arg(long)]
        keys: Option<PathBuf>,
        /// An earlier copy of the same ledger: checks that nothing sealed in it has changed.
        #[arg(long)]
        earlier: Option<PathBuf>,
        /// Fail unless the ledger proves its last checkpoint is in the transparency log (a
        /// ledger fetched a checkpoint interval after its last ballot or its close carries one).
        #[arg(long)]
        require_log: bool,
    },
}

#[derive(Subcommand)]
enum TenantCommand {
    /// Create or update a tenant from a manifest (see tenants/).
    Apply { manifest: PathBuf },
    /// List tenants.
    List,
}

#[derive(Subcommand)]
enum PlatformStaffCommand {
    /// Create a platform-staff account; its password is printed once.
    Create {
        username: String,
        #[arg(long, default_value = "平台管理员")]
        display_name: String,
    },
}

const DEMO_MANIFEST: &str = include_str!("../tenants/demo.toml");

fn init_logging(config: &Config) {
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if config.log_format == "json" {
        builder
            .json()
            .flatten_event(true)
            // The request's span once, not again in a list of every span it is in.
            .with_current_span(true)
            .with_span_list(false)
            .init();
    } else {
        builder.init();
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match &cli.command {
        Command::Openapi => {
            print!("{}", openapi::spec_yaml());
            return Ok(());
        }
        Command::VerifyMatter {
            ledger,
            keys,
            earlier,
            require_log,
        } => return verify_matter(ledger, keys.as_deref(), earlier.as_deref(), *require_log),
        _ => {}
    }
    let mut config = Config::load(cli.config.as_deref())?;
    init_logging(&config);
    match cli.command {
        Command::Serve { demo } => {
            if demo {
                config.dev_mode = true;
                config.default_tenant.get_or_insert_with(|| "demo".into());
            }
            let state = zhimaguan::state::AppState::new(config.clone()).await?;
            if demo {
                prepare_demo(&state).await?;
            }
            let grace = std::time::Duration::from_secs(config.shutdown_grace_seconds);
            let (running, server) =
                app::bind(state, &config.listen, shutdown_signal(), grace).await?;
            tracing::info!(addr = %running.addr, "listening; API docs at /docs");
            // For the person at the console: standard output, so that the log stream (standard
            // error) holds nothing but log lines, JSON ones with ZMG_LOG_FORMAT=json.
            println!(
                "Zhimaguan listening on http://{}  (docs: http://{}/docs)",
                running.addr, running.addr
            );
            server.await;
            tracing::info!("stopped");
        }
        Command::PrintSchema { which } => {
            let pool = db::connect(&config.database_url, 2).await?;
            print!("{}", zhimaguan::schema_print::print(&pool, which).await?);
        }
        Command::Migrate => {
            let pool = db::connect(&config.database_url, 2).await?;
            let n = migrate::migrate_all(&pool).await?;
            println!("platform and {n} tenant schema(s) are up to date");
        }
        Command::Tenant {
            command: TenantCommand::Apply { manifest },
        } => {
            let pool = db::connect(&config.database_url, 2).await?;
            migrate::migrate_platform(&pool).await?;
            let text = std::fs::read_to_string(&manifest)?;
            let applied =
                tenancy::manifest::apply(&pool, &tenancy::manifest::parse(&text)?).await?;
            println!(
                "tenant {} ({}) applied",
                applied.tenant.slug, applied.tenant.name
            );
            if let Some(admin) = applied.created_admin {
                println!(
                    "first street-staff admin: {} / {}  (shown once: change it after logging in)",
                    admin.staff.username, admin.initial_password
                );
            }
        }
        Command::Tenant {
            command: TenantCommand::List,
        } => {
            let pool = db::connect(&config.database_url, 2).await?;
            migrate::migrate_platform(&pool).await?;
            for t in tenancy::list(&pool)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?
            {
                println!("{}\t{:?}\t{}", t.slug, t.status, t.name);
            }
        }
        Command::PlatformStaff {
            command:
                PlatformStaffCommand::Create {
                    username,
                    display_name,
                },
        } => {
            let pool = db::connect(&config.database_url, 2).await?;
            migrate::migrate_platform(&pool).await?;
            let password = platform::create_staff(&pool, &username, &display_name)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("platform staff {username} created; password (shown once): {password}");
        }
        Command::Openapi | Command::VerifyMatter { .. } => unreachable!("handled above"),
    }
    Ok(())
}

/// Applies the demo manifest and gives its admin a fresh password printed to the console, so a
/// newcomer can log in at once. Only ever done with `--demo`.
async fn prepare_demo(state: &zhimaguan::state::AppState) -> anyhow::Result<()> {
    let applied =
        tenancy::manifest::apply(&state.pool, &tenancy::manifest::parse(DEMO_MANIFEST)?).await?;
    let password = zhimaguan::auth::password::generate();
    let hash = zhimaguan::auth::password::hash(password.clone())
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let conn = tenancy::conn::TenantConn::begin(&state.pool, &applied.tenant)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    zhimaguan::auth::store::set_staff_password(&conn, "admin", &hash)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    conn.commit().await?;
    println!("demo tenant `demo` ready; street-staff login: admin / {password}  (X-Tenant: demo is the default)");
    println!("demo owners (芝麻花园, 288 units, 40 verified): phone 13700000001 … 13700000040, password {}", zhimaguan::housing::demo::DEMO_OWNER_PASSWORD);
    Ok(())
}

/// SIGTERM (Kubernetes stopping the pod) or Ctrl-C: stop accepting, finish what is in flight.
async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
    tracing::info!("shutdown requested; finishing requests in flight");
}

/// The keys file as `GET /api/platform/signing-keys` answers it (a page: `items`), or as a bare
/// list (files saved before lists were paged).
fn published_keys(text: &str) -> anyhow::Result<Vec<zhimaguan::voting::signing::PublishedKey>> {
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum Keys {
        Page {
            items: Vec<zhimaguan::voting::signing::PublishedKey>,
        },
        List(Vec<zhimaguan::voting::signing::PublishedKey>),
    }
    Ok(match serde_json::from_str(text)? {
        Keys::Page { items } | Keys::List(items) => items,
    })
}

/// Offline check of a published ledger; exits non-zero when anything does not verify.
fn verify_matter(
    path: &std::path::Path,
    keys: Option<&std::path::Path>,
    earlier: Option<&std::path::Path>,
    require_log: bool,
) -> anyhow::Result<()> {
    use zhimaguan::{transparency::proof::LeafKind, voting::ledger};
    let text = std::fs::read_to_string(path)?;
    let published: ledger::PublishedLedger = serde_json::from_str(&text)?;
    let v = match keys {
        Some(file) => ledger::verify_with_keys(
            &published,
            &published_keys(&std::fs::read_to_string(file)?)?,
        ),
        None => ledger::verify(&published),
    };
    println!(
        "entries: {}, altered: {:?}",
        published.entries.len(),
        v.altered_entries
    );
    println!(
        "opening (roll, rules, settings): {}",
        if published.version < 2 {
            "not committed (version 1)"
        } else if v.opening_matches {
            "match"
        } else {
            "MISMATCH"
        }
    );
    println!(
        "version {}: {}",
        published.version,
        if v.version_consistent {
            "consistent with its contents"
        } else {
            "INCONSISTENT with its contents or unknown"
        }
    );
    println!(
        "entries in published order: {}",
        if v.order_matches {
            "yes"
        } else {
            "NO (reordered)"
        }
    );
    println!(
        "entries whose units or area disagree with the roll: {:?}",
        v.units_mismatched
    );
    println!(
        "rule set {}: {}",
        published.rule_set.id,
        if v.rules_match_preset {
            "fractions as named"
        } else {
            "FRACTIONS DIFFER FROM THE NAMED PRESET"
        }
    );
    if published.version >= 4 {
        println!(
            "ballots whose superseded mark disagrees with the recount: {:?}",
            v.inconsistent_marks
        );
    }
    println!(
        "checkpoints: {}, broken: {:?}",
        published.checkpoints.len(),
        v.broken_checkpoints
    );
    if !v.signatures_checked {
        println!(
            "signatures: not checked{}",
            if v.needs_keys {
                " -- this ledger is signed: give --keys (GET /api/platform/signing-keys)"
            } else {
                ""
            }
        );
    } else {
        println!(
            "signatures of {}: unsigned checkpoints {:?}, bad {:?}",
            published.tenant, v.unsigned_checkpoints, v.bad_signatures
        );
    }
    if published.version >= 5 && !published.sealed {
        println!(
            "whole ledger signed (last checkpoint covers every entry and the root): {}",
            if v.root_signed { "yes" } else { "NO" }
        );
    }
    println!(
        "root: published {} / recomputed {} -> {}",
        published.root,
        v.recomputed_root,
        if v.root_matches { "match" } else { "MISMATCH" }
    );
    if published.version >= 3 {
        println!(
            "choices: {} still sealed, {} revealed choices break their commitment {:?}",
            v.sealed_entries,
            v.broken_commitments.len(),
            v.broken_commitments
        );
    }
    if v.sealed_entries > 0 {
        println!("voting is open: the tally can be recomputed once the close reveals the choices");
    }
    if let Some(t) = &v.tally {
        println!(
            "tally ({}): participants {} heads / {} m2, agree {} / {}, passed: {}",
            t.rule_set,
            t.participants.heads,
            zhimaguan::housing::area::format(t.participants.area_centi),
            t.agree.heads,
            zhimaguan::housing::area::format(t.agree.area_centi),
            t.passed
        );
    }
    // A closed ledger's log proof should be of its declared result; an open one's, of its last
    // checkpoint.
    let last_checkpoint = published.checkpoints.last().map_or(0, |c| c.entries);
    let log_complete = published
        .log
        .as_ref()
        .is_some_and(|l| match published.declared {
            Some(_) => l.kind == LeafKind::Result,
            None => l.kind == LeafKind::Checkpoint && l.entries == last_checkpoint,
        });
    // Anyone can sign a head: only the log's published key makes the proof count.
    let log_complete = log_complete && v.log_key_published == Some(true);
    match (&published.log, v.log_included) {
        (Some(log), Some(proven)) => println!(
            "transparency log: {} is leaf {} of the log's {} under the head of {} (root {}): {}{}",
            match log.kind {
                LeafKind::Result => "the declared result".to_string(),
                LeafKind::Checkpoint => format!("the checkpoint over {} entries", log.entries),
            },
            log.leaf_index,
            log.head.size,
            log.head.signed_at,
            log.head.root,
            if proven { "proven" } else { "PROOF FAILS" },
            match v.log_key_published {
                Some(true) => ", signed by the log's published key",
                Some(false) => ", but NOT SIGNED BY THE LOG'S PUBLISHED KEY",
                None => " (the head's key is not checked without --keys)",
            }
        ),
        _ => println!("transparency log: no inclusion proof yet (the log takes checkpoints and results in at its next turn)"),
    }
    if published.log.is_some() && !log_complete {
        println!(
            "transparency log: {} is not in the log yet",
            if published.declared.is_some() {
                "the declared result".to_string()
            } else {
                format!("the last checkpoint (over {last_checkpoint} entries)")
            }
        );
    }
    if require_log && !log_complete {
        println!(
            "--require-log: the declared result (or, while voting is open, the last checkpoint) must be proven in the log, under a head signed by the log's published key{}",
            if keys.is_none() { " (give --keys)" } else { "" }
        );
    }
    let changed = match earlier {
        Some(file) => {
            let earlier: ledger::PublishedLedger =
                serde_json::from_str(&std::fs::read_to_string(file)?)?;
            let changed = ledger::changed_since(&earlier, &published);
            println!(
                "since the earlier copy ({} checkpoints): {}",
                earlier.checkpoints.len(),
                if changed.is_empty() {
                    "nothing sealed has changed".to_string()
                } else {
                    format!("CHANGED checkpoints {changed:?}")
                }
            );
            changed
        }
        None => Vec::new(),
    };
    // Development mode signs with a key derived from a secret published in the source.
    let key_ids = published
        .checkpoints
        .iter()
        .filter_map(|c| c.key_id.as_deref());
    let key_ids = key_ids.chain(published.declared.iter().map(|d| d.key_id.as_str()));
    let mut key_ids = key_ids.chain(published.log.iter().map(|l| l.head.key_id.as_str()));
    let development = key_ids.any(|k| k.ends_with(zhimaguan::voting::signing::DEVELOPMENT_SUFFIX));
    if development {
        println!(
            "signed with a DEVELOPMENT key, whose secret is public: these signatures prove nothing"
        );
    }
    if !v.intact() || !changed.is_empty() || (require_log && !log_complete) || development {
        anyhow::bail!("the ledger does not verify");
    }
    Ok(())
}
