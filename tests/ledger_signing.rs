//! Ledgers signed by the street office, as an auditor and a forger meet them: the platform
//! publishes each street office's public key to anyone; a closed ledger verifies with it online
//! and offline; and someone who can write the database, who flips a ballot and re-hashes the
//! whole ledger (entry, commitment, checkpoints, declared root, even the ballots table) so that
//! every hash matches, is still caught, because they cannot sign.

mod common;

use common::estate::Estate;
use reqwest::Method;
use serde_json::{json, Value};
use uuid::Uuid;
use zhimaguan::voting::{
    ledger::{commitment, entry_hash, leaves, merkle_root, opening_hash, PublishedLedger},
    tally::Choice,
};

#[tokio::test]
async fn a_forger_who_can_write_the_database_and_rehashes_everything_is_caught_by_the_street_offices_signature(
) {
    let e = Estate::new(3, false).await;
    let matter = closed_matter(&e).await;

    // The platform publishes the street office's key to anyone, and in its tenant detail, and
    // beside it the transparency log's key, once the log has signed a head.
    zhimaguan::transparency::sequencer::run(&e.app.state)
        .await
        .unwrap();
    let (s, keys) = e
        .app
        .call(
            Method::GET,
            &format!("/api/platform/signing-keys?tenant={}", e.t.tenant.slug),
            None,
            None,
            None,
        )
        .await;
    assert_eq!(s, 200, "{keys}");
    let (log_keys, keys): (Vec<Value>, Vec<Value>) = keys["items"]
        .as_array()
        .unwrap()
        .iter()
        .cloned()
        .partition(|k| k["tenant"] == "@transparency-log");
    assert_eq!(
        (log_keys.len(), keys.len()),
        (1, 1),
        "{log_keys:?} {keys:?}"
    );
    assert!(
        keys[0]["public_key"]
            .as_str()
            .is_some_and(|k| k.len() == 64)
            && keys[0]["tenant"] == e.t.tenant.slug.as_str(),
        "{keys:?}"
    );
    let platform = e.app.platform_token().await;
    let (_, detail) = e
        .app
        .call(
            Method::GET,
            &format!("/api/platform/tenants/{}", e.t.tenant.slug),
            None,
            Some(&platform),
            None,
        )
        .await;
    assert_eq!(detail["signing_keys"], json!(keys), "{detail}");

    // The closed ledger is signed throughout and verifies, online and offline.
    let ledger = e.ledger(&matter).await;
    assert_eq!(ledger["version"], 5);
    assert!(
        ledger["checkpoints"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["signature"].is_string() && c["key_id"] == keys[0]["key_id"]),
        "{ledger}"
    );
    e.verification(&matter).await;
    let (ok, report) = e.verify_offline(&ledger).await;
    assert!(ok, "{report}");
    let (unsigned_ok, report) = {
        let file = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("unkeyed-{matter}.json"));
        std::fs::write(&file, ledger.to_string()).unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_zmg"))
            .args(["verify-matter", file.to_str().unwrap()])
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    assert!(
        !unsigned_ok && report.contains("give --keys"),
        "a signed ledger is not vouched for without the keys: {report}"
    );

    // The forger flips the disagreeing ballot to agree and re-hashes everything, past the
    // append-only triggers.
    let mut forged: PublishedLedger = serde_json::from_value(ledger.clone()).unwrap();
    let i = forged
        .entries
        .iter()
        .position(|x| x.choice == Some(Choice::Disagree))
        .unwrap();
    let target = &mut forged.entries[i];
    target.choice = Some(Choice::Agree);
    target.commitment = Some(commitment(
        &matter,
        target.seq,
        Choice::Agree,
        None,
        target.salt.as_deref().unwrap(),
    ));
    target.hash = entry_hash(&matter, target);
    let (seq, new_commitment, new_hash) = (
        target.seq,
        target.commitment.clone().unwrap(),
        target.hash.clone(),
    );
    let all = leaves(&forged.opening_hash, &forged.entries);
    let conn = e.app.conn(&e.t.tenant).await;
    conn.batch_execute("SET LOCAL session_replication_role = replica")
        .await
        .unwrap();
    conn.execute(
        "UPDATE ledger_entries SET choice = 'agree', commitment = $2, hash = $3 WHERE seq = $1",
        &[&seq, &new_commitment, &new_hash],
    )
    .await
    .unwrap();
    let ballot = Uuid::parse_str(&forged.entries[i].ballot_id).unwrap();
    conn.execute(
        "UPDATE ballots SET choice = 'agree' WHERE id = $1",
        &[&ballot],
    )
    .await
    .unwrap();
    let id = Uuid::parse_str(&matter).unwrap();
    for c in &forged.checkpoints {
        let root = merkle_root(&all[..=c.entries as usize]);
        conn.execute(
            "UPDATE ledger_checkpoints SET root = $3 WHERE matter_id = $1 AND entries = $2",
            &[&id, &c.entries, &root],
        )
        .await
        .unwrap();
    }
    let root = merkle_root(&all);
    conn.execute("UPDATE matters SET result = jsonb_set(result, '{ledger_root}', to_jsonb($2::text)) WHERE id = $1", &[&id, &root]).await.unwrap();
    conn.commit().await.unwrap();

    // Every hash, commitment and the recount agree with the forgery; the signatures do not.
    let (_, v) = e
        .app
        .call(
            Method::GET,
            &format!("/api/matters/{matter}/ledger/verification"),
            e.slug(),
            Some(&e.t.admin_token),
            None,
        )
        .await;
    let consistent = (
        v["root_matches"].as_bool(),
        v["altered_entries"].clone(),
        v["broken_commitments"].clone(),
        v["tally_matches"].as_bool(),
    );
    assert_eq!(
        consistent,
        (Some(true), json!([]), json!([]), Some(true)),
        "the forgery is internally consistent: {v}"
    );
    assert!(
        !v["bad_signatures"].as_array().unwrap().is_empty() && v["intact"] == false,
        "{v}"
    );
    let forged_ledger: Value = e.ledger(&matter).await;
    let (ok, report) = e.verify_offline(&forged_ledger).await;
    assert!(!ok && report.contains("bad ["), "{report}");
    // An owner who saved the ledger at the close sees what changed since, by checkpoint.
    let (ok, report) = e.verify_offline_since(&forged_ledger, Some(&ledger)).await;
    assert!(!ok && report.contains("CHANGED checkpoints"), "{report}");
    let (ok, report) = e.verify_offline_since(&ledger, Some(&ledger)).await;
    assert!(
        ok && report.contains("nothing sealed has changed"),
        "{report}"
    );
    // The published key itself cannot be swapped for the forger's.
    let conn = e.app.conn(&e.t.tenant).await;
    let swapped = conn
        .execute(
            "UPDATE platform.signing_keys SET public_key = repeat('0', 64) WHERE tenant_id = $1",
            &[&e.t.tenant.id],
        )
        .await;
    assert!(swapped.is_err_and(|err| format!("{err:?}").contains("append-only")));
}

/// Closes a matter the three owners voted on (agree, agree, disagree); returns its id.
async fn closed_matter(e: &Estate) -> String {
    let owners = [e.owner(0).await, e.owner(1).await, e.owner(2).await];
    let (_, m) = e.matter(&e.t.admin_token, 4).await;
    let matter = m["id"].as_str().unwrap().to_string();
    for (owner, choice) in owners.iter().zip(["agree", "agree", "disagree"]) {
        assert_eq!(e.cast(owner, &matter, choice, choice).await.0, 201);
    }
    let conn = e.app.conn(&e.t.tenant).await;
    conn.execute(
        "UPDATE matters SET closes_at = now() - interval '1 second' WHERE id = $1",
        &[&Uuid::parse_str(&matter).unwrap()],
    )
    .await
    .unwrap();
    conn.commit().await.unwrap();
    let (s, closed) = e
        .app
        .call(
            Method::POST,
            &format!("/api/matters/{matter}/close"),
            e.slug(),
            Some(&e.t.admin_token),
            None,
        )
        .await;
    assert_eq!(s, 200, "{closed}");
    matter
}

#[tokio::test]
async fn a_key_slipped_into_the_database_or_signatures_stripped_with_a_downgrade_do_not_pass() {
    let e = Estate::new(3, false).await;
    let matter = closed_matter(&e).await;
    e.verification(&matter).await;
    // A key added by hand, as a forger who signs with it would add it: neither published nor
    // trusted by the service's own check.
    let conn = e.app.conn(&e.t.tenant).await;
    conn.execute("INSERT INTO platform.signing_keys (tenant_id, key_id, public_key) VALUES ($1, 'k1-r', repeat('ab', 32))", &[&e.t.tenant.id]).await.unwrap();
    conn.commit().await.unwrap();
    let (_, keys) = e
        .app
        .call(
            Method::GET,
            &format!("/api/platform/signing-keys?tenant={}", e.t.tenant.slug),
            None,
            None,
            None,
        )
        .await;
    assert!(
        keys["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|k| k["key_id"] != "k1-r"),
        "{keys}"
    );

    // The forger strips every signature, the facts and the declared result, relabels the ledger
    // as version 4 and re-hashes its opening and checkpoints, so that version 4's checks pass;
    // the transparency log still holds the signed checkpoints.
    let id = Uuid::parse_str(&matter).unwrap();
    let mut l: PublishedLedger = serde_json::from_value(e.ledger(&matter).await).unwrap();
    l.version = 4;
    let opening = opening_hash(
        4,
        &matter,
        &l.rule_set,
        &l.settings,
        l.channel_rule,
        &l.roll,
        &l.candidates,
    );
    let all = leaves(&opening, &l.entries);
    let conn = e.app.conn(&e.t.tenant).await;
    conn.batch_execute("SET LOCAL session_replication_role = replica")
        .await
        .unwrap();
    for c in &l.checkpoints {
        let root = merkle_root(&all[..=c.entries as usize]);
        conn.execute(
            "UPDATE ledger_checkpoints SET root = $3, key_id = NULL, signature = NULL WHERE matter_id = $1 AND entries = $2",
            &[&id, &c.entries, &root],
        )
        .await
        .unwrap();
    }
    let root = merkle_root(&all);
    conn.execute(
        "UPDATE matters SET ledger_version = 4, opening_facts = NULL, result = jsonb_set(result - 'declared', '{ledger_root}', to_jsonb($2::text)) WHERE id = $1",
        &[&id, &root],
    )
    .await
    .unwrap();
    conn.commit().await.unwrap();
    let (_, v) = e
        .app
        .call(
            Method::GET,
            &format!("/api/matters/{matter}/ledger/verification"),
            e.slug(),
            Some(&e.t.admin_token),
            None,
        )
        .await;
    let own = (
        v["root_matches"].as_bool(),
        v["opening_matches"].as_bool(),
        v["version_consistent"].as_bool(),
        v["broken_checkpoints"].clone(),
    );
    assert_eq!(
        own,
        (Some(true), Some(true), Some(true), json!([])),
        "the downgrade is self-consistent: {v}"
    );
    assert!(
        !v["log_mismatches"].as_array().unwrap().is_empty() && v["intact"] == false,
        "{v}"
    );
}

#[tokio::test]
async fn a_ledger_signed_in_development_mode_is_refused_offline() {
    // Development mode without a secret signs with a key anyone can derive from the source.
    let mut config = common::test_config();
    (config.signing_secret, config.dev_mode) = (None, true);
    let e = Estate::on(common::TestApp::start_with(config).await, 3).await;
    let matter = closed_matter(&e).await;
    let ledger = e.ledger(&matter).await;
    assert!(
        ledger["checkpoints"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["key_id"] == "k1-development"),
        "{ledger}"
    );
    let (ok, report) = e.verify_offline(&ledger).await;
    assert!(!ok && report.contains("DEVELOPMENT key"), "{report}");
}
