//! The transparency log as a mirror and a forger meet it. A mirror (anyone, no login) keeps the
//! signed tree head it saw, checks that a ballot ledger's checkpoint is in the log, and later
//! that every new head extends the one it kept. Someone who can write the database rewrites a
//! logged checkpoint past the append-only trigger: the log's new heads can no longer be proven
//! consistent with the head the mirror kept.

mod common;

use chrono::DateTime;
use common::estate::Estate;
use reqwest::Method;
use serde_json::{json, Value};
use uuid::Uuid;
use zhimaguan::{
    transparency::{merkle, proof, sequencer},
    voting::{checkpointer, signing},
};

fn hash(hex_text: &str) -> merkle::Hash {
    hex::decode(hex_text).unwrap().try_into().unwrap()
}

fn hashes(proof: &Value) -> Vec<merkle::Hash> {
    proof
        .as_array()
        .unwrap()
        .iter()
        .map(|h| hash(h.as_str().unwrap()))
        .collect()
}

/// Seals the estate's ledgers and runs the log's sequencer; returns the latest head, its
/// signature checked against `pinned` (the first key the mirror saw) when given.
async fn head(e: &Estate, pinned: Option<&str>) -> Value {
    checkpointer::seal_tenant(&e.app.state, &e.t.tenant)
        .await
        .unwrap();
    sequencer::run(&e.app.state).await.unwrap();
    let (s, h) = e
        .app
        .call(Method::GET, "/api/platform/log/head", None, None, None)
        .await;
    assert_eq!(s, 200, "{h}");
    let key = signing::PublishedKey {
        tenant: String::new(),
        key_id: h["key_id"].as_str().unwrap().into(),
        public_key: h["public_key"].as_str().unwrap().into(),
    };
    assert_eq!(
        pinned.unwrap_or(&key.public_key),
        key.public_key,
        "the log's key is the one the mirror pinned"
    );
    let signed_at = DateTime::parse_from_rfc3339(h["signed_at"].as_str().unwrap())
        .unwrap()
        .to_utc();
    let message = proof::head_message(
        h["size"].as_i64().unwrap(),
        h["root"].as_str().unwrap(),
        &signed_at,
    );
    assert!(
        signing::verifies(&key, &message, h["signature"].as_str().unwrap()),
        "the head is signed by the log: {h}"
    );
    h
}

async fn consistent(e: &Estate, old: &Value, new: &Value) -> bool {
    let (first, second) = (old["size"].as_i64().unwrap(), new["size"].as_i64().unwrap());
    let (s, c) = e
        .app
        .call(
            Method::GET,
            &format!("/api/platform/log/consistency?first={first}&second={second}"),
            None,
            None,
            None,
        )
        .await;
    assert_eq!(s, 200, "{c}");
    merkle::verify_consistency(
        first as u64,
        second as u64,
        &hash(old["root"].as_str().unwrap()),
        &hash(new["root"].as_str().unwrap()),
        &hashes(&c["proof"]),
    )
}

#[tokio::test]
async fn a_mirror_that_kept_an_old_tree_head_detects_a_rewritten_checkpoint() {
    let e = Estate::new(3, false).await;
    let owners = [e.owner(0).await, e.owner(1).await, e.owner(2).await];
    let (_, m) = e.matter(&e.t.admin_token, 4).await;
    let matter = m["id"].as_str().unwrap().to_string();
    assert_eq!(e.cast(&owners[0], &matter, "agree", "a").await.0, 201);
    let kept = head(&e, None).await;
    let pinned = kept["public_key"].as_str().unwrap().to_string();

    // The checkpoint over the first ballot is in the log the mirror kept, exactly as published.
    let ledger = e.ledger(&matter).await;
    let checkpoint = ledger["checkpoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["entries"] == 1)
        .unwrap()
        .clone();
    let path = format!(
        "/api/platform/log/inclusion?tenant={}&matter_id={matter}&entries=1&tree_size={}",
        e.t.tenant.slug, kept["size"]
    );
    let (s, inclusion) = e.app.call(Method::GET, &path, None, None, None).await;
    assert_eq!(s, 200, "{inclusion}");
    let leaf = inclusion["leaf"].as_str().unwrap();
    assert!(
        leaf.contains(checkpoint["root"].as_str().unwrap())
            && leaf.contains(checkpoint["signature"].as_str().unwrap()),
        "{leaf}"
    );
    let (index, size) = (
        inclusion["leaf_index"].as_u64().unwrap(),
        kept["size"].as_u64().unwrap(),
    );
    let leaf_hash = merkle::leaf_hash(leaf.as_bytes());
    assert!(merkle::verify_inclusion(
        index,
        size,
        &leaf_hash,
        &hashes(&inclusion["proof"]),
        &hash(kept["root"].as_str().unwrap())
    ));

    // The log grows with the next checkpoint, and the new head extends the kept one.
    assert_eq!(e.cast(&owners[1], &matter, "agree", "b").await.0, 201);
    let grown = head(&e, Some(&pinned)).await;
    assert!(grown["size"].as_i64() > kept["size"].as_i64(), "{grown}");
    assert!(
        consistent(&e, &kept, &grown).await,
        "an honest log is consistent"
    );

    // A forger rewrites the logged checkpoint (its root and leaf hash), past the trigger, and
    // every stored subtree above it, so that the log's own proofs agree with the rewrite.
    let forged_leaf = leaf.replace(checkpoint["root"].as_str().unwrap(), &"f".repeat(64));
    let conn = e.app.conn(&e.t.tenant).await;
    conn.batch_execute("SET LOCAL session_replication_role = replica")
        .await
        .unwrap();
    let forged_hash = hex::encode(merkle::leaf_hash(forged_leaf.as_bytes()));
    let n = conn
        .execute(
            "UPDATE platform.log_leaves SET leaf = $3, leaf_hash = $4 WHERE matter_id = $1 AND entries = $2",
            &[&Uuid::parse_str(&matter).unwrap(), &1i64, &forged_leaf, &forged_hash],
        )
        .await
        .unwrap();
    assert_eq!(n, 1);
    let index = index as i64;
    conn.execute(
        "UPDATE platform.log_nodes SET hash = decode($2, 'hex') WHERE level = 0 AND index = $1",
        &[&index, &forged_hash],
    )
    .await
    .unwrap();
    for level in 1i16..62 {
        conn.execute(
            "UPDATE platform.log_nodes p SET hash = sha256(decode('01', 'hex') || l.hash || r.hash)
               FROM platform.log_nodes l, platform.log_nodes r
              WHERE p.level = $1 AND p.index = $2::bigint >> $1 AND l.level = $1 - 1 AND l.index = 2 * p.index AND r.level = $1 - 1 AND r.index = 2 * p.index + 1",
            &[&level, &index],
        )
        .await
        .unwrap();
    }
    conn.commit().await.unwrap();
    let index = index as u64;
    // Without those rights the log refuses any change.
    let conn = e.app.conn(&e.t.tenant).await;
    let refused = conn
        .execute(
            "UPDATE platform.log_leaves SET leaf = 'x' WHERE matter_id = $1",
            &[&Uuid::parse_str(&matter).unwrap()],
        )
        .await;
    assert!(refused.is_err_and(|err| format!("{err:?}").contains("append-only")));
    drop(conn);

    // The next head covers the rewrite: the mirror's kept head proves it.
    assert_eq!(e.cast(&owners[2], &matter, "disagree", "c").await.0, 201);
    let after = head(&e, Some(&pinned)).await;
    assert!(
        !consistent(&e, &kept, &after).await,
        "the rewritten log does not extend the kept head"
    );
    let (_, inclusion) = e.app.call(Method::GET, &path, None, None, None).await;
    let rehashed = merkle::leaf_hash(inclusion["leaf"].as_str().unwrap().as_bytes());
    assert!(!merkle::verify_inclusion(
        index,
        size,
        &rehashed,
        &hashes(&inclusion["proof"]),
        &hash(kept["root"].as_str().unwrap())
    ));
}

/// MTH over leaf hashes, as RFC 9162 §2.1.1 defines it.
fn reference_root(leaves: &[merkle::Hash]) -> merkle::Hash {
    match leaves.len() {
        0 => <[u8; 32]>::from(<sha2::Sha256 as sha2::Digest>::digest([])),
        1 => leaves[0],
        n => {
            let mut k = 1;
            while k * 2 < n {
                k *= 2;
            }
            merkle::node_hash(&reference_root(&leaves[..k]), &reference_root(&leaves[k..]))
        }
    }
}

#[tokio::test]
async fn the_signed_root_is_the_rfc_9162_root_over_every_leaf_it_covers() {
    let e = Estate::new(1, false).await;
    let owner = e.owner(0).await;
    let (_, m) = e.matter(&e.t.admin_token, 4).await;
    assert_eq!(
        e.cast(&owner, m["id"].as_str().unwrap(), "agree", "a")
            .await
            .0,
        201
    );
    let h = head(&e, None).await;
    let size = h["size"].as_i64().unwrap();
    // The log's leaves as stored, hashed again from their text.
    let conn = e.app.conn(&e.t.tenant).await;
    let rows = conn
        .query(
            "SELECT leaf FROM platform.log_leaves WHERE position < $1 ORDER BY position",
            &[&size],
        )
        .await
        .unwrap();
    let leaves: Vec<merkle::Hash> = rows
        .iter()
        .map(|r| merkle::leaf_hash(r.get::<_, String>(0).as_bytes()))
        .collect();
    assert_eq!(leaves.len() as i64, size);
    assert_eq!(
        hex::encode(reference_root(&leaves)),
        h["root"].as_str().unwrap(),
        "the head from stored subtrees is the root over the leaves"
    );
}

#[tokio::test]
async fn a_ledger_proves_its_last_checkpoint_is_in_the_log_and_verify_matter_checks_that_proof() {
    let e = Estate::new(2, false).await;
    let owners = [e.owner(0).await, e.owner(1).await];
    let (_, m) = e.matter(&e.t.admin_token, 4).await;
    let matter = m["id"].as_str().unwrap().to_string();
    for (owner, key) in owners.iter().zip(["a", "b"]) {
        assert_eq!(e.cast(owner, &matter, "agree", key).await.0, 201);
    }
    let h = head(&e, None).await;
    let ledger = e.ledger(&matter).await;
    let checkpoints = ledger["checkpoints"].as_array().unwrap();
    let last = checkpoints.last().unwrap();
    assert_eq!(
        (&ledger["log"]["entries"], last["entries"].as_i64()),
        (&last["entries"], Some(2)),
        "{ledger}"
    );
    assert!(
        ledger["log"]["head"]["size"].as_i64() <= h["size"].as_i64(),
        "{ledger}"
    );
    assert_eq!(e.verification(&matter).await["log_included"], true);
    let (ok, report) = e
        .verify_offline_with(&ledger, None, &["--require-log"])
        .await;
    assert!(
        ok && report.contains("proven, signed by the log's published key"),
        "{report}"
    );

    // A proof bent anywhere fails: a sibling hash, the leaf's index, the head's root or size.
    for (field, value) in [
        ("/log/proof/0", json!("0".repeat(64))),
        ("/log/leaf_index", json!(0)),
        ("/log/head/size", json!(1)),
    ] {
        let mut bent = ledger.clone();
        if bent.pointer(field) == Some(&value) {
            continue;
        }
        *bent.pointer_mut(field).unwrap() = value;
        let (ok, report) = e.verify_offline(&bent).await;
        assert!(!ok && report.contains("PROOF FAILS"), "{field}: {report}");
    }

    // A forger who cannot sign as the log makes a log of their own: one leaf, the checkpoint as
    // the ledger shows it, under a head they sign. It proves inclusion, but not by the log's key.
    let forger = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
    let text = |v: &Value| v.as_str().unwrap().to_string();
    let (tenant, key_id, signature, root) = (
        text(&ledger["tenant"]),
        text(&last["key_id"]),
        text(&last["signature"]),
        text(&last["root"]),
    );
    let leaf = proof::Leaf {
        kind: proof::LeafKind::Checkpoint,
        tenant: &tenant,
        matter_id: &matter,
        version: 5,
        entries: 2,
        root: &root,
        key_id: &key_id,
        signature: &signature,
    };
    let forged_root = hex::encode(merkle::leaf_hash(leaf.text().as_bytes()));
    let signed_at = DateTime::parse_from_rfc3339(h["signed_at"].as_str().unwrap())
        .unwrap()
        .to_utc();
    let forged_signature = hex::encode(
        ed25519_dalek::Signer::sign(&forger, &proof::head_message(1, &forged_root, &signed_at))
            .to_bytes(),
    );
    let mut forged = ledger.clone();
    forged["log"] = json!({"entries": 2, "leaf_index": 0, "proof": [], "head": {
        "size": 1, "root": forged_root, "signed_at": h["signed_at"], "key_id": "log-v1",
        "public_key": hex::encode(forger.verifying_key().as_bytes()), "signature": forged_signature}});
    let (ok, report) = e.verify_offline(&forged).await;
    assert!(
        !ok && report.contains("proven, but NOT SIGNED BY THE LOG'S PUBLISHED KEY"),
        "{report}"
    );
    // Without the keys nothing says whose head it is: --require-log then refuses rather than
    // trusting a head anyone could have signed.
    let (ok, report) = e
        .verify_offline_with(&forged, None, &["--no-keys", "--require-log"])
        .await;
    assert!(!ok && report.contains("(give --keys)"), "{report}");
    // Relabelled as an older version, which needs no keys: what only version 5 carries gives it
    // away.
    let mut relabelled = ledger.clone();
    relabelled["version"] = json!(4);
    let (ok, report) = e
        .verify_offline_with(&relabelled, None, &["--no-keys"])
        .await;
    assert!(!ok && report.contains("INCONSISTENT"), "{report}");

    // Stripping the proof leaves a ledger that says nothing of the log: enough for a quick look,
    // refused where the log is required.
    let mut stripped = ledger.clone();
    stripped.as_object_mut().unwrap().remove("log");
    assert!(e.verify_offline(&stripped).await.0);
    let (ok, report) = e
        .verify_offline_with(&stripped, None, &["--require-log"])
        .await;
    assert!(!ok && report.contains("no inclusion proof yet"), "{report}");
}

#[tokio::test]
async fn a_closed_ledger_proves_its_declared_result_is_in_the_log() {
    let e = Estate::new(2, false).await;
    let owners = [e.owner(0).await, e.owner(1).await];
    let (_, m) = e.matter(&e.t.admin_token, 4).await;
    let matter = m["id"].as_str().unwrap().to_string();
    for (owner, choice) in owners.iter().zip(["agree", "disagree"]) {
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
    let h = head(&e, None).await;

    // The log took the declared result in with the close; the ledger proves that leaf.
    let ledger = e.ledger(&matter).await;
    assert_eq!(
        (&ledger["log"]["kind"], &ledger["log"]["entries"]),
        (&json!("result"), &ledger["declared"]["result"]["entries"]),
        "{ledger}"
    );
    let (ok, report) = e
        .verify_offline_with(&ledger, None, &["--require-log"])
        .await;
    assert!(
        ok && report.contains("the declared result is leaf"),
        "{report}"
    );
    assert_eq!(e.verification(&matter).await["log_mismatches"], json!([]));
    let path = format!("/api/platform/log/inclusion?tenant={}&matter_id={matter}&entries=2&kind=result&tree_size={}", e.t.tenant.slug, h["size"]);
    let (s, inclusion) = e.app.call(Method::GET, &path, None, None, None).await;
    assert_eq!(s, 200, "{inclusion}");
    assert!(
        inclusion["leaf"]
            .as_str()
            .unwrap()
            .starts_with("zmg-log-result-v1\n"),
        "{inclusion}"
    );

    // A ledger that shows a checkpoint's proof instead (an earlier one, say) is not enough once
    // the result is declared.
    let mut earlier = ledger.clone();
    let checkpoint = store_inclusion(&e, &matter, 2).await;
    earlier["log"] = checkpoint;
    let (ok, report) = e
        .verify_offline_with(&earlier, None, &["--require-log"])
        .await;
    assert!(
        !ok && report.contains("the declared result is not in the log yet"),
        "{report}"
    );
    assert!(
        e.verify_offline(&earlier).await.0,
        "a true proof of a checkpoint still verifies without --require-log"
    );
}

/// The final checkpoint's inclusion in the latest head, as a ledger's `log` shows it.
async fn store_inclusion(e: &Estate, matter: &str, entries: i64) -> Value {
    let (_, h) = e
        .app
        .call(Method::GET, "/api/platform/log/head", None, None, None)
        .await;
    let path = format!(
        "/api/platform/log/inclusion?tenant={}&matter_id={matter}&entries={entries}&tree_size={}",
        e.t.tenant.slug, h["size"]
    );
    let (s, inclusion) = e.app.call(Method::GET, &path, None, None, None).await;
    assert_eq!(s, 200, "{inclusion}");
    json!({"kind": "checkpoint", "entries": entries, "leaf_index": inclusion["leaf_index"], "proof": inclusion["proof"], "head": h})
}
