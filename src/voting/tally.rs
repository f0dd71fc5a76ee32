//! The pure voting engine: from a roll snapshot, a rule set and the ballots to totals,
//! participation, approval and the distance to each threshold. No I/O; integers only
//! (areas in hundredths of a m²). VOTING-RULES.md §2–3.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::rules::{ApprovalBase, RuleSet, Threshold};

/// Who a unit's vote belongs to. Units with the same holder count as one person (§2).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Holder {
    /// All the developer's unsold (or undelivered) units together: one person.
    Developer,
    /// One owner, however many units (co-owners of a unit share their unit's holder).
    Owner(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnitClass {
    Residential,
    Commercial,
    Parking,
    Storage,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RollUnit {
    pub unit: String,
    pub area_centi: i64,
    pub class: UnitClass,
    pub holder: Holder,
}

/// Estate settings the engine needs (procedural rules and covenant).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    pub parking_counts: bool,
    pub storage_counts: bool,
    /// Default true: invalid ballots take part but never agree.
    pub invalid_ballots_participate: bool,
    /// 从众条款: delivered non-voters follow the majority once participation passes.
    pub non_voters_follow_majority: bool,
}

impl Settings {
    pub fn defaults() -> Self {
        Settings {
            invalid_ballots_participate: true,
            ..Settings::default()
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Choice {
    Agree,
    Disagree,
    Abstain,
}

/// The one ballot that counts for a person (see `resolve` for several channels).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ballot {
    pub holder: Holder,
    pub choice: Choice,
    /// False for a spoiled ballot or one voided by staff.
    pub valid: bool,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub heads: i64,
    pub area_centi: i64,
}

impl Counts {
    fn add(&mut self, w: Counts) {
        self.heads += w.heads;
        self.area_centi += w.area_centi;
    }
}

/// The weighted roll frozen when voting opens: one entry per person.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    pub persons: BTreeMap<Holder, Counts>,
    pub totals: Counts,
}

/// Groups the roll into persons (§2): units of one holder add their areas and count as one
/// head; parking and storage count only where the estate says so.
pub fn snapshot(units: &[RollUnit], settings: &Settings) -> Snapshot {
    let mut persons: BTreeMap<Holder, Counts> = BTreeMap::new();
    for u in units {
        let counted = match u.class {
            UnitClass::Parking => settings.parking_counts,
            UnitClass::Storage => settings.storage_counts,
            UnitClass::Residential | UnitClass::Commercial => true,
        };
        if counted {
            persons
                .entry(u.holder.clone())
                .or_insert(Counts {
                    heads: 1,
                    area_centi: 0,
                })
                .area_centi += u.area_centi;
        }
    }
    let mut totals = Counts::default();
    persons.values().for_each(|w| totals.add(*w));
    Snapshot { persons, totals }
}

/// One test on heads and area together.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    pub value: Counts,
    pub base: Counts,
    /// The smallest value that passes over the current base.
    pub required: Counts,
    /// How many more persons and m² (agreeing, for approval) are needed; zero when passed.
    /// `None` where no number of extra voters can pass it.
    pub shortfall_heads: Option<i64>,
    pub shortfall_area_centi: Option<i64>,
    pub passed: bool,
}

impl Check {
    /// A shortfall larger than what the remaining non-voters hold can never be made up.
    fn cap_by(&mut self, remaining: Counts) {
        self.shortfall_heads = self.shortfall_heads.filter(|s| *s <= remaining.heads);
        self.shortfall_area_centi = self
            .shortfall_area_centi
            .filter(|s| *s <= remaining.area_centi);
    }
}

fn check_against(t: &Threshold, value: Counts, base: Counts, joining: bool) -> Check {
    let passed = t.met(value.heads, base.heads) && t.met(value.area_centi, base.area_centi);
    let shortfall = |v: i64, b: i64| {
        if joining {
            t.joining_shortfall(v, b)
        } else {
            Some((t.minimum(b) - v).max(0))
        }
    };
    Check {
        value,
        base,
        required: Counts {
            heads: t.minimum(base.heads),
            area_centi: t.minimum(base.area_centi),
        },
        shortfall_heads: shortfall(value.heads, base.heads),
        shortfall_area_centi: shortfall(value.area_centi, base.area_centi),
        passed,
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    pub rule_set: String,
    pub totals: Counts,
    pub agree: Counts,
    pub disagree: Counts,
    pub abstain: Counts,
    pub invalid: Counts,
    /// Non-voters counted with the majority under the 从众 clause.
    pub followers: Counts,
    pub participants: Counts,
    pub participation: Option<Check>,
    pub approval: Check,
    pub passed: bool,
}

#[derive(Debug, PartialEq, Eq)]
pub enum TallyError {
    /// A ballot from someone not on the snapshot.
    NotOnRoll(Holder),
    /// Two ballots for one person reached the tally (resolve them first).
    TwoBallots(Holder),
}

/// Tallies the effective ballots. `delivered`: non-voters with recorded proof that their
/// ballot was delivered (only used under the 从众 clause).
pub fn tally(
    snap: &Snapshot,
    rules: &RuleSet,
    ballots: &[Ballot],
    settings: &Settings,
    delivered: &BTreeSet<Holder>,
) -> Result<Tally, TallyError> {
    let (mut agree, mut disagree, mut abstain, mut invalid) = Default::default();
    let mut voted = BTreeSet::new();
    for b in ballots {
        let weight = *snap
            .persons
            .get(&b.holder)
            .ok_or_else(|| TallyError::NotOnRoll(b.holder.clone()))?;
        if !voted.insert(b.holder.clone()) {
            return Err(TallyError::TwoBallots(b.holder.clone()));
        }
        let bucket: &mut Counts = match (b.valid, b.choice) {
            (false, _) => &mut invalid,
            (true, Choice::Agree) => &mut agree,
            (true, Choice::Disagree) => &mut disagree,
            (true, Choice::Abstain) => &mut abstain,
        };
        bucket.add(weight);
    }
    let participants_of = |agree: Counts, disagree: Counts| {
        let mut p = Counts::default();
        for c in [agree, disagree, abstain] {
            p.add(c);
        }
        if settings.invalid_ballots_participate {
            p.add(invalid);
        }
        p
    };
    let evaluate = |agree: Counts, participants: Counts| {
        let participation = rules
            .participation
            .map(|t| check_against(&t, participants, snap.totals, false));
        let approval = match rules.approval_base {
            ApprovalBase::Participants => check_against(&rules.approval, agree, participants, true),
            ApprovalBase::AllInScope => check_against(&rules.approval, agree, snap.totals, false),
        };
        (participation, approval)
    };
    let mut participants = participants_of(agree, disagree);
    let (mut participation, mut approval) = evaluate(agree, participants);
    let mut followers = Counts::default();
    // 从众: only after participation passes, only for delivered non-voters, and they follow
    // the outcome the ballots already give, so they can widen a result but never flip it.
    if settings.non_voters_follow_majority && participation.as_ref().is_some_and(|p| p.passed) {
        for holder in delivered.iter().filter(|h| !voted.contains(*h)) {
            if let Some(w) = snap.persons.get(holder) {
                followers.add(*w);
            }
        }
        if approval.passed {
            agree.add(followers);
        } else {
            disagree.add(followers);
        }
        participants = participants_of(agree, disagree);
        (participation, approval) = evaluate(agree, participants);
    }
    let passed = participation.as_ref().is_none_or(|p| p.passed) && approval.passed;
    Ok(Tally {
        rule_set: rules.id.clone(),
        totals: snap.totals,
        agree,
        disagree,
        abstain,
        invalid,
        followers,
        participants,
        participation,
        approval,
        passed,
    })
}

/// Marks shortfalls that the persons who can still vote (`remaining`: non-voters, and voters
/// whose ballot may yet be replaced) could not make up as unreachable. Only the caller knows
/// which ballots are final (channel rule, change of vote), so the tally leaves this to it.
pub fn cap_shortfalls(t: &mut Tally, remaining: Counts) {
    for c in t.participation.iter_mut().chain([&mut t.approval]) {
        c.cap_by(remaining);
    }
}

/// Candidate elections (VOTING-RULES §4): every candidate is a question each ballot answers,
/// picked = agree, not picked = abstain, so all candidates share one participation and each
/// one's approval is measured against all participants. Returns one tally per option, in order.
pub fn option_tallies(
    snap: &Snapshot,
    rules: &RuleSet,
    ballots: &[(Ballot, Vec<String>)],
    settings: &Settings,
    options: &[String],
) -> Result<Vec<(String, Tally)>, TallyError> {
    options
        .iter()
        .map(|option| {
            let answered: Vec<Ballot> = ballots
                .iter()
                .map(|(b, picks)| Ballot {
                    choice: if picks.contains(option) {
                        Choice::Agree
                    } else {
                        Choice::Abstain
                    },
                    ..b.clone()
                })
                .collect();
            tally(snap, rules, &answered, settings, &BTreeSet::new()).map(|t| (option.clone(), t))
        })
        .collect()
}

/// Ballot channels (§3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Online,
    Paper,
    OnSite,
}

/// Which channel's ballot counts when a person used two.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelRule {
    /// Shenzhen: the online ballot wins.
    OnlineWins,
    /// The paper or on-site ballot (signed in person) wins.
    InPersonWins,
    /// The channel of the ballot cast first (a paper ballot by when it was signed, however late
    /// it was entered) wins; a permitted change of vote on that channel replaces the ballot.
    FirstWins,
}

/// A ballot as cast, before channels and changes are resolved.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cast {
    pub id: String,
    pub holder: Holder,
    pub channel: Channel,
    /// Order of recording (ledger sequence): a later ballot on the same channel is a change of
    /// vote.
    pub seq: i64,
    /// When the voter cast it, in milliseconds: signing time for paper and on-site ballots,
    /// submission for online ones. Decides which ballot was first under `FirstWins`. (Ledgers
    /// before version 3 did not record it; their sequence number stands in.)
    pub cast_ms: i64,
    pub choice: Choice,
    pub voided: bool,
}

pub struct Resolution {
    /// One ballot per person: the one that counts.
    pub effective: Vec<Cast>,
    /// Kept, marked superseded, never counted.
    pub superseded: Vec<Cast>,
}

/// Picks each person's counting ballot: the winning channel by `rule`, and within a channel
/// the latest cast (a permitted change of vote replaces the earlier one).
pub fn resolve(casts: &[Cast], rule: ChannelRule) -> Resolution {
    let mut by_person: BTreeMap<&Holder, Vec<&Cast>> = BTreeMap::new();
    for c in casts {
        by_person.entry(&c.holder).or_default().push(c);
    }
    let mut effective = Vec::new();
    let mut superseded = Vec::new();
    for (_, mut list) in by_person {
        list.sort_by_key(|c| c.seq);
        // A voided ballot only counts (as invalid) when the person has no valid one.
        let contenders: Vec<&Cast> = if list.iter().any(|c| !c.voided) {
            list.iter().copied().filter(|c| !c.voided).collect()
        } else {
            list.clone()
        };
        let winner = match rule {
            ChannelRule::FirstWins => {
                let first_channel = contenders
                    .iter()
                    .min_by_key(|c| (c.cast_ms, c.seq))
                    .map(|c| c.channel)
                    .expect("a person with casts has a first");
                contenders
                    .iter()
                    .filter(|c| c.channel == first_channel)
                    .max_by_key(|c| c.seq)
            }
            ChannelRule::OnlineWins | ChannelRule::InPersonWins => {
                let online = |c: &&&Cast| c.channel == Channel::Online;
                let preferred: Vec<&&Cast> = if rule == ChannelRule::OnlineWins {
                    contenders.iter().filter(online).collect()
                } else {
                    contenders.iter().filter(|c| !online(c)).collect()
                };
                let pool: Vec<&&Cast> = if preferred.is_empty() {
                    contenders.iter().collect()
                } else {
                    preferred
                };
                pool.into_iter().max_by_key(|c| c.seq)
            }
        }
        .copied()
        .expect("a person with casts has a winner");
        for c in list {
            if c.id == winner.id {
                effective.push(c.clone());
            } else {
                superseded.push(c.clone());
            }
        }
    }
    Resolution {
        effective,
        superseded,
    }
}

impl Cast {
    pub fn ballot(&self) -> Ballot {
        Ballot {
            holder: self.holder.clone(),
            choice: self.choice,
            valid: !self.voided,
        }
    }
}
