//! Receipts that follow the ballot, as an owner and a stranger holding a receipt use them: the
//! owner sees each of their ballots (online, and paper ones they signed) and what became of it,
//! with the reason when staff voided one; anyone with an entry hash sees the fate, never the
//! reason, a name or the choice; and once sealed, the checkpoint and the log index.

mod common;

use common::estate::Estate;
use reqwest::Method;
use serde_json::{json, Value};
use zhimaguan::{
    transparency::{
        proof::{Leaf, LeafKind, LogInclusion},
        sequencer,
    },
    voting::{
        checkpointer, ledger,
        signing::{self, PublishedKey},
    },
};

const GET: Method = Method::GET;

/// (entry_hash → fate) of the owner's receipts.
async fn fates(e: &Estate, owner: &str) -> Vec<(String, String, Option<String>)> {
    let (s, list) = e
        .app
        .call(GET, "/api/me/receipts", e.slug(), Some(owner), None)
        .await;
    assert_eq!(s, 200, "{list}");
    let mut out: Vec<_> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["channel"].as_str().unwrap().to_string(),
                r["fate"].as_str().unwrap().to_string(),
                r["void_reason"].as_str().map(str::to_owned),
            )
        })
        .collect();
    out.sort();
    out
}

/// Checks a receipt's proof as its holder would: the entry's path gives the checkpoint's root,
/// the street office signed that checkpoint, and the log holds it under a head signed by the
/// log's published key. Names the first link that fails.
fn proven(receipt: &Value, keys: &[PublishedKey]) -> Result<(), &'static str> {
    let text = |f: &str| receipt[f].as_str().unwrap_or_default().to_string();
    let (position, entries, version) = (
        receipt["position"].as_u64().unwrap(),
        receipt["checkpoint_entries"].as_i64().unwrap(),
        receipt["ledger_version"].as_u64().unwrap() as u8,
    );
    let path: Vec<String> = serde_json::from_value(receipt["ledger_path"].clone()).unwrap();
    let root = ledger::root_from_path(
        position as usize,
        entries as usize + 1,
        &text("entry_hash"),
        &path,
    );
    if root.as_deref() != Some(text("checkpoint_root").as_str()) {
        return Err("entry");
    }
    let (tenant, matter, key_id, signature) = (
        text("tenant"),
        text("matter_id"),
        text("checkpoint_key_id"),
        text("checkpoint_signature"),
    );
    let key = keys
        .iter()
        .find(|k| k.tenant == tenant && k.key_id == key_id)
        .ok_or("street office key")?;
    if !signing::verifies(
        key,
        &signing::checkpoint_message(&tenant, &matter, version, entries, &text("checkpoint_root")),
        &signature,
    ) {
        return Err("checkpoint signature");
    }
    let log: LogInclusion =
        serde_json::from_value(receipt["log"].clone()).map_err(|_| "no log proof")?;
    let leaf = Leaf {
        kind: LeafKind::Checkpoint,
        tenant: &tenant,
        matter_id: &matter,
        version,
        entries,
        root: &text("checkpoint_root"),
        key_id: &key_id,
        signature: &signature,
    };
    if !log.proves(&leaf) {
        return Err("log inclusion");
    }
    log.head.key_published(keys).then_some(()).ok_or("log key")
}

#[tokio::test]
async fn an_owner_follows_each_ballot_and_a_receipt_holder_sees_its_fate_but_not_its_secrets() {
    let e = Estate::new(2, false).await;
    let (owner, other) = (e.owner(0).await, e.owner(1).await);
    let admin = e.t.admin_token.clone();
    let (_, me) = e
        .app
        .call(GET, "/api/me", e.slug(), Some(&owner), None)
        .await;
    let (_, m) = e.matter(&admin, 4).await;
    let matter = m["id"].as_str().unwrap().to_string();

    // Online first, then a paper ballot the owner signed: online wins, the paper one is set aside.
    let (s, online) = e.cast(&owner, &matter, "agree", "online").await;
    assert_eq!(s, 201, "{online}");
    let paper = json!({"unit_id": e.units[0].0, "choice": "disagree", "channel": "paper", "scan_attachment_id": e.scan().await, "signed_by_owner_id": me["id"]});
    let (s, slip) = e
        .app
        .call(
            Method::POST,
            &format!("/api/matters/{matter}/paper-ballots"),
            e.slug(),
            Some(&admin),
            Some(paper),
        )
        .await;
    assert_eq!(s, 201, "{slip}");
    // The clerk prints the receipt code on the paper voter's entry slip; it finds the ballot as
    // the whole hash does, typed with or without its dashes.
    let code = slip["receipt_code"].as_str().unwrap().to_string();
    assert!(
        code.len() == 19
            && slip["entry_hash"]
                .as_str()
                .unwrap()
                .starts_with(&code.replace('-', "")),
        "{slip}"
    );
    for typed in [code.clone(), code.replace('-', "")] {
        let (s, found) = e
            .app
            .call(GET, &format!("/api/receipts/{typed}"), e.slug(), None, None)
            .await;
        assert_eq!(
            (s, found["fate"].as_str(), found["channel"].as_str()),
            (200, Some("set_aside"), Some("paper")),
            "{found}"
        );
    }
    assert_eq!(
        fates(&e, &owner).await,
        [
            ("online".into(), "counts".into(), None),
            ("paper".into(), "set_aside".into(), None)
        ]
    );
    assert!(
        fates(&e, &other).await.is_empty(),
        "another owner sees none of these"
    );

    // Staff void the online ballot: the owner learns why, and that the paper ballot counts now.
    let (s, b) = e
        .app
        .call(
            Method::POST,
            &format!(
                "/api/ballots/{}/void",
                online["ballot_id"].as_str().unwrap()
            ),
            e.slug(),
            Some(&admin),
            Some(json!({"reason": "误操作"})),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        fates(&e, &owner).await,
        [
            ("online".into(), "voided".into(), Some("误操作".into())),
            ("paper".into(), "counts".into(), None)
        ]
    );

    // Anyone holding the receipt looks it up without logging in: the fate, not the reason, the
    // name or the choice.
    let hash = online["entry_hash"].as_str().unwrap();
    let (s, found) = e
        .app
        .call(GET, &format!("/api/receipts/{hash}"), e.slug(), None, None)
        .await;
    assert_eq!(
        (s, found["fate"].as_str()),
        (200, Some("voided")),
        "{found}"
    );
    for secret in ["void_reason", "choice", "voter", "name"] {
        assert!(
            found.get(secret).is_none(),
            "{secret} shown to a receipt holder: {found}"
        );
    }
    assert!(
        found.get("position").is_none() && found.get("log_index").is_none(),
        "not sealed yet: {found}"
    );

    // Once a checkpoint seals it and the log takes that checkpoint, the receipt says where.
    checkpointer::seal_tenant(&e.app.state, &e.t.tenant)
        .await
        .unwrap();
    sequencer::run(&e.app.state).await.unwrap();
    let (_, sealed) = e
        .app
        .call(GET, &format!("/api/receipts/{hash}"), e.slug(), None, None)
        .await;
    assert!(
        sealed["position"].is_i64()
            && sealed["checkpoint_entries"].is_i64()
            && sealed["log_index"].is_i64(),
        "{sealed}"
    );
    let path = format!(
        "/api/platform/log/inclusion?tenant={}&matter_id={matter}&entries={}",
        e.t.tenant.slug, sealed["checkpoint_entries"]
    );
    let (s, inclusion) = e.app.call(GET, &path, None, None, None).await;
    assert_eq!(
        (s, &inclusion["leaf_index"]),
        (200, &sealed["log_index"]),
        "{inclusion}"
    );
    // The receipt carries its own proof, from the entry up to the log's signed head, which the
    // holder checks with nothing but the published keys.
    let (s, keys) = e
        .app
        .call(
            GET,
            &format!("/api/platform/signing-keys?tenant={}", e.t.tenant.slug),
            None,
            None,
            None,
        )
        .await;
    assert_eq!(s, 200, "{keys}");
    let keys: Vec<PublishedKey> = serde_json::from_value(keys["items"].clone()).unwrap();
    // The anonymous lookup proves the checkpoint is logged, but names no neighbouring entry;
    // the voter's own receipt carries the whole path.
    assert!(
        sealed["log"].is_object() && sealed.get("ledger_path").is_none(),
        "{sealed}"
    );
    let (_, mine) = e
        .app
        .call(GET, "/api/me/receipts", e.slug(), Some(&owner), None)
        .await;
    let sealed = mine["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["entry_hash"] == hash)
        .unwrap()
        .clone();
    assert_eq!(proven(&sealed, &keys), Ok(()), "{sealed}");
    // The same proof carries no other entry, and a head under any other key proves nothing.
    let mut other = sealed.clone();
    other["entry_hash"] = slip["entry_hash"].clone();
    assert_eq!(proven(&other, &keys), Err("entry"));
    let stranger: Vec<PublishedKey> = keys
        .iter()
        .filter(|k| k.tenant != "@transparency-log")
        .cloned()
        .collect();
    assert_eq!(proven(&sealed, &stranger), Err("log key"));

    // A hash nobody cast, and one that is not a hash.
    let (s, b) = e
        .app
        .call(
            GET,
            &format!("/api/receipts/{}", "0".repeat(64)),
            e.slug(),
            None,
            None,
        )
        .await;
    assert_eq!(
        (s, b["code"].as_str()),
        (404, Some("receipt.not_found")),
        "{b}"
    );
    let (s, b): (u16, Value) = e
        .app
        .call(GET, "/api/receipts/not-a-hash", e.slug(), None, None)
        .await;
    assert!((400..500).contains(&s) && s != 404, "{s} {b}");
}

#[tokio::test]
async fn where_configured_a_paper_voter_who_signed_is_texted_the_receipt_code() {
    let mut config = common::test_config();
    config.sms.paper_receipts = true;
    let e = Estate::on(common::TestApp::start_with(config).await, 2).await;
    let owner = e.owner(0).await;
    let (_, me) = e
        .app
        .call(GET, "/api/me", e.slug(), Some(&owner), None)
        .await;
    let (_, m) = e.matter(&e.t.admin_token, 4).await;
    let matter = m["id"].as_str().unwrap().to_string();
    let enter = |unit: uuid::Uuid, signer: Value| {
        let body = json!({"unit_id": unit, "choice": "agree", "channel": "paper", "signed_by_owner_id": signer});
        (format!("/api/matters/{matter}/paper-ballots"), body)
    };

    // Signed by a verified owner: the owner's phone gets the code printed on the slip.
    let (path, mut body) = enter(e.units[0].0, me["id"].clone());
    body["scan_attachment_id"] = e.scan().await;
    let (s, slip) = e
        .app
        .call(
            Method::POST,
            &path,
            e.slug(),
            Some(&e.t.admin_token),
            Some(body),
        )
        .await;
    assert_eq!(s, 201, "{slip}");
    let conn = e.app.conn(&e.t.tenant).await;
    let texts: Vec<String> = conn
        .query(
            "SELECT phone, content FROM sms_outbox WHERE content LIKE '%回执码%'",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| {
            let (to, content): (String, String) = (r.get(0), r.get(1));
            format!("{to} {content}")
        })
        .collect();
    drop(conn);
    assert_eq!(texts.len(), 1, "{texts:?}");
    let code = slip["receipt_code"].as_str().unwrap();
    assert!(texts[0].contains(code), "{texts:?}");
    // To the signer's phone, which the clerk sees masked (as the owner's own profile shows it).
    let to = texts[0].split(' ').next().unwrap();
    assert_eq!(
        zhimaguan::auth::phone::mask(to),
        me["phone"].as_str().unwrap()
    );
    assert_eq!(slip["receipt_sent_to"], me["phone"], "{slip}");

    // Unsigned (no owner on the platform to text): the slip alone carries the code.
    let (path, mut body) = enter(e.units[1].0, Value::Null);
    body["scan_attachment_id"] = e.scan().await;
    let (s, slip) = e
        .app
        .call(
            Method::POST,
            &path,
            e.slug(),
            Some(&e.t.admin_token),
            Some(body),
        )
        .await;
    assert_eq!(s, 201, "{slip}");
    assert!(slip.get("receipt_sent_to").is_none(), "{slip}");
}
