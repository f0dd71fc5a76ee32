//! The verifiable ballot ledger. Each entry is hashed on its own (so casting needs no shared
//! "last hash" row), and a Merkle root over the entries in sequence order commits to all of
//! them: changing, dropping or reordering any entry changes the root. Anyone holding the
//! published ledger can recompute every hash, the root and the tally.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{
    rules::RuleSet,
    tally::{resolve, snapshot, tally, Cast, Channel, ChannelRule, Choice, Holder, RollUnit, Settings, Tally, UnitClass},
};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    Cast,
    Void,
    Superseded,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub seq: i64,
    pub kind: EntryKind,
    pub ballot_id: String,
    /// Pseudonymous person: groups one person's ballots without naming them.
    pub person_code: String,
    pub unit_codes: String,
    pub area_centi: i64,
    pub channel: Channel,
    pub choice: Choice,
    /// RFC 3339, as stored.
    pub at: String,
    pub hash: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishedUnit {
    pub unit_code: String,
    pub area_centi: i64,
    pub class: UnitClass,
    pub person_code: String,
}

/// Everything needed to check a matter's result without the database.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishedLedger {
    pub matter_id: String,
    pub rule_set: RuleSet,
    pub settings: Settings,
    pub channel_rule: ChannelRule,
    pub roll: Vec<PublishedUnit>,
    pub entries: Vec<Entry>,
    /// Persons with recorded delivery of their ballot (only used under the 从众 clause).
    #[serde(default)]
    pub delivered: Vec<String>,
    pub root: String,
}

fn hex_sha256(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0u8]);
    }
    hex::encode(h.finalize())
}

pub fn person_code(salt: &str, holder_key: &str) -> String {
    hex_sha256(&["person", salt, holder_key])[..16].to_string()
}

fn label<T: Serialize>(v: &T) -> String {
    serde_json::to_value(v).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

/// The entry's hash over every field but the hash itself.
pub fn entry_hash(matter_id: &str, e: &Entry) -> String {
    hex_sha256(&[
        "zmg-ledger-v1",
        matter_id,
        &e.seq.to_string(),
        &label(&e.kind),
        &e.ballot_id,
        &e.person_code,
        &e.unit_codes,
        &e.area_centi.to_string(),
        &label(&e.channel),
        &label(&e.choice),
        &e.at,
    ])
}

/// Merkle root over entry hashes in sequence order (an odd node is carried up unchanged).
pub fn merkle_root(hashes: &[String]) -> String {
    if hashes.is_empty() {
        return hex_sha256(&["empty"]);
    }
    let mut level: Vec<String> = hashes.to_vec();
    while level.len() > 1 {
        level = level
            .chunks(2)
            .map(|pair| match pair {
                [l, r] => hex_sha256(&["node", l, r]),
                [single] => single.clone(),
                _ => unreachable!(),
            })
            .collect();
    }
    level.remove(0)
}

#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verification {
    /// Entries whose content no longer matches their hash.
    pub altered_entries: Vec<i64>,
    pub root_matches: bool,
    pub recomputed_root: String,
    /// The tally recomputed from the ledger alone.
    pub tally: Option<Tally>,
}

/// Checks every entry hash and the root, then recounts from the ledger alone.
pub fn verify(ledger: &PublishedLedger) -> Verification {
    let mut entries = ledger.entries.clone();
    entries.sort_by_key(|e| e.seq);
    let altered_entries: Vec<i64> = entries.iter().filter(|e| entry_hash(&ledger.matter_id, e) != e.hash).map(|e| e.seq).collect();
    let recomputed_root = merkle_root(&entries.iter().map(|e| e.hash.clone()).collect::<Vec<_>>());
    let root_matches = recomputed_root == ledger.root;
    let tally = recount(ledger, &entries);
    Verification { altered_entries, root_matches, recomputed_root, tally }
}

fn recount(ledger: &PublishedLedger, entries: &[Entry]) -> Option<Tally> {
    let units: Vec<RollUnit> = ledger
        .roll
        .iter()
        .map(|u| RollUnit { unit: u.unit_code.clone(), area_centi: u.area_centi, class: u.class, holder: Holder::Owner(u.person_code.clone()) })
        .collect();
    let voided: std::collections::BTreeSet<&str> =
        entries.iter().filter(|e| e.kind == EntryKind::Void).map(|e| e.ballot_id.as_str()).collect();
    let casts: Vec<Cast> = entries
        .iter()
        .filter(|e| e.kind == EntryKind::Cast)
        .map(|e| Cast {
            id: e.ballot_id.clone(),
            holder: Holder::Owner(e.person_code.clone()),
            channel: e.channel,
            seq: e.seq,
            choice: e.choice,
            voided: voided.contains(e.ballot_id.as_str()),
        })
        .collect();
    let effective: Vec<_> = resolve(&casts, ledger.channel_rule).effective.iter().map(Cast::ballot).collect();
    let delivered = ledger.delivered.iter().map(|p| Holder::Owner(p.clone())).collect();
    tally(&snapshot(&units, &ledger.settings), &ledger.rule_set, &effective, &ledger.settings, &delivered).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ledger() -> PublishedLedger {
        let matter = "m1".to_string();
        let roll = (0..3)
            .map(|i| PublishedUnit { unit_code: format!("1-1-10{i}"), area_centi: 9000 + i, class: UnitClass::Residential, person_code: format!("p{i}") })
            .collect();
        let mut entries: Vec<Entry> = (0..3)
            .map(|i| Entry {
                seq: i + 1,
                kind: EntryKind::Cast,
                ballot_id: format!("b{i}"),
                person_code: format!("p{i}"),
                unit_codes: format!("1-1-10{i}"),
                area_centi: 9000 + i,
                channel: Channel::Online,
                choice: if i == 2 { Choice::Disagree } else { Choice::Agree },
                at: "2026-11-27T04:00:00Z".into(),
                hash: String::new(),
            })
            .collect();
        for e in &mut entries {
            e.hash = entry_hash(&matter, e);
        }
        let root = merkle_root(&entries.iter().map(|e| e.hash.clone()).collect::<Vec<_>>());
        PublishedLedger {
            matter_id: matter,
            rule_set: RuleSet::civil_code_ordinary(),
            settings: Settings::defaults(),
            channel_rule: ChannelRule::OnlineWins,
            roll,
            entries,
            delivered: Vec::new(),
            root,
        }
    }

    #[test]
    fn an_untouched_ledger_verifies_and_recounts() {
        let v = verify(&ledger());
        assert!(v.altered_entries.is_empty() && v.root_matches);
        let t = v.tally.unwrap();
        assert_eq!((t.agree.heads, t.disagree.heads, t.passed), (2, 1, true));
    }

    #[test]
    fn any_change_is_detected() {
        let mut changed = ledger();
        changed.entries[2].choice = Choice::Agree;
        assert_eq!(verify(&changed).altered_entries, vec![3], "a changed choice breaks its hash");

        let mut rehashed = ledger();
        rehashed.entries[2].choice = Choice::Agree;
        rehashed.entries[2].hash = entry_hash("m1", &rehashed.entries[2]);
        assert!(!verify(&rehashed).root_matches, "re-hashing the entry still changes the root");

        let mut dropped = ledger();
        dropped.entries.remove(1);
        assert!(!verify(&dropped).root_matches, "a dropped entry changes the root");
    }

    #[test]
    fn a_void_entry_turns_its_ballot_invalid_in_the_recount() {
        let mut l = ledger();
        let mut void = l.entries[0].clone();
        void.seq = 4;
        void.kind = EntryKind::Void;
        void.hash = entry_hash("m1", &void);
        l.entries.push(void);
        l.root = merkle_root(&l.entries.iter().map(|e| e.hash.clone()).collect::<Vec<_>>());
        let t = verify(&l).tally.unwrap();
        assert_eq!((t.agree.heads, t.invalid.heads), (1, 1));
        assert!(!t.passed, "1 agree of 3 participants");
    }

    #[test]
    fn person_codes_depend_on_the_secret_salt() {
        assert_ne!(person_code("salt-a", "roll:张三|13800138000"), person_code("salt-b", "roll:张三|13800138000"));
        assert_eq!(person_code("s", "k").len(), 16);
    }
}
