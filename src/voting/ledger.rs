//! The verifiable ballot ledger. Each entry is hashed on its own (so casting needs no shared
//! "last hash" row). The Merkle leaves are the opening hash (which commits to the frozen roll,
//! the rule set and the settings) followed by the entry hashes in position order; positions are
//! handed out by periodic checkpoints in the order entries were committed, and each checkpoint
//! stores the root over its prefix. Changing, dropping or reordering anything a checkpoint
//! covers changes that checkpoint's root. Anyone holding the published ledger can recompute
//! every hash, every checkpoint, the root and the tally.
//!
//! Version 3 keeps choices sealed while voting is open: an entry carrying a choice publishes a
//! commitment, a salted hash of its choice and picks, and its hash covers that commitment instead
//! of the choice. Once the vote closes the choice, picks and salt are published beside it and
//! anyone can check that every revealed choice is the one committed to before the close. A voter
//! checks their own ballot while voting with the salt on their receipt.
//!
//! Version 4 keeps the set-aside marks true: a superseded mark is followed by a reinstated entry
//! when the ballot counts again, and the verification checks that the marks, read in sequence
//! order, name exactly the ballots the recount sets aside.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::transparency::proof::{Leaf, LeafKind, LogInclusion};

use super::{
    rules::RuleSet,
    signing::{self, PublishedKey},
    tally::{
        option_tallies, resolve, snapshot, tally, Ballot, Cast, Channel, ChannelRule, Choice,
        Counts, Holder, RollUnit, Settings, Tally, UnitClass,
    },
};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    Cast,
    Void,
    Superseded,
    /// A unit's vote moved to another person (sold mid-vote, or one owner's registrations joined).
    Regroup,
    /// The unit's ballot was delivered (counts only under the 从众 clause).
    Delivery,
    /// Version 4: a ballot set aside earlier counts again (the ballot that superseded it was
    /// voided), so the marks always describe the ballot that counts.
    Reinstated,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub seq: i64,
    /// Fixed by a checkpoint; absent while the entry awaits the next one.
    #[serde(default)]
    pub position: Option<i64>,
    pub kind: EntryKind,
    /// Empty for regroup and delivery entries.
    pub ballot_id: String,
    /// Pseudonymous person: groups one person's ballots without naming them. For a regroup,
    /// the unit's new person.
    pub person_code: String,
    pub unit_codes: String,
    pub area_centi: i64,
    pub channel: Option<Channel>,
    pub choice: Option<Choice>,
    /// An election ballot's picks: candidate ids, comma-separated (absent on matters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub picks: Option<String>,
    /// Version 3: the salted hash of the choice and picks ([`commitment`]), published at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commitment: Option<String>,
    /// Version 3: the salt of the commitment, published with the choice once the vote closed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub salt: Option<String>,
    /// Version 3: when the voter cast the ballot (RFC 3339; for paper, when it was signed), which
    /// decides the first ballot under the `first_wins` channel rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cast_at: Option<String>,
    /// RFC 3339, as stored.
    pub at: String,
    pub hash: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishedUnit {
    pub unit_code: String,
    pub area_centi: i64,
    pub class: UnitClass,
    /// The person the unit voted for when the roll was frozen.
    pub person_code: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// How many positioned entries it covers (0: the opening).
    pub entries: i64,
    pub root: String,
    pub at: String,
    /// Version 5: the street office's key that signed it (see `signing`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// Version 5: the Ed25519 signature of the checkpoint (`signing::checkpoint_message`), hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

fn version_1() -> u8 {
    1
}

impl PublishedLedger {
    /// The ledger as published while voting is open: every choice, pick and salt withheld; the
    /// commitments, hashes, checkpoints and root are the same.
    pub fn sealed(mut self) -> Self {
        for e in &mut self.entries {
            (e.choice, e.picks, e.salt) = (None, None, None);
        }
        self.sealed = true;
        self
    }
}

/// Everything needed to check a matter's result without the database.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishedLedger {
    /// 2: opening hash and checkpoints. 1: ledgers opened before those existed (entries only).
    #[serde(default = "version_1")]
    pub version: u8,
    /// The street office (tenant slug) whose key signs the checkpoints (version 5).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub tenant: String,
    pub matter_id: String,
    pub rule_set: RuleSet,
    pub settings: Settings,
    pub channel_rule: ChannelRule,
    /// The roll as frozen when voting opened.
    pub roll: Vec<PublishedUnit>,
    /// An election's candidates (ids) as approved when voting opened; empty for a matter.
    #[serde(default)]
    pub candidates: Vec<String>,
    pub opening_hash: String,
    /// Positioned entries in position order, then pending ones in sequence order.
    pub entries: Vec<Entry>,
    pub checkpoints: Vec<Checkpoint>,
    /// After close, the root declared with the result; before, the root over all entries.
    pub root: String,
    /// Version 3 while voting is open: choices, picks and salts are withheld. A closed ledger
    /// (false) must reveal every one of them.
    #[serde(default)]
    pub sealed: bool,
    /// Version 5: what the matter was when voting opened, committed to by the opening hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub facts: Option<OpeningFacts>,
    /// Version 5, once closed: the result the street office declared, signed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub declared: Option<Declared>,
    /// Version 5: that the declared result, or before the close the last checkpoint the log
    /// holds so far, is in the transparency log under a signed tree head. Covered by no hash of the ledger: it is checked against the
    /// log's key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log: Option<LogInclusion>,
}

/// What a matter or election round was when voting opened (version 5), committed to by the
/// opening hash: what it decides under which law, over which part of the estate, in which
/// window, and against which registered totals (so a truncated roll shows).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpeningFacts {
    /// `matter` or `election`.
    pub kind: String,
    pub title: String,
    /// Civil Code art. 278 item (1–9).
    pub law_item: i16,
    /// Buildings in scope; absent: the whole estate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope_buildings: Option<Vec<String>>,
    /// Why the rules differ from the law item's preset, when they do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule_change_reason: Option<String>,
    /// RFC 3339, milliseconds: the window as it stood when voting opened.
    pub opens_at: String,
    pub closes_at: String,
    /// The estate's registered totals (its record, not the roll).
    pub registered_households: i64,
    pub registered_area_centi: i64,
    /// An election round's seats.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seats: Option<i64>,
}

/// The result declared at close (version 5), as signed: what a recount of the ledger must give.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeclaredResult {
    /// RFC 3339, milliseconds.
    pub closed_at: String,
    /// The voting window's end as it stood at the close (after any extension).
    pub closes_at: String,
    /// Entries the declared root covers, and the root.
    pub entries: i64,
    pub root: String,
    /// A matter's count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tally: Option<DeclaredTally>,
    /// An election round's: each candidate's votes and pass, the seats, who was elected in seat
    /// order, and each tie at the last seat as the lot ordered it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub candidates: Vec<DeclaredCandidate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seats: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub elected: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lots: Vec<Vec<String>>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeclaredTally {
    pub totals: Counts,
    pub participants: Counts,
    pub agree: Counts,
    pub disagree: Counts,
    pub abstain: Counts,
    pub invalid: Counts,
    pub followers: Counts,
    pub passed: bool,
}

impl DeclaredTally {
    pub fn of(t: &Tally) -> Self {
        DeclaredTally {
            totals: t.totals,
            participants: t.participants,
            agree: t.agree,
            disagree: t.disagree,
            abstain: t.abstain,
            invalid: t.invalid,
            followers: t.followers,
            passed: t.passed,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeclaredCandidate {
    pub id: String,
    pub votes: Counts,
    pub passed: bool,
}

/// A declared result with the street office's signature over [`result_message`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Declared {
    pub result: DeclaredResult,
    pub key_id: String,
    pub signature: String,
}

/// The bytes a declared result's signature covers: `zmg-result-v1`, tenant, matter id, version
/// and the result as compact JSON (fields in declaration order), each followed by a zero byte.
pub fn result_message(
    tenant: &str,
    matter_id: &str,
    version: u8,
    result: &DeclaredResult,
) -> Vec<u8> {
    let json = serde_json::to_string(result).unwrap_or_default();
    let mut message = Vec::new();
    for part in [
        "zmg-result-v1",
        tenant,
        matter_id,
        &version.to_string(),
        &json,
    ] {
        message.extend_from_slice(part.as_bytes());
        message.push(0);
    }
    message
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
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// The commitment to a choice (and an election ballot's picks) of entry `seq`: what a sealed
/// entry publishes while voting is open. The salt is random and secret until the close, so the
/// three possible choices cannot be tried against it.
pub fn commitment(
    matter_id: &str,
    seq: i64,
    choice: Choice,
    picks: Option<&str>,
    salt: &str,
) -> String {
    hex_sha256(&[
        "zmg-commit-v1",
        matter_id,
        &seq.to_string(),
        &label(&choice),
        picks.unwrap_or(""),
        salt,
    ])
}

/// The entry's hash over every field but its position and the hash itself. A sealed entry
/// (version 3) is hashed over its commitment instead of its choice and picks, so its hash and
/// every checkpoint stay the same when the choice is revealed. Picks are hashed only where there
/// are some, so matter entries of older ledgers hash as they always have.
pub fn entry_hash(matter_id: &str, e: &Entry) -> String {
    let seq = e.seq.to_string();
    let (kind, area, channel, choice) = (
        label(&e.kind),
        e.area_centi.to_string(),
        label(&e.channel),
        label(&e.choice),
    );
    if let Some(commitment) = &e.commitment {
        let cast_at = e.cast_at.as_deref().unwrap_or("");
        return hex_sha256(&[
            "zmg-ledger-v3",
            matter_id,
            &seq,
            &kind,
            &e.ballot_id,
            &e.person_code,
            &e.unit_codes,
            &area,
            &channel,
            commitment,
            cast_at,
            &e.at,
        ]);
    }
    let mut parts = vec![
        "zmg-ledger-v1",
        matter_id,
        &seq,
        &kind,
        &e.ballot_id,
        &e.person_code,
        &e.unit_codes,
        &area,
        &channel,
        &choice,
        &e.at,
    ];
    if let Some(picks) = &e.picks {
        parts.extend(["picks", picks.as_str()]);
    }
    hex_sha256(&parts)
}

/// Commits to what decides the count before any ballot: rules, settings, the frozen roll, for an
/// election its candidates, and from version 3 the version itself (so a sealed ledger cannot be
/// passed off as an older one whose entries carry no commitments to check).
pub fn opening_hash(
    version: u8,
    matter_id: &str,
    rule_set: &RuleSet,
    settings: &Settings,
    channel_rule: ChannelRule,
    roll: &[PublishedUnit],
    candidates: &[String],
) -> String {
    opening_hash_with(
        version,
        matter_id,
        rule_set,
        settings,
        channel_rule,
        roll,
        candidates,
        None,
    )
}

/// [`opening_hash`], from version 5 also over the opening facts (as compact JSON).
#[allow(clippy::too_many_arguments)]
pub fn opening_hash_with(
    version: u8,
    matter_id: &str,
    rule_set: &RuleSet,
    settings: &Settings,
    channel_rule: ChannelRule,
    roll: &[PublishedUnit],
    candidates: &[String],
    facts: Option<&OpeningFacts>,
) -> String {
    let mut units: Vec<&PublishedUnit> = roll.iter().collect();
    units.sort_by(|a, b| a.unit_code.cmp(&b.unit_code));
    let lines: Vec<String> = units
        .iter()
        .map(|u| {
            format!(
                "{}|{}|{}|{}",
                u.unit_code,
                u.area_centi,
                label(&u.class),
                u.person_code
            )
        })
        .collect();
    let rules = serde_json::to_string(rule_set).unwrap_or_default();
    let settings = serde_json::to_string(settings).unwrap_or_default();
    let mut parts = vec!["zmg-opening-v1", matter_id, &rules, &settings];
    let channel = label(&channel_rule);
    parts.push(&channel);
    parts.extend(lines.iter().map(String::as_str));
    if !candidates.is_empty() {
        parts.push("candidates");
        parts.extend(candidates.iter().map(String::as_str));
    }
    if version >= 3 {
        parts.push("sealed-choices-v3");
    }
    if version >= 4 {
        parts.push("set-aside-marks-v4");
    }
    let facts = facts.map(|f| serde_json::to_string(f).unwrap_or_default());
    if let (5.., Some(facts)) = (version, &facts) {
        parts.extend(["facts-v5", facts.as_str()]);
    }
    hex_sha256(&parts)
}

/// Merkle root over the leaves in order (an odd node is carried up unchanged).
pub fn merkle_root(leaves: &[String]) -> String {
    if leaves.is_empty() {
        return hex_sha256(&["empty"]);
    }
    let mut level: Vec<String> = leaves.to_vec();
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

/// The audit path of leaf `index` in [`merkle_root`]'s tree: at each level the sibling, where
/// there is one (a node carried up unchanged has none).
pub fn merkle_path(index: usize, leaves: &[String]) -> Vec<String> {
    let (mut index, mut level, mut path) = (index, leaves.to_vec(), Vec::new());
    while level.len() > 1 {
        if let Some(sibling) = level.get(index ^ 1) {
            path.push(sibling.clone());
        }
        level = level
            .chunks(2)
            .map(|pair| {
                if let [l, r] = pair {
                    hex_sha256(&["node", l, r])
                } else {
                    pair[0].clone()
                }
            })
            .collect();
        index /= 2;
    }
    path
}

/// The root that leaf `leaf` at `index` of `count` leaves gives with `path` (see
/// [`merkle_path`]); `None` when the path has the wrong length.
pub fn root_from_path(index: usize, count: usize, leaf: &str, path: &[String]) -> Option<String> {
    if index >= count {
        return None;
    }
    let (mut index, mut count, mut node, mut siblings) =
        (index, count, leaf.to_string(), path.iter());
    while count > 1 {
        if index % 2 == 1 {
            node = hex_sha256(&["node", siblings.next()?, &node]);
        } else if index + 1 < count {
            node = hex_sha256(&["node", &node, siblings.next()?]);
        }
        (index, count) = (index / 2, count.div_ceil(2));
    }
    siblings.next().is_none().then_some(node)
}

/// The leaves: the opening hash, then entry hashes in the order given.
pub fn leaves<'a>(opening: &str, entries: impl IntoIterator<Item = &'a Entry>) -> Vec<String> {
    std::iter::once(opening.to_string())
        .chain(entries.into_iter().map(|e| e.hash.clone()))
        .collect()
}

#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verification {
    /// Sequence numbers of entries whose content no longer matches their hash.
    pub altered_entries: Vec<i64>,
    /// The opening hash recomputed from the published roll, rules and settings matches.
    pub opening_matches: bool,
    /// Checkpoints (by entry count) whose root the published entries no longer reproduce.
    pub broken_checkpoints: Vec<i64>,
    pub root_matches: bool,
    pub recomputed_root: String,
    /// The tally recomputed from the ledger alone (a matter).
    pub tally: Option<Tally>,
    /// Each candidate's tally recomputed from the ledger alone (an election).
    pub candidates: Vec<(String, Tally)>,
    /// Entries whose choice is still sealed (voting open): no tally can be recomputed yet.
    pub sealed_entries: usize,
    /// Sequence numbers of entries whose revealed choice is not the one committed to, or that
    /// carry a choice without the commitment a version 3 ledger requires.
    pub broken_commitments: Vec<i64>,
    /// The entries are published in the format's order: positioned ones by position, then
    /// pending ones by sequence number.
    pub order_matches: bool,
    /// Sequence numbers of entries naming a unit that is not on the roll, or whose area is not
    /// the sum of their units' roll areas.
    pub units_mismatched: Vec<i64>,
    /// A preset's id stands for exactly that preset's fractions (a custom set is what it says).
    pub rules_match_preset: bool,
    /// Nothing in the ledger belongs to a later format than its version declares (a newer
    /// ledger relabelled as older would escape that format's checks).
    pub version_consistent: bool,
    /// Version 4: ballots whose set-aside mark (superseded, then reinstated) disagrees with the
    /// recount: marked and counted, or set aside and unmarked.
    pub inconsistent_marks: Vec<String>,
    /// The street offices' public keys were given, so signatures were checked.
    pub signatures_checked: bool,
    /// Version 5: checkpoints (by entry count) that carry no signature.
    pub unsigned_checkpoints: Vec<i64>,
    /// Checkpoints whose signature is not the street office's (published key with that id) over
    /// this tenant, matter, version, count and root.
    pub bad_signatures: Vec<i64>,
    /// Version 5, closed: the last checkpoint covers every entry and its root is the ledger's
    /// root, so the whole ledger is signed.
    pub root_signed: bool,
    /// Version 5: the ledger verifies only with its street office's keys.
    pub needs_keys: bool,
    /// Version 5, closed: the declared result is there, covers the ledger's root and entries,
    /// and equals the recount (an election's seats filled as its recorded lots decided).
    pub result_matches: bool,
    /// Version 5, closed, with keys: the declared result carries the street office's signature.
    pub result_signed: bool,
    /// The ledger carries a log inclusion proof, and it shows the checkpoint it names, exactly
    /// as the ledger shows it, in the log under a head signed by the key it names. `None`: no
    /// proof yet (the log takes a checkpoint in at the sequencer's next turn).
    pub log_included: Option<bool>,
    /// With keys: the log head's key is the log's published key.
    pub log_key_published: Option<bool>,
}

impl Verification {
    pub fn intact(&self) -> bool {
        let counted = self.sealed_entries > 0
            || if self.candidates.is_empty() {
                self.tally.is_some()
            } else {
                self.tally.is_none()
            };
        self.altered_entries.is_empty()
            && self.opening_matches
            && self.broken_checkpoints.is_empty()
            && self.root_matches
            && self.broken_commitments.is_empty()
            && self.order_matches
            && self.units_mismatched.is_empty()
            && self.rules_match_preset
            && self.version_consistent
            && self.inconsistent_marks.is_empty()
            && self.unsigned_checkpoints.is_empty()
            && self.bad_signatures.is_empty()
            && self.root_signed
            && self.result_matches
            && (!self.signatures_checked || self.result_signed)
            && (self.signatures_checked || !self.needs_keys)
            && self.log_included != Some(false)
            && self.log_key_published != Some(false)
            && counted
    }
}

/// Checks each version 3 entry's commitment against its revealed choice; returns the sealed
/// count and the entries that break their commitment.
///
/// Only a version 3 ledger has commitments, and there every entry carrying a choice has one; a
/// sealed entry (no choice shown) is fine only while the ledger says voting is open, and then
/// no entry may show its choice.
fn check_commitments(ledger: &PublishedLedger, entries: &[Entry]) -> (usize, Vec<i64>) {
    let mut sealed = 0;
    let mut broken = Vec::new();
    for e in entries {
        let carries_choice = matches!(
            e.kind,
            EntryKind::Cast | EntryKind::Void | EntryKind::Superseded | EntryKind::Reinstated
        );
        let fine = match (
            ledger.version >= 3 && carries_choice,
            &e.commitment,
            e.choice,
            &e.salt,
        ) {
            (false, None, _, None) => true,
            (true, Some(_), None, None) if ledger.sealed => {
                sealed += 1;
                true
            }
            (true, Some(c), Some(choice), Some(salt)) => {
                !ledger.sealed
                    && *c == commitment(&ledger.matter_id, e.seq, choice, e.picks.as_deref(), salt)
            }
            _ => false,
        };
        if !fine {
            broken.push(e.seq);
        }
    }
    (sealed, broken)
}

/// Checks every entry hash, the opening, each checkpoint and the root, then recounts from the
/// ledger alone. Signatures are not checked: a version 5 ledger is intact only by
/// [`verify_with_keys`].
pub fn verify(ledger: &PublishedLedger) -> Verification {
    verify_with(ledger, None)
}

/// [`verify`], and every checkpoint signature against the street offices' published keys.
pub fn verify_with_keys(ledger: &PublishedLedger, keys: &[PublishedKey]) -> Verification {
    verify_with(ledger, Some(keys))
}

fn verify_with(ledger: &PublishedLedger, keys: Option<&[PublishedKey]>) -> Verification {
    let mut entries = ledger.entries.clone();
    entries.sort_by_key(|e| (e.position.unwrap_or(i64::MAX), e.seq));
    let order_matches = entries
        .iter()
        .map(|e| e.seq)
        .eq(ledger.entries.iter().map(|e| e.seq));
    let altered_entries: Vec<i64> = entries
        .iter()
        .filter(|e| entry_hash(&ledger.matter_id, e) != e.hash)
        .map(|e| e.seq)
        .collect();
    let (opening_matches, all) = if ledger.version < 2 {
        // Nothing was committed before the first ballot; the root covers the entries alone.
        (
            true,
            entries.iter().map(|e| e.hash.clone()).collect::<Vec<_>>(),
        )
    } else {
        let opening = opening_hash_with(
            ledger.version,
            &ledger.matter_id,
            &ledger.rule_set,
            &ledger.settings,
            ledger.channel_rule,
            &ledger.roll,
            &ledger.candidates,
            ledger.facts.as_ref(),
        );
        (opening == ledger.opening_hash, leaves(&opening, &entries))
    };
    // Positions must run 1, 2, 3… so a checkpoint's prefix is well defined.
    let positioned = entries.iter().take_while(|e| e.position.is_some()).count();
    let positions_ok = entries
        .iter()
        .take(positioned)
        .enumerate()
        .all(|(i, e)| e.position == Some(i as i64 + 1));
    let broken_checkpoints = ledger
        .checkpoints
        .iter()
        .filter(|c| {
            let n = c.entries as usize;
            ledger.version < 2
                || !positions_ok
                || n > positioned
                || merkle_root(&all[..=n]) != c.root
        })
        .map(|c| c.entries)
        .collect();
    let recomputed_root = merkle_root(&all);
    let root_matches = recomputed_root == ledger.root;
    let (sealed_entries, broken_commitments) = check_commitments(ledger, &entries);
    let (tally, candidates) = if sealed_entries > 0 {
        (None, Vec::new())
    } else if ledger.candidates.is_empty() {
        (recount(ledger, &entries), Vec::new())
    } else {
        (None, recount_election(ledger, &entries).unwrap_or_default())
    };
    let closed = ledger.version >= 5 && !ledger.sealed;
    let result_matches = !closed
        || ledger
            .declared
            .as_ref()
            .is_some_and(|d| declared_matches(ledger, &d.result, tally.as_ref(), &candidates));
    let result_signed = !closed
        || keys.is_some_and(|keys| {
            ledger.declared.as_ref().is_some_and(|d| {
                let key = keys
                    .iter()
                    .find(|k| k.tenant == ledger.tenant && k.key_id == d.key_id);
                key.is_some_and(|k| {
                    signing::verifies(
                        k,
                        &result_message(
                            &ledger.tenant,
                            &ledger.matter_id,
                            ledger.version,
                            &d.result,
                        ),
                        &d.signature,
                    )
                })
            })
        });
    Verification {
        altered_entries,
        opening_matches,
        broken_checkpoints,
        root_matches,
        recomputed_root,
        tally,
        candidates,
        sealed_entries,
        broken_commitments,
        order_matches,
        units_mismatched: units_mismatched(ledger),
        rules_match_preset: rules_match_preset(&ledger.rule_set),
        version_consistent: version_consistent(ledger),
        inconsistent_marks: if ledger.version >= 4 {
            inconsistent_marks(ledger, &entries)
        } else {
            Vec::new()
        },
        signatures_checked: keys.is_some(),
        needs_keys: ledger.version >= 5,
        unsigned_checkpoints: if ledger.version >= 5 {
            ledger
                .checkpoints
                .iter()
                .filter(|c| c.signature.is_none())
                .map(|c| c.entries)
                .collect()
        } else {
            Vec::new()
        },
        bad_signatures: keys
            .map(|keys| bad_signatures(ledger, keys))
            .unwrap_or_default(),
        result_matches,
        result_signed,
        log_included: ledger.log.as_ref().map(|log| log_included(ledger, log)),
        log_key_published: ledger
            .log
            .as_ref()
            .and_then(|log| keys.map(|keys| log.head.key_published(keys))),
        root_signed: ledger.version < 5
            || ledger.sealed
            || ledger
                .checkpoints
                .last()
                .is_some_and(|c| c.entries == ledger.entries.len() as i64 && c.root == ledger.root),
    }
}

/// Whether the declared result is what the ledger gives: its root and entry count, and the
/// recount (a matter's figures; an election's candidates, and the seats filled by rank with the
/// recorded lots deciding ties).
fn declared_matches(
    ledger: &PublishedLedger,
    d: &DeclaredResult,
    tally: Option<&Tally>,
    candidates: &[(String, Tally)],
) -> bool {
    if d.root != ledger.root || d.entries != ledger.entries.len() as i64 {
        return false;
    }
    if ledger.candidates.is_empty() {
        return tally.is_some_and(|t| d.tally.as_ref() == Some(&DeclaredTally::of(t)))
            && d.candidates.is_empty();
    }
    let recounted: Vec<DeclaredCandidate> = candidates
        .iter()
        .map(|(id, t)| DeclaredCandidate {
            id: id.clone(),
            votes: t.agree,
            passed: t.passed,
        })
        .collect();
    let Some(seats) = d.seats.filter(|s| *s >= 0) else {
        return false;
    };
    let mut lots_ok = true;
    let outcome = crate::elections::count::fill(
        &crate::elections::count::standings(candidates),
        seats as usize,
        |group| {
            let mut sorted = group.to_vec();
            sorted.sort();
            match d.lots.iter().find(|lot| {
                lot.len() == group.len() && {
                    let mut l = lot.to_vec();
                    l.sort();
                    l == sorted
                }
            }) {
                Some(lot) => lot.clone(),
                None => {
                    lots_ok = false;
                    group.to_vec()
                }
            }
        },
    );
    lots_ok
        && recounted == d.candidates
        && outcome.elected == d.elected
        && outcome.lots == d.lots
        && d.tally.is_none()
}

/// Whether `log` proves what it names (a checkpoint, or the declared result) to be in the log,
/// as the ledger shows it.
fn log_included(ledger: &PublishedLedger, log: &LogInclusion) -> bool {
    let (tenant, matter_id, version) = (&ledger.tenant, &ledger.matter_id, ledger.version);
    match log.kind {
        LeafKind::Checkpoint => ledger
            .checkpoints
            .iter()
            .find(|c| c.entries == log.entries)
            .is_some_and(|c| {
                let (Some(key_id), Some(signature)) = (&c.key_id, &c.signature) else {
                    return false;
                };
                log.proves(&Leaf {
                    kind: log.kind,
                    tenant,
                    matter_id,
                    version,
                    entries: c.entries,
                    root: &c.root,
                    key_id,
                    signature,
                })
            }),
        LeafKind::Result => ledger.declared.as_ref().is_some_and(|d| {
            let (key_id, signature, entries, root) =
                (&d.key_id, &d.signature, d.result.entries, &d.result.root);
            log.proves(&Leaf {
                kind: log.kind,
                tenant,
                matter_id,
                version,
                entries,
                root,
                key_id,
                signature,
            })
        }),
    }
}

/// Checkpoints whose signature does not verify. Any signature is checked, whatever the declared
/// version: it covers the version it was made under, so a signed ledger relabelled as an older
/// format fails here.
fn bad_signatures(ledger: &PublishedLedger, keys: &[PublishedKey]) -> Vec<i64> {
    ledger
        .checkpoints
        .iter()
        .filter(|c| {
            let Some(signature) = &c.signature else {
                return false;
            };
            let key = keys
                .iter()
                .find(|k| k.tenant == ledger.tenant && Some(&k.key_id) == c.key_id.as_ref());
            let message = signing::checkpoint_message(
                &ledger.tenant,
                &ledger.matter_id,
                ledger.version,
                c.entries,
                &c.root,
            );
            !key.is_some_and(|k| signing::verifies(k, &message, signature))
        })
        .map(|c| c.entries)
        .collect()
}

/// What changed since an earlier copy of the same ledger was saved: the earlier copy's
/// checkpoints (by entries covered) whose root the later ledger no longer shows, or whose
/// entries it shows otherwise (an entry of the earlier copy's sealed prefix changed, moved or
/// vanished). Empty when nothing sealed then has changed. A different matter, tenant or
/// version counts as all of them changed.
pub fn changed_since(earlier: &PublishedLedger, later: &PublishedLedger) -> Vec<i64> {
    if (
        earlier.matter_id.as_str(),
        earlier.tenant.as_str(),
        earlier.version,
    ) != (
        later.matter_id.as_str(),
        later.tenant.as_str(),
        later.version,
    ) {
        return earlier.checkpoints.iter().map(|c| c.entries).collect();
    }
    let sealed = |l: &PublishedLedger| -> Vec<(i64, String)> {
        l.entries
            .iter()
            .filter_map(|e| e.position.map(|p| (p, e.hash.clone())))
            .collect()
    };
    let (before, after) = (sealed(earlier), sealed(later));
    earlier
        .checkpoints
        .iter()
        .filter(|c| {
            let n = c.entries as usize;
            let kept = later
                .checkpoints
                .iter()
                .any(|d| d.entries == c.entries && d.root == c.root);
            let prefix = |s: &[(i64, String)]| s.iter().take(n).cloned().collect::<Vec<_>>();
            !kept || before.len() < n || after.len() < n || prefix(&before) != prefix(&after)
        })
        .map(|c| c.entries)
        .collect()
}

/// The highest ledger format this code reads.
pub const NEWEST_VERSION: u8 = 5;

/// Entries whose units are not on the roll or whose area is not their units' roll area (the
/// roll is frozen, so an entry's area is always the sum of its units' areas).
fn units_mismatched(ledger: &PublishedLedger) -> Vec<i64> {
    let area: BTreeMap<&str, i64> = ledger
        .roll
        .iter()
        .map(|u| (u.unit_code.as_str(), u.area_centi))
        .collect();
    ledger
        .entries
        .iter()
        .filter(|e| !units_add_up(&e.unit_codes, e.area_centi, &area))
        .map(|e| e.seq)
        .collect()
}

/// Whether `codes` (roll unit codes joined by commas, in code order) names units of the roll
/// whose areas sum to `area_centi`. A code may itself hold a comma, so the text is split every
/// way the roll's codes allow, not at each comma.
fn units_add_up(codes: &str, area_centi: i64, roll: &BTreeMap<&str, i64>) -> bool {
    // sums[i]: the area sums of every way of reading codes[..i] as whole codes.
    let mut sums: Vec<BTreeSet<i64>> = vec![BTreeSet::new(); codes.len() + 1];
    sums[0].insert(0);
    for start in 0..codes.len() {
        let reachable = start == 0 || codes.as_bytes()[start - 1] == b',';
        if sums[start].is_empty() || !reachable {
            continue;
        }
        for (code, unit_area) in roll {
            let end = start + code.len();
            let boundary = end == codes.len() || codes.as_bytes().get(end) == Some(&b',');
            if codes[start..].starts_with(code) && boundary {
                let next = if end == codes.len() { end } else { end + 1 };
                let add: Vec<i64> = sums[start].iter().map(|s| s + unit_area).collect();
                sums[next].extend(add);
            }
        }
    }
    sums[codes.len()].contains(&area_centi)
}

fn rules_match_preset(rules: &RuleSet) -> bool {
    match RuleSet::by_id(&rules.id) {
        Some(preset) => {
            (preset.participation, preset.approval, preset.approval_base)
                == (rules.participation, rules.approval, rules.approval_base)
        }
        None => rules.id == "custom",
    }
}

/// Whether the ledger holds only what its declared version's format has.
fn version_consistent(ledger: &PublishedLedger) -> bool {
    let v = ledger.version;
    let has = |f: &dyn Fn(&Entry) -> bool| ledger.entries.iter().any(f);
    let checkpointed = !ledger.checkpoints.is_empty() || !ledger.opening_hash.is_empty();
    (1..=NEWEST_VERSION).contains(&v)
        && (v >= 2 || !checkpointed)
        && (v >= 3
            || !(ledger.sealed
                || has(&|e| e.commitment.is_some() || e.salt.is_some() || e.cast_at.is_some())))
        && (v >= 4 || !has(&|e| e.kind == EntryKind::Reinstated))
        && (v >= 5) == ledger.facts.is_some()
        // Signatures, the declared result and the log's proof belong to version 5.
        && (v >= 5
            || (ledger.declared.is_none()
                && ledger.log.is_none()
                && ledger.checkpoints.iter().all(|c| c.key_id.is_none() && c.signature.is_none())))
}

/// Version 4: the ballots whose set-aside mark disagrees with the recount. The marks are read in
/// sequence order (superseded sets a ballot aside, reinstated brings it back); the recount sets
/// aside each valid ballot its person's channel rule passes over, and every ballot of a person
/// left holding no unit. Voided ballots are left out: the void entry already says they count
/// at most as invalid.
fn inconsistent_marks(ledger: &PublishedLedger, entries: &[Entry]) -> Vec<String> {
    let Some(r) = replay_with(ledger, entries, true) else {
        return vec!["(the ledger cannot be replayed)".into()];
    };
    let mut marks: Vec<&Entry> = entries
        .iter()
        .filter(|e| matches!(e.kind, EntryKind::Superseded | EntryKind::Reinstated))
        .collect();
    marks.sort_by_key(|e| e.seq);
    let mut marked = BTreeSet::new();
    for e in marks {
        if e.kind == EntryKind::Superseded {
            marked.insert(e.ballot_id.clone());
        } else {
            marked.remove(&e.ballot_id);
        }
    }
    marked.retain(|id| !r.voided.contains(id));
    marked.symmetric_difference(&r.set_aside).cloned().collect()
}

/// The roll after regroups, the effective casts (channel rule applied) and the delivered persons.
struct Recount {
    units: Vec<RollUnit>,
    effective: Vec<Cast>,
    delivered: BTreeSet<Holder>,
    /// Valid ballots that do not count: passed over by the channel rule, or of a person left
    /// holding no unit.
    set_aside: BTreeSet<String>,
    voided: BTreeSet<String>,
}

fn recount(ledger: &PublishedLedger, entries: &[Entry]) -> Option<Tally> {
    let r = replay(ledger, entries)?;
    let effective: Vec<_> = r.effective.iter().map(Cast::ballot).collect();
    tally(
        &snapshot(&r.units, &ledger.settings),
        &ledger.rule_set,
        &effective,
        &ledger.settings,
        &r.delivered,
    )
    .ok()
}

fn recount_election(ledger: &PublishedLedger, entries: &[Entry]) -> Option<Vec<(String, Tally)>> {
    let r = replay(ledger, entries)?;
    let picks: BTreeMap<&str, Vec<String>> = entries
        .iter()
        .filter(|e| e.kind == EntryKind::Cast)
        .map(|e| {
            (
                e.ballot_id.as_str(),
                e.picks
                    .as_deref()
                    .unwrap_or("")
                    .split(',')
                    .filter(|p| !p.is_empty())
                    .map(str::to_owned)
                    .collect(),
            )
        })
        .collect();
    let ballots: Vec<(Ballot, Vec<String>)> = r
        .effective
        .iter()
        .map(|c| {
            (
                c.ballot(),
                picks.get(c.id.as_str()).cloned().unwrap_or_default(),
            )
        })
        .collect();
    option_tallies(
        &snapshot(&r.units, &ledger.settings),
        &ledger.rule_set,
        &ballots,
        &ledger.settings,
        &ledger.candidates,
    )
    .ok()
}

fn replay(ledger: &PublishedLedger, entries: &[Entry]) -> Option<Recount> {
    replay_with(ledger, entries, false)
}

/// `sealed_choices`: replay without the choices (which ballots count does not depend on them).
fn replay_with(
    ledger: &PublishedLedger,
    entries: &[Entry],
    sealed_choices: bool,
) -> Option<Recount> {
    // The roll as it stands after every recorded regroup, applied in the order they happened.
    let mut person: BTreeMap<&str, &str> = ledger
        .roll
        .iter()
        .map(|u| (u.unit_code.as_str(), u.person_code.as_str()))
        .collect();
    let mut regroups: Vec<&Entry> = entries
        .iter()
        .filter(|e| e.kind == EntryKind::Regroup)
        .collect();
    regroups.sort_by_key(|e| e.seq);
    for e in regroups {
        *person.get_mut(e.unit_codes.as_str())? = &e.person_code;
    }
    let units: Vec<RollUnit> = ledger
        .roll
        .iter()
        .map(|u| RollUnit {
            unit: u.unit_code.clone(),
            area_centi: u.area_centi,
            class: u.class,
            holder: Holder::Owner(person[u.unit_code.as_str()].to_string()),
        })
        .collect();
    let voided: BTreeSet<&str> = entries
        .iter()
        .filter(|e| e.kind == EntryKind::Void)
        .map(|e| e.ballot_id.as_str())
        .collect();
    // A person left holding no unit (a sold unit went back to its seller, whose ballot was
    // signed before the sale) counts nothing.
    let holding: BTreeSet<&str> = person.values().copied().collect();
    let orphaned = entries.iter().filter(|e| {
        e.kind == EntryKind::Cast
            && !holding.contains(e.person_code.as_str())
            && !voided.contains(e.ballot_id.as_str())
    });
    let mut set_aside: BTreeSet<String> = orphaned.map(|e| e.ballot_id.clone()).collect();
    let casts = entries
        .iter()
        .filter(|e| e.kind == EntryKind::Cast && holding.contains(e.person_code.as_str()))
        .map(|e| {
            Some(Cast {
                id: e.ballot_id.clone(),
                holder: Holder::Owner(e.person_code.clone()),
                channel: e.channel?,
                seq: e.seq,
                cast_ms: match &e.cast_at {
                    Some(at) => chrono::DateTime::parse_from_rfc3339(at)
                        .ok()?
                        .timestamp_millis(),
                    None => e.seq,
                },
                choice: if sealed_choices {
                    e.choice.unwrap_or(Choice::Abstain)
                } else {
                    e.choice?
                },
                voided: voided.contains(e.ballot_id.as_str()),
            })
        })
        .collect::<Option<Vec<Cast>>>()?;
    let resolution = resolve(&casts, ledger.channel_rule);
    set_aside.extend(
        resolution
            .superseded
            .iter()
            .filter(|c| !c.voided)
            .map(|c| c.id.clone()),
    );
    let effective = resolution.effective;
    let delivered = entries
        .iter()
        .filter(|e| e.kind == EntryKind::Delivery)
        .map(|e| {
            person
                .get(e.unit_codes.as_str())
                .map(|p| Holder::Owner(p.to_string()))
        })
        .collect::<Option<_>>()?;
    let voided = voided.into_iter().map(str::to_owned).collect();
    Some(Recount {
        units,
        effective,
        delivered,
        set_aside,
        voided,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_leaf_of_every_ledger_tree_up_to_20_proves_its_place_and_nothing_else_does() {
        for n in 1..=20 {
            let leaves: Vec<String> = (0..n)
                .map(|i| super::hex_sha256(&["leaf", &i.to_string()]))
                .collect();
            let root = super::merkle_root(&leaves);
            for i in 0..n {
                let path = super::merkle_path(i, &leaves);
                assert_eq!(
                    super::root_from_path(i, n, &leaves[i], &path).as_deref(),
                    Some(root.as_str()),
                    "leaf {i} of {n}"
                );
                assert_ne!(
                    super::root_from_path(i, n, "forged", &path).as_deref(),
                    Some(root.as_str()),
                    "a forged leaf {i} of {n}"
                );
                if n > 1 {
                    let elsewhere = super::root_from_path((i + 1) % n, n, &leaves[i], &path);
                    assert_ne!(
                        elsewhere.as_deref(),
                        Some(root.as_str()),
                        "leaf {i} of {n} moved"
                    );
                }
            }
        }
    }

    use super::*;
    use crate::voting::rules::{ApprovalBase, Threshold};

    fn entry(
        seq: i64,
        kind: EntryKind,
        ballot: &str,
        person: &str,
        unit: &str,
        choice: Option<Choice>,
    ) -> Entry {
        let mut e = Entry {
            seq,
            position: Some(seq),
            kind,
            ballot_id: ballot.into(),
            person_code: person.into(),
            unit_codes: unit.into(),
            area_centi: 9000,
            channel: choice.map(|_| Channel::Online),
            choice,
            picks: None,
            commitment: None,
            salt: None,
            cast_at: None,
            at: "2026-11-27T04:00:00.000Z".into(),
            hash: String::new(),
        };
        e.hash = entry_hash("m1", &e);
        e
    }

    /// Re-seals the ledger after a test changed it on purpose: new root and one final checkpoint.
    fn seal(l: &mut PublishedLedger) {
        let all = leaves(&l.opening_hash, &l.entries);
        l.root = merkle_root(&all);
        l.checkpoints.push(Checkpoint {
            entries: l.entries.len() as i64,
            root: l.root.clone(),
            at: String::new(),
            key_id: None,
            signature: None,
        });
    }

    /// Three units of three persons; two agree, one disagrees; a checkpoint after two entries.
    fn ledger() -> PublishedLedger {
        let roll: Vec<PublishedUnit> = (0..3)
            .map(|i| PublishedUnit {
                unit_code: format!("1-1-10{i}"),
                area_centi: 9000,
                class: UnitClass::Residential,
                person_code: format!("p{i}"),
            })
            .collect();
        let entries: Vec<Entry> = (0..3)
            .map(|i| {
                entry(
                    i + 1,
                    EntryKind::Cast,
                    &format!("b{i}"),
                    &format!("p{i}"),
                    &format!("1-1-10{i}"),
                    Some(if i == 2 {
                        Choice::Disagree
                    } else {
                        Choice::Agree
                    }),
                )
            })
            .collect();
        let (rule_set, settings, channel_rule) = (
            RuleSet::civil_code_ordinary(),
            Settings::defaults(),
            ChannelRule::OnlineWins,
        );
        let opening_hash = opening_hash(2, "m1", &rule_set, &settings, channel_rule, &roll, &[]);
        let all = leaves(&opening_hash, &entries);
        let checkpoints = vec![
            Checkpoint {
                entries: 0,
                root: opening_hash.clone(),
                at: String::new(),
                key_id: None,
                signature: None,
            },
            Checkpoint {
                entries: 2,
                root: merkle_root(&all[..3]),
                at: String::new(),
                key_id: None,
                signature: None,
            },
        ];
        PublishedLedger {
            version: 2,
            tenant: "jd".into(),
            matter_id: "m1".into(),
            rule_set,
            settings,
            channel_rule,
            roll,
            candidates: Vec::new(),
            opening_hash,
            entries,
            checkpoints,
            root: merkle_root(&all),
            sealed: false,
            declared: None,
            log: None,
            facts: None,
        }
    }

    #[test]
    fn an_untouched_ledger_verifies_and_recounts() {
        let v = verify(&ledger());
        assert!(v.intact(), "{v:?}");
        let t = v.tally.unwrap();
        assert_eq!((t.agree.heads, t.disagree.heads, t.passed), (2, 1, true));
    }

    #[test]
    fn any_change_is_detected() {
        let mut changed = ledger();
        changed.entries[2].choice = Some(Choice::Agree);
        assert_eq!(
            verify(&changed).altered_entries,
            vec![3],
            "a changed choice breaks its hash"
        );

        let mut rehashed = ledger();
        rehashed.entries[1].choice = Some(Choice::Disagree);
        rehashed.entries[1].hash = entry_hash("m1", &rehashed.entries[1]);
        let v = verify(&rehashed);
        assert!(
            !v.root_matches,
            "re-hashing the entry still changes the root"
        );
        assert_eq!(
            v.broken_checkpoints,
            vec![2],
            "and the checkpoint that covered it"
        );

        let mut dropped = ledger();
        dropped.entries.remove(2);
        dropped
            .entries
            .iter_mut()
            .for_each(|e| e.position = Some(e.seq));
        assert!(
            !verify(&dropped).root_matches,
            "a dropped entry changes the root"
        );

        let mut reordered = ledger();
        reordered.entries.swap(0, 1);
        let (a, b) = (reordered.entries[0].position, reordered.entries[1].position);
        reordered.entries[0].position = b;
        reordered.entries[1].position = a;
        reordered.root = merkle_root(&leaves(&reordered.opening_hash, &reordered.entries));
        assert_eq!(
            verify(&reordered).broken_checkpoints,
            vec![2],
            "moving entries under a checkpoint is detected even with a new root"
        );
    }

    #[test]
    fn the_roll_and_rules_are_committed_by_the_opening() {
        let mut bigger = ledger();
        bigger.roll[0].area_centi += 1;
        let v = verify(&bigger);
        assert!(
            !v.opening_matches && v.broken_checkpoints.contains(&0),
            "{v:?}"
        );

        let mut laxer = ledger();
        laxer.rule_set = RuleSet::legacy_ordinary();
        assert!(!verify(&laxer).opening_matches);

        let mut reopened = ledger();
        reopened.roll[0].area_centi += 1;
        reopened.opening_hash = opening_hash(
            2,
            "m1",
            &reopened.rule_set,
            &reopened.settings,
            reopened.channel_rule,
            &reopened.roll,
            &[],
        );
        assert!(
            !verify(&reopened).broken_checkpoints.is_empty(),
            "a new opening hash no longer matches the checkpoints"
        );
    }

    #[test]
    fn a_void_entry_turns_its_ballot_invalid_in_the_recount() {
        let mut l = ledger();
        l.entries.push(entry(
            4,
            EntryKind::Void,
            "b0",
            "p0",
            "1-1-100",
            Some(Choice::Agree),
        ));
        seal(&mut l);
        let v = verify(&l);
        assert!(v.intact(), "{v:?}");
        let t = v.tally.unwrap();
        assert_eq!((t.agree.heads, t.invalid.heads), (1, 1));
        assert!(!t.passed, "1 agree of 3 participants");
    }

    #[test]
    fn regroup_entries_move_a_unit_to_its_new_person() {
        // Unit 1-1-102 is sold before p2 voted: it votes for its buyer q, who agrees.
        let mut l = ledger();
        l.entries.truncate(2);
        l.checkpoints.truncate(1);
        l.entries
            .push(entry(3, EntryKind::Regroup, "", "q", "1-1-102", None));
        l.entries.push(entry(
            4,
            EntryKind::Cast,
            "b3",
            "q",
            "1-1-102",
            Some(Choice::Agree),
        ));
        seal(&mut l);
        let t = verify(&l).tally.unwrap();
        assert_eq!(
            (t.agree.heads, t.participants.heads, t.totals.heads),
            (3, 3, 3)
        );

        // Joining p1's unit into p0: one person, two units.
        let mut joined = ledger();
        joined.entries.truncate(1);
        joined.checkpoints.truncate(1);
        joined
            .entries
            .push(entry(2, EntryKind::Regroup, "", "p0", "1-1-101", None));
        seal(&mut joined);
        let t = verify(&joined).tally.unwrap();
        assert_eq!(
            (t.totals.heads, t.agree.heads, t.agree.area_centi),
            (2, 1, 18000)
        );
    }

    #[test]
    fn an_election_ledger_recounts_every_candidate_and_commits_to_the_candidates() {
        let mut l = ledger();
        l.candidates = vec!["c1".into(), "c2".into()];
        l.opening_hash = opening_hash(
            2,
            "m1",
            &l.rule_set,
            &l.settings,
            l.channel_rule,
            &l.roll,
            &l.candidates,
        );
        l.checkpoints.truncate(1);
        l.checkpoints[0].root = l.opening_hash.clone();
        let picks = ["c1,c2", "c1", ""];
        for (e, p) in l.entries.iter_mut().zip(picks) {
            e.choice = Some(Choice::Agree);
            e.picks = Some(p.to_string());
            e.hash = entry_hash("m1", e);
        }
        seal(&mut l);
        let v = verify(&l);
        assert!(v.intact(), "{v:?}");
        let heads: Vec<(String, i64, bool)> = v
            .candidates
            .iter()
            .map(|(c, t)| (c.clone(), t.agree.heads, t.passed))
            .collect();
        assert_eq!(
            heads,
            [("c1".to_string(), 2, true), ("c2".to_string(), 1, false)],
            "c2 has 1 of 3 participants"
        );

        let mut swapped = l.clone();
        swapped.candidates.reverse();
        assert!(
            !verify(&swapped).opening_matches,
            "the candidate list is committed"
        );
        let mut repicked = l.clone();
        repicked.entries[1].picks = Some("c2".into());
        assert_eq!(verify(&repicked).altered_entries, vec![2]);
    }

    #[test]
    fn a_version_1_ledger_verifies_by_its_entries_alone() {
        let mut l = ledger();
        l.version = 1;
        l.opening_hash.clear();
        l.checkpoints.clear();
        l.root = merkle_root(&l.entries.iter().map(|e| e.hash.clone()).collect::<Vec<_>>());
        assert!(verify(&l).intact());
        l.entries.remove(0);
        assert!(!verify(&l).root_matches);
    }

    #[test]
    fn pending_entries_follow_the_positioned_ones() {
        let mut l = ledger();
        l.entries[2].position = None;
        assert!(
            verify(&l).intact(),
            "an entry awaiting its checkpoint still counts and roots"
        );
        l.entries[2].position = Some(5);
        assert_eq!(
            verify(&l).broken_checkpoints,
            vec![0, 2],
            "positions must run without gaps"
        );
    }

    /// The test ledger as version 3: every choice committed with its own salt, then revealed.
    fn sealed_then_revealed() -> PublishedLedger {
        let mut l = ledger();
        l.version = 3;
        l.opening_hash = opening_hash(
            3,
            "m1",
            &l.rule_set,
            &l.settings,
            l.channel_rule,
            &l.roll,
            &[],
        );
        l.checkpoints[0].root = l.opening_hash.clone();
        for e in &mut l.entries {
            let salt = format!("salt-{}", e.seq);
            e.commitment = Some(commitment("m1", e.seq, e.choice.unwrap(), None, &salt));
            e.salt = Some(salt);
            e.hash = entry_hash("m1", e);
        }
        let all = leaves(&l.opening_hash, &l.entries);
        l.checkpoints[1].root = merkle_root(&all[..3]);
        l.root = merkle_root(&all);
        l
    }

    #[test]
    fn a_sealed_ledger_verifies_without_choices_and_the_reveal_must_match_the_commitments() {
        let revealed = sealed_then_revealed();
        let v = verify(&revealed);
        assert!(v.intact() && v.sealed_entries == 0, "{v:?}");
        assert_eq!(v.tally.unwrap().agree.heads, 2);

        // While voting: no choice, no salt; hashes, checkpoints and root are the same.
        let sealed = revealed.clone().sealed();
        let v = verify(&sealed);
        assert!(v.intact(), "{v:?}");
        assert_eq!(
            (
                v.sealed_entries,
                v.tally.is_none(),
                v.recomputed_root == revealed.root
            ),
            (3, true, true)
        );

        // Withholding choices after the close, or showing some while claiming to be sealed, is
        // caught: a closed ledger reveals every choice, an open one none.
        let mut withheld = sealed.clone();
        withheld.sealed = false;
        assert_eq!(verify(&withheld).broken_commitments, vec![1, 2, 3]);
        let mut mixed = revealed.clone();
        mixed.sealed = true;
        mixed.entries[0].choice = None;
        mixed.entries[0].salt = None;
        assert_eq!(verify(&mixed).broken_commitments, vec![2, 3]);

        // Passing the ledger off as version 2 (whose entries carry no commitments to check)
        // breaks the opening, which commits to the version, and every committed entry.
        let mut downgraded = revealed.clone();
        downgraded.version = 2;
        downgraded.entries[2].choice = Some(Choice::Agree);
        let v = verify(&downgraded);
        assert!(
            !v.opening_matches && v.broken_commitments == vec![1, 2, 3] && !v.intact(),
            "{v:?}"
        );

        // A reveal that changes a choice keeps every hash but breaks its commitment.
        let mut swapped = revealed.clone();
        swapped.entries[2].choice = Some(Choice::Agree);
        let v = verify(&swapped);
        assert!(
            v.altered_entries.is_empty() && v.root_matches,
            "the hash covers the commitment, not the choice"
        );
        assert_eq!(v.broken_commitments, vec![3]);
        assert!(!v.intact());

        // So does a reveal without its salt, or a version 3 entry with no commitment at all.
        let mut unsalted = revealed.clone();
        unsalted.entries[0].salt = None;
        assert_eq!(verify(&unsalted).broken_commitments, vec![1]);
        let mut uncommitted = revealed;
        uncommitted.entries[1].commitment = None;
        uncommitted.entries[1].hash = entry_hash("m1", &uncommitted.entries[1]);
        assert!(verify(&uncommitted).broken_commitments.contains(&2));
    }

    #[test]
    fn only_sealed_ledgers_commit_to_their_version_and_older_ledgers_keep_their_opening() {
        let l = ledger();
        let older = opening_hash(
            2,
            "m1",
            &l.rule_set,
            &l.settings,
            l.channel_rule,
            &l.roll,
            &[],
        );
        // Published openings of earlier matters must verify forever: this one is pinned.
        assert_eq!(
            older, "62f745cc24506c93de9009967dc316152bcd3d1c8b5055cdcdb9f43b79073941",
            "the version 2 opening changed"
        );
        assert_eq!(
            opening_hash(
                1,
                "m1",
                &l.rule_set,
                &l.settings,
                l.channel_rule,
                &l.roll,
                &[]
            ),
            older,
            "versions 1 and 2 hash alike"
        );
        let sealed = opening_hash(
            3,
            "m1",
            &l.rule_set,
            &l.settings,
            l.channel_rule,
            &l.roll,
            &[],
        );
        assert_eq!(
            sealed, "af29ac36ad658057ed1ec862084809924f978b9d9dc0051b7383aa685b936859",
            "the version 3 opening changed"
        );
        assert_ne!(
            opening_hash(
                4,
                "m1",
                &l.rule_set,
                &l.settings,
                l.channel_rule,
                &l.roll,
                &[]
            ),
            sealed,
            "version 4 commits to true marks"
        );
    }

    #[test]
    fn a_ledger_that_cannot_be_recounted_is_not_intact_unless_its_choices_are_sealed() {
        // A ballot for a unit that is not on the roll: every hash fine, no recount possible.
        let mut l = ledger();
        l.entries
            .push(entry(4, EntryKind::Regroup, "", "p9", "9-9-999", None));
        seal(&mut l);
        let v = verify(&l);
        assert!(
            v.root_matches && v.altered_entries.is_empty() && v.tally.is_none(),
            "{v:?}"
        );
        assert!(!v.intact(), "no tally, not sealed: not intact");
    }

    #[test]
    fn delivery_entries_let_delivered_non_voters_follow_in_the_recount() {
        // Three persons, two agree; p2 did not vote but the ballot was delivered. Under the
        // 从众 clause p2 follows the majority once participation (2 of 3) passes.
        let mut l = ledger();
        l.settings.non_voters_follow_majority = true;
        l.opening_hash = opening_hash(
            2,
            "m1",
            &l.rule_set,
            &l.settings,
            l.channel_rule,
            &l.roll,
            &[],
        );
        l.checkpoints.truncate(1);
        l.checkpoints[0].root = l.opening_hash.clone();
        l.entries.truncate(2);
        l.entries
            .push(entry(3, EntryKind::Delivery, "", "p2", "1-1-102", None));
        seal(&mut l);
        let v = verify(&l);
        assert!(v.intact(), "{v:?}");
        let t = v.tally.unwrap();
        assert_eq!(
            (t.followers.heads, t.agree.heads, t.participants.heads),
            (1, 3, 3)
        );
    }

    #[test]
    fn a_ledger_published_without_a_version_is_read_as_version_1() {
        let mut json = serde_json::to_value(ledger()).unwrap();
        json.as_object_mut().unwrap().remove("version");
        let read: PublishedLedger = serde_json::from_value(json).unwrap();
        assert_eq!(read.version, 1);
    }

    #[test]
    fn person_codes_depend_on_the_secret_salt() {
        assert_ne!(
            person_code("salt-a", "roll:张三|13800138000"),
            person_code("salt-b", "roll:张三|13800138000")
        );
        assert_eq!(person_code("s", "k").len(), 16);
    }

    /// Recomputes every hash the way a forger who can write the whole file would: each entry's
    /// hash, the opening, one checkpoint per entry and the root.
    fn reseal(l: &mut PublishedLedger) {
        for e in &mut l.entries {
            e.hash = entry_hash(&l.matter_id, e);
        }
        if l.version >= 2 {
            l.opening_hash = opening_hash_with(
                l.version,
                &l.matter_id,
                &l.rule_set,
                &l.settings,
                l.channel_rule,
                &l.roll,
                &l.candidates,
                l.facts.as_ref(),
            );
        }
        let all = if l.version >= 2 {
            leaves(&l.opening_hash, &l.entries)
        } else {
            l.entries.iter().map(|e| e.hash.clone()).collect()
        };
        l.checkpoints = if l.version >= 2 {
            (0..all.len())
                .map(|n| Checkpoint {
                    entries: n as i64,
                    root: merkle_root(&all[..=n]),
                    at: String::new(),
                    key_id: None,
                    signature: None,
                })
                .collect()
        } else {
            Vec::new()
        };
        l.root = merkle_root(&all);
    }

    #[test]
    fn a_resealed_ledger_still_verifies_so_the_forgeries_below_are_caught_by_what_resealing_cannot_hide(
    ) {
        let mut l = ledger();
        reseal(&mut l);
        assert!(verify(&l).intact(), "{:?}", verify(&l));
    }

    #[test]
    fn entries_shuffled_in_the_array_are_refused_resealed_or_not() {
        let mut shuffled = ledger();
        shuffled.entries.swap(0, 2);
        let v = verify(&shuffled);
        assert!(!v.order_matches && !v.intact(), "{v:?}");
        // Every hash resealed over the shuffled array: the positions still give the order away.
        reseal(&mut shuffled);
        let v = verify(&shuffled);
        assert!(!v.order_matches && !v.intact(), "{v:?}");
    }

    #[test]
    fn an_earlier_copy_proves_nothing_sealed_then_has_changed() {
        let earlier = ledger();
        let mut later = earlier.clone();
        assert!(changed_since(&earlier, &later).is_empty());
        // More entries and checkpoints since: still nothing changed.
        later.checkpoints.push(Checkpoint {
            entries: 3,
            root: merkle_root(&leaves(&later.opening_hash, &later.entries)),
            at: String::new(),
            key_id: None,
            signature: None,
        });
        assert!(changed_since(&earlier, &later).is_empty());
        // A sealed entry rewritten and everything re-hashed: the earlier copy's checkpoint says so.
        let mut rewritten = later.clone();
        rewritten.entries[0].choice = Some(Choice::Disagree);
        reseal(&mut rewritten);
        assert_eq!(
            changed_since(&earlier, &rewritten),
            vec![2],
            "{:?}",
            changed_since(&earlier, &rewritten)
        );
        // A checkpoint dropped, or another matter's ledger.
        let mut dropped = later.clone();
        dropped.checkpoints.retain(|c| c.entries != 2);
        assert_eq!(changed_since(&earlier, &dropped), vec![2]);
        let mut other = later.clone();
        other.matter_id = "m2".into();
        assert_eq!(changed_since(&earlier, &other), vec![0, 2]);
    }

    #[test]
    fn unit_codes_holding_a_comma_are_read_as_the_roll_has_them() {
        let roll = BTreeMap::from([("1-1-101,102", 9000), ("1-1-103", 5000), ("1-1-101", 100)]);
        assert!(
            units_add_up("1-1-101,102,1-1-103", 14000, &roll),
            "one combined flat and another"
        );
        assert!(!units_add_up("1-1-101,102,1-1-103", 9100, &roll));
        assert!(units_add_up("", 0, &roll) && !units_add_up("1-1-104", 0, &roll));
    }

    #[test]
    fn a_voters_roll_area_changed_and_resealed_no_longer_matches_their_entry() {
        let mut bigger = ledger();
        bigger.roll[0].area_centi = 90_000;
        reseal(&mut bigger);
        let v = verify(&bigger);
        assert_eq!(v.units_mismatched, vec![1], "{v:?}");
        assert!(!v.intact());
        // An entry naming a unit the roll does not have.
        let mut ghost = ledger();
        ghost.entries[1].unit_codes = "9-9-999".into();
        reseal(&mut ghost);
        assert_eq!(verify(&ghost).units_mismatched, vec![2]);
    }

    #[test]
    fn a_preset_with_its_fractions_changed_under_the_same_name_is_refused() {
        let mut laxer = ledger();
        laxer.rule_set.approval = Threshold::more_than(1, 3);
        reseal(&mut laxer);
        let v = verify(&laxer);
        assert!(!v.rules_match_preset && !v.intact(), "{v:?}");
        let mut unknown = ledger();
        unknown.rule_set.id = "civil_code_2030".into();
        reseal(&mut unknown);
        assert!(!verify(&unknown).rules_match_preset);
        let mut custom = ledger();
        custom.rule_set =
            RuleSet::custom(None, Threshold::at_least(3, 5), ApprovalBase::AllInScope).unwrap();
        reseal(&mut custom);
        assert!(verify(&custom).intact(), "a custom set is what it says");
    }

    #[test]
    fn a_newer_ledger_relabelled_as_an_older_version_is_refused() {
        // A sealed ledger passed off as version 1 or 2 (no opening to check, or one without the
        // sealing commitment) still carries its commitments.
        for older in [1, 2] {
            let mut relabelled = sealed_then_revealed();
            relabelled.version = older;
            if older == 1 {
                relabelled.opening_hash.clear();
            }
            reseal(&mut relabelled);
            let v = verify(&relabelled);
            assert!(
                !v.version_consistent && !v.intact(),
                "as version {older}: {v:?}"
            );
        }
        // A version 2 ledger relabelled as 1 with its opening kept.
        let mut v1 = ledger();
        v1.version = 1;
        v1.root = merkle_root(
            &v1.entries
                .iter()
                .map(|e| e.hash.clone())
                .collect::<Vec<_>>(),
        );
        assert!(
            !verify(&v1).version_consistent,
            "version 1 had no opening or checkpoints"
        );
        // A version this code does not know.
        let mut future = ledger();
        future.version = NEWEST_VERSION + 1;
        reseal(&mut future);
        assert!(!verify(&future).version_consistent);
        // Reinstated marks belong to version 4.
        let mut early = marks_ledger(true);
        early.version = 3;
        reseal(&mut early);
        assert!(!verify(&early).version_consistent);
    }

    /// Version 4, online ballots win: p0 votes on paper (b0), then online (b1), which sets the
    /// paper ballot aside; staff void the online ballot, so the paper ballot counts again
    /// (`reinstate`: with the reinstated entry the format requires).
    #[test]
    fn signatures_a_declared_result_or_a_log_proof_below_version_5_are_refused() {
        let genuine = marks_ledger(false);
        assert!(verify(&genuine).version_consistent);
        let mut signed = genuine.clone();
        signed.checkpoints[0].signature = Some("00".repeat(64));
        let mut logged = genuine.clone();
        let head = crate::transparency::proof::TreeHead {
            size: 1,
            root: "00".repeat(32),
            signed_at: "2026-01-01T00:00:00.000Z".into(),
            key_id: "log-v1".into(),
            public_key: "00".repeat(32),
            signature: "00".repeat(64),
        };
        logged.log = Some(LogInclusion {
            kind: LeafKind::Checkpoint,
            entries: 0,
            leaf_index: 0,
            proof: Vec::new(),
            head,
        });
        for (what, l) in [("signature", signed), ("log proof", logged)] {
            let v = verify(&l);
            assert!(
                !v.version_consistent && !v.intact(),
                "a version 4 ledger with a {what}"
            );
        }
    }

    fn marks_ledger(reinstate: bool) -> PublishedLedger {
        let mut l = ledger();
        l.version = 4;
        let paper = {
            let mut e = entry(
                1,
                EntryKind::Cast,
                "b0",
                "p0",
                "1-1-100",
                Some(Choice::Disagree),
            );
            e.channel = Some(Channel::Paper);
            e
        };
        let mut entries = vec![
            paper.clone(),
            entry(
                2,
                EntryKind::Cast,
                "b1",
                "p0",
                "1-1-100",
                Some(Choice::Agree),
            ),
            Entry {
                seq: 3,
                kind: EntryKind::Superseded,
                ..paper.clone()
            },
            Entry {
                seq: 4,
                kind: EntryKind::Void,
                ..entry(
                    4,
                    EntryKind::Void,
                    "b1",
                    "p0",
                    "1-1-100",
                    Some(Choice::Agree),
                )
            },
        ];
        if reinstate {
            entries.push(Entry {
                seq: 5,
                kind: EntryKind::Reinstated,
                ..paper
            });
        }
        for (i, e) in entries.iter_mut().enumerate() {
            e.position = Some(i as i64 + 1);
            let salt = format!("salt-{}", e.seq);
            e.commitment = Some(commitment("m1", e.seq, e.choice.unwrap(), None, &salt));
            e.salt = Some(salt);
        }
        l.entries = entries;
        reseal(&mut l);
        l
    }

    #[test]
    fn the_superseded_mark_always_describes_the_ballot_that_counts() {
        let v = verify(&marks_ledger(true));
        assert!(v.intact(), "{v:?}");
        assert_eq!(
            v.tally.unwrap().disagree.heads,
            1,
            "the paper ballot counts again"
        );
        // Without the reinstated entry the ledger says the counting ballot was set aside.
        let v = verify(&marks_ledger(false));
        assert_eq!(
            (v.inconsistent_marks.clone(), v.intact()),
            (vec!["b0".to_string()], false),
            "{v:?}"
        );
        // A superseded mark removed: the online ballot passes over the paper one unmarked.
        let mut unmarked = marks_ledger(true);
        unmarked.entries.truncate(2);
        reseal(&mut unmarked);
        assert_eq!(verify(&unmarked).inconsistent_marks, vec!["b0".to_string()]);
    }

    /// The test ledger as version 5, closed: revealed, every checkpoint signed by `keyring`, and
    /// its result declared and signed.
    fn signed(keyring: &signing::Keyring) -> PublishedLedger {
        let mut l = sealed_then_revealed();
        l.version = 5;
        l.facts = Some(OpeningFacts {
            kind: "matter".into(),
            title: "是否更换电梯".into(),
            law_item: 4,
            scope_buildings: None,
            rule_change_reason: None,
            opens_at: "2026-11-27T04:00:00.000Z".into(),
            closes_at: "2026-12-01T00:00:00.000Z".into(),
            registered_households: 3,
            registered_area_centi: 27000,
            seats: None,
        });
        reseal(&mut l);
        sign(&mut l, keyring);
        let tally = verify(&l).tally.unwrap();
        let result = DeclaredResult {
            closed_at: "2026-12-01T00:00:00.000Z".into(),
            closes_at: "2026-12-01T00:00:00.000Z".into(),
            entries: l.entries.len() as i64,
            root: l.root.clone(),
            tally: Some(DeclaredTally::of(&tally)),
            candidates: Vec::new(),
            seats: None,
            elected: Vec::new(),
            lots: Vec::new(),
        };
        declare(&mut l, result, keyring);
        l
    }

    fn declare(l: &mut PublishedLedger, result: DeclaredResult, keyring: &signing::Keyring) {
        let s = keyring.sign(
            &l.tenant,
            &result_message(&l.tenant, &l.matter_id, l.version, &result),
        );
        l.declared = Some(Declared {
            result,
            key_id: s.key_id,
            signature: s.signature,
        });
    }

    fn sign(l: &mut PublishedLedger, keyring: &signing::Keyring) {
        for c in &mut l.checkpoints {
            let s = keyring.sign(
                &l.tenant,
                &signing::checkpoint_message(
                    &l.tenant,
                    &l.matter_id,
                    l.version,
                    c.entries,
                    &c.root,
                ),
            );
            (c.key_id, c.signature) = (Some(s.key_id), Some(s.signature));
        }
    }

    fn keyring(secret: &str) -> signing::Keyring {
        signing::Keyring::from_config(
            Some(&crate::config::Secret::from(secret.repeat(32))),
            "k1",
            false,
        )
        .unwrap()
    }

    #[test]
    fn a_signed_ledger_verifies_with_its_street_offices_key_and_only_with_it() {
        let office = keyring("o");
        let l = signed(&office);
        let v = verify_with_keys(&l, &[office.public_key("jd")]);
        assert!(v.intact(), "{v:?}");
        let v = verify(&l);
        assert!(
            v.needs_keys && !v.intact(),
            "a signed ledger is not vouched for without the keys: {v:?}"
        );
        let v = verify_with_keys(&l, &[keyring("x").public_key("jd")]);
        assert_eq!(
            v.bad_signatures,
            vec![0, 1, 2, 3],
            "another key signs nothing here"
        );
        let mut unsigned = l.clone();
        unsigned.checkpoints[1].signature = None;
        unsigned.checkpoints[1].key_id = None;
        assert_eq!(
            verify_with_keys(&unsigned, &[office.public_key("jd")]).unsigned_checkpoints,
            vec![1]
        );
    }

    #[test]
    fn a_forger_who_rehashes_everything_cannot_sign_and_is_caught() {
        let office = keyring("o");
        let keys = [office.public_key("jd")];
        // A choice flipped, its commitment and every hash recomputed: only the signatures tell.
        let mut flipped = signed(&office);
        let e = &mut flipped.entries[2];
        e.choice = Some(Choice::Agree);
        e.commitment = Some(commitment(
            "m1",
            e.seq,
            Choice::Agree,
            None,
            e.salt.as_deref().unwrap(),
        ));
        let old = flipped.checkpoints.clone();
        reseal(&mut flipped);
        for (c, o) in flipped.checkpoints.iter_mut().zip(&old) {
            (c.key_id, c.signature) = (o.key_id.clone(), o.signature.clone());
        }
        let v = verify_with_keys(&flipped, &keys);
        assert!(
            v.root_matches && v.altered_entries.is_empty() && v.broken_commitments.is_empty(),
            "the forgery is internally consistent: {v:?}"
        );
        assert_eq!(
            v.bad_signatures,
            vec![3],
            "the checkpoint over the flipped entry is not the office's: {v:?}"
        );
        // Signed by the forger's own key: not the published one.
        let mut own = flipped.clone();
        sign(&mut own, &keyring("f"));
        assert_eq!(
            verify_with_keys(&own, &keys).bad_signatures,
            vec![0, 1, 2, 3]
        );
        // Relabelled as version 4 with the signatures kept: they were made over version 5.
        let mut older = signed(&office);
        older.version = 4;
        reseal(&mut older);
        for (c, o) in older
            .checkpoints
            .iter_mut()
            .zip(&signed(&office).checkpoints)
        {
            (c.key_id, c.signature) = (o.key_id.clone(), o.signature.clone());
        }
        assert!(!verify_with_keys(&older, &keys).bad_signatures.is_empty());
        // The declared result changed to a pass that never was, re-signed by the forger.
        let mut overturned = signed(&office);
        let mut result = overturned.declared.clone().unwrap().result;
        result.tally.as_mut().unwrap().passed = !result.tally.as_ref().unwrap().passed;
        declare(&mut overturned, result.clone(), &keyring("f"));
        let v = verify_with_keys(&overturned, &keys);
        assert!(
            !v.result_matches && !v.result_signed && !v.intact(),
            "{v:?}"
        );
        // Declared as the recount gives, but not signed by the office.
        let mut unsigned = signed(&office);
        let honest = unsigned.declared.clone().unwrap().result;
        declare(&mut unsigned, honest, &keyring("f"));
        let v = verify_with_keys(&unsigned, &keys);
        assert!(v.result_matches && !v.result_signed, "{v:?}");
        // No declared result at all.
        let mut missing = signed(&office);
        missing.declared = None;
        assert!(!verify_with_keys(&missing, &keys).result_matches);
        // The law item changed (special becomes ordinary) and every hash resealed: the opening
        // commits to the facts, and the office signed the opening.
        let mut relabelled = signed(&office);
        relabelled.facts.as_mut().unwrap().law_item = 9;
        let old = relabelled.checkpoints.clone();
        reseal(&mut relabelled);
        for (c, o) in relabelled.checkpoints.iter_mut().zip(&old) {
            (c.key_id, c.signature) = (o.key_id.clone(), o.signature.clone());
        }
        let v = verify_with_keys(&relabelled, &keys);
        assert!(v.opening_matches && v.bad_signatures.contains(&0), "{v:?}");
        let mut unfacted = signed(&office);
        unfacted.facts = None;
        assert!(
            !verify_with_keys(&unfacted, &keys).version_consistent,
            "version 5 carries its facts"
        );
        // Every checkpoint after the opening dropped: the declared root is no longer signed.
        let mut dropped = signed(&office);
        dropped.checkpoints.truncate(1);
        let v = verify_with_keys(&dropped, &keys);
        assert!(!v.root_signed && !v.intact(), "{v:?}");
    }
}
