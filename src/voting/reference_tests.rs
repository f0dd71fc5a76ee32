//! The engine against a deliberately simple reference written here from VOTING-RULES.md (one
//! loop, cross-multiplied comparisons, nothing shared with `tally.rs`), over generated estates
//! that exercise every setting and kind of holder, and shortfalls checked in both directions:
//! the number given is enough, one less is not.
//!
//! The generators lean towards agreement and turnout, so that passing and failing outcomes both
//! occur in most runs (each property counts how often its interesting case came up).

use std::collections::{BTreeMap, BTreeSet};

use proptest::{prelude::*, strategy::ValueTree};

use super::{
    rules::{ApprovalBase, Comparison, RuleSet, Threshold},
    tally::{snapshot, tally, Ballot, Choice, Counts, Holder, RollUnit, Settings, UnitClass},
};

/// A generated vote: the roll, the settings, each person's ballot (or none) and the delivered.
#[derive(Clone, Debug)]
pub(crate) struct Vote {
    pub roll: Vec<RollUnit>,
    pub settings: Settings,
    pub ballots: Vec<Ballot>,
    pub delivered: BTreeSet<Holder>,
}

fn class() -> impl Strategy<Value = UnitClass> {
    prop_oneof![6 => Just(UnitClass::Residential), 2 => Just(UnitClass::Commercial), 1 => Just(UnitClass::Parking), 1 => Just(UnitClass::Storage)]
}

/// A choice, agreeing `agree` times in ten (a valid flag alongside: one in ten is spoiled).
fn marked(agree: u32) -> impl Strategy<Value = (Choice, bool)> {
    (
        prop_oneof![agree => Just(Choice::Agree), (10 - agree) * 2 / 3 => Just(Choice::Disagree), (10 - agree) / 3 => Just(Choice::Abstain)],
        proptest::bool::weighted(0.9),
    )
}

/// Votes where most persons vote and most voters agree: passes and failures alike.
fn vote() -> impl Strategy<Value = Vote> {
    vote_shaped(0.8, 7, true)
}

/// Votes shaped for a property: `turnout` of persons vote, `agree` in ten of them agree, and
/// the 从众 clause is on in some estates only where `follow` allows.
pub(crate) fn vote_shaped(turnout: f64, agree: u32, follow: bool) -> impl Strategy<Value = Vote> {
    (2usize..40)
        .prop_flat_map(move |owners| {
            (
                // Units: area, class, holder (an owner index, or `owners` for the developer).
                proptest::collection::vec(
                    (1i64..30_000, class(), 0usize..=owners),
                    owners..owners * 3,
                ),
                any::<(bool, bool, bool, bool)>(),
                // Turnout leans high: four in five persons vote.
                proptest::collection::vec(
                    proptest::option::weighted(turnout, marked(agree)),
                    owners + 1,
                ),
                proptest::collection::vec(proptest::bool::weighted(0.3), owners + 1),
            )
                .prop_map(
                    move |(
                        units,
                        (parking, storage, invalid_participate, follows),
                        marks,
                        delivered,
                    )| {
                        let holder = |i: usize| {
                            if i == owners {
                                Holder::Developer
                            } else {
                                Holder::Owner(format!("o{i}"))
                            }
                        };
                        let roll: Vec<RollUnit> = units
                            .iter()
                            .enumerate()
                            .map(|(n, (area, class, h))| RollUnit {
                                unit: format!("u{n}"),
                                area_centi: *area,
                                class: *class,
                                holder: holder(*h),
                            })
                            .collect();
                        let settings = Settings {
                            parking_counts: parking,
                            storage_counts: storage,
                            invalid_ballots_participate: invalid_participate,
                            non_voters_follow_majority: follow && follows,
                        };
                        let persons = snapshot(&roll, &settings).persons;
                        let ballots = persons
                            .keys()
                            .enumerate()
                            .filter_map(|(i, h)| {
                                marks[i % marks.len()].map(|(choice, valid)| Ballot {
                                    holder: h.clone(),
                                    choice,
                                    valid,
                                })
                            })
                            .collect();
                        let delivered = persons
                            .keys()
                            .enumerate()
                            .filter(|(i, _)| delivered[i % delivered.len()])
                            .map(|(_, h)| h.clone())
                            .collect();
                        Vote {
                            roll,
                            settings,
                            ballots,
                            delivered,
                        }
                    },
                )
        })
        .prop_filter("somebody counts", |v| {
            !snapshot(&v.roll, &v.settings).persons.is_empty()
        })
}

/// The outcome as the rules read, computed the simplest way.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Outcome {
    pub totals: Counts,
    pub agree: Counts,
    pub participants: Counts,
    pub participation_passed: Option<bool>,
    pub approval_passed: bool,
    pub passed: bool,
}

fn meets(t: &Threshold, value: i64, base: i64) -> bool {
    // value / base against num / den, without division.
    let (left, right) = (value as i128 * t.den as i128, base as i128 * t.num as i128);
    match t.comparison {
        Comparison::AtLeast => left >= right,
        Comparison::MoreThan => left > right,
    }
}

fn both(t: &Threshold, value: Counts, base: Counts) -> bool {
    meets(t, value.heads, base.heads) && meets(t, value.area_centi, base.area_centi)
}

pub(crate) fn reference(v: &Vote, rules: &RuleSet) -> Outcome {
    // Persons: every counted unit adds its area to its holder; a holder is one head.
    let mut persons: BTreeMap<&Holder, Counts> = BTreeMap::new();
    for u in &v.roll {
        let counts = match u.class {
            UnitClass::Residential | UnitClass::Commercial => true,
            UnitClass::Parking => v.settings.parking_counts,
            UnitClass::Storage => v.settings.storage_counts,
        };
        if counts {
            let p = persons.entry(&u.holder).or_insert(Counts {
                heads: 1,
                area_centi: 0,
            });
            p.area_centi += u.area_centi;
        }
    }
    let sum = |who: &mut dyn Iterator<Item = &Holder>| {
        let mut c = Counts::default();
        for h in who {
            c.heads += 1;
            c.area_centi += persons[h].area_centi;
        }
        c
    };
    let totals = sum(&mut persons.keys().copied());
    let voted: BTreeSet<&Holder> = v.ballots.iter().map(|b| &b.holder).collect();
    let mut agreeing: Vec<&Holder> = v
        .ballots
        .iter()
        .filter(|b| b.valid && b.choice == Choice::Agree)
        .map(|b| &b.holder)
        .collect();
    let mut taking_part: Vec<&Holder> = v
        .ballots
        .iter()
        .filter(|b| b.valid || v.settings.invalid_ballots_participate)
        .map(|b| &b.holder)
        .collect();
    let judge = |agreeing: &[&Holder], taking_part: &[&Holder]| {
        let (agree, participants) = (
            sum(&mut agreeing.iter().copied()),
            sum(&mut taking_part.iter().copied()),
        );
        let participation = rules.participation.map(|t| both(&t, participants, totals));
        let base = if rules.approval_base == ApprovalBase::Participants {
            participants
        } else {
            totals
        };
        (
            agree,
            participants,
            participation,
            both(&rules.approval, agree, base),
        )
    };
    let (mut agree, mut participants, mut participation, mut approval) =
        judge(&agreeing, &taking_part);
    // 从众: once participation passes, delivered non-voters join the side that is winning.
    if v.settings.non_voters_follow_majority && participation == Some(true) {
        let followers: Vec<&Holder> = v
            .delivered
            .iter()
            .filter(|h| !voted.contains(h) && persons.contains_key(h))
            .collect();
        if approval {
            agreeing.extend(&followers);
        }
        taking_part.extend(&followers);
        (agree, participants, participation, approval) = judge(&agreeing, &taking_part);
    }
    Outcome {
        totals,
        agree,
        participants,
        participation_passed: participation,
        approval_passed: approval,
        passed: participation != Some(false) && approval,
    }
}

fn engine(v: &Vote, rules: &RuleSet) -> super::tally::Tally {
    tally(
        &snapshot(&v.roll, &v.settings),
        rules,
        &v.ballots,
        &v.settings,
        &v.delivered,
    )
    .unwrap()
}

/// Every preset plus a custom strict one measured against all owners.
pub(crate) fn rule_sets() -> Vec<RuleSet> {
    let mut sets = RuleSet::presets();
    sets.extend(RuleSet::custom(
        Some(Threshold::more_than(1, 2)),
        Threshold::at_least(3, 5),
        ApprovalBase::AllInScope,
    ));
    sets
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn the_engine_agrees_with_the_reference_on_every_rule_set_and_setting(v in vote()) {
        for rules in rule_sets() {
            let t = engine(&v, &rules);
            let expected = reference(&v, &rules);
            let got = Outcome {
                totals: t.totals,
                agree: t.agree,
                participants: t.participants,
                participation_passed: t.participation.as_ref().map(|p| p.passed),
                approval_passed: t.approval.passed,
                passed: t.passed,
            };
            prop_assert_eq!(got, expected, "rule set {}", rules.id);
        }
    }

    #[test]
    fn an_added_agreeing_ballot_never_turns_a_pass_into_a_fail(v in vote_shaped(0.7, 8, true)) {
        // Most generated votes pass here (the generator test below shows it for `vote()`), so
        // the property is tried on passing votes, not skipped over failing ones.
        let voted: BTreeSet<&Holder> = v.ballots.iter().map(|b| &b.holder).collect();
        let newcomer = snapshot(&v.roll, &v.settings).persons.into_keys().find(|h| !voted.contains(h));
        prop_assume!(newcomer.is_some());
        for rules in rule_sets() {
            let before = engine(&v, &rules);
            let mut more = v.clone();
            more.ballots.push(Ballot { holder: newcomer.clone().unwrap(), choice: Choice::Agree, valid: true });
            prop_assert!(!before.passed || engine(&more, &rules).passed, "{} flipped to fail", rules.id);
        }
    }

    #[test]
    fn the_approval_shortfall_in_persons_is_exactly_enough(v in vote_shaped(0.5, 3, false)) {
        let rules = RuleSet::civil_code_ordinary();
        let t = engine(&v, &rules);
        let needed = t.approval.shortfall_heads.unwrap();
        let voted: BTreeSet<&Holder> = v.ballots.iter().map(|b| &b.holder).collect();
        let newcomers: Vec<Holder> = snapshot(&v.roll, &v.settings).persons.into_keys().filter(|h| !voted.contains(h)).collect();
        prop_assume!(needed > 0 && needed as usize <= newcomers.len());
        let with = |k: usize| {
            let mut more = v.clone();
            more.ballots.extend(newcomers[..k].iter().map(|h| Ballot { holder: h.clone(), choice: Choice::Agree, valid: true }));
            let a = engine(&more, &rules).approval;
            a.value.heads >= a.required.heads
        };
        prop_assert!(with(needed as usize), "{needed} more agreeing persons are enough");
        prop_assert!(!with(needed as usize - 1), "{} are not", needed - 1);
    }

    #[test]
    fn the_participation_shortfall_is_exactly_enough_in_persons_and_in_area(v in vote_shaped(0.4, 5, false)) {
        let rules = RuleSet::civil_code_ordinary();
        let t = engine(&v, &rules);
        let p = t.participation.unwrap();
        prop_assume!(!p.passed);
        // Persons: any non-voters taking part (abstaining) close the gap in heads.
        let voted: BTreeSet<&Holder> = v.ballots.iter().map(|b| &b.holder).collect();
        let persons = snapshot(&v.roll, &v.settings).persons;
        let newcomers: Vec<(&Holder, &Counts)> = persons.iter().filter(|(h, _)| !voted.contains(h)).collect();
        let joined = |who: &[(&Holder, &Counts)]| {
            let mut more = v.clone();
            more.ballots.extend(who.iter().map(|(h, _)| Ballot { holder: (*h).clone(), choice: Choice::Abstain, valid: true }));
            engine(&more, &rules).participation.unwrap()
        };
        if let Some(heads) = p.shortfall_heads.filter(|h| *h > 0 && *h as usize <= newcomers.len()) {
            let enough = joined(&newcomers[..heads as usize]);
            prop_assert!(enough.value.heads >= enough.required.heads);
            let short = joined(&newcomers[..heads as usize - 1]);
            prop_assert!(short.value.heads < short.required.heads);
        }
        // Area: the largest non-voters first; the gap is closed exactly when their area reaches it.
        if let Some(area) = p.shortfall_area_centi.filter(|a| *a > 0) {
            let mut by_area = newcomers.clone();
            by_area.sort_by_key(|(_, c)| std::cmp::Reverse(c.area_centi));
            let mut taken = 0;
            let mut k = 0;
            while taken < area && k < by_area.len() {
                taken += by_area[k].1.area_centi;
                k += 1;
            }
            let after = joined(&by_area[..k]);
            prop_assert_eq!(after.value.area_centi >= after.required.area_centi, taken >= area, "{} of {} m² short joined", taken, area);
        }
    }
}

#[test]
fn the_generator_produces_passes_and_failures_alike() {
    // The properties above are only as good as the cases they see: under the ordinary rules
    // about half the generated votes pass.
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = vote();
    let (mut passed, mut total) = (0, 0);
    for _ in 0..400 {
        let v = strategy.new_tree(&mut runner).unwrap().current();
        total += 1;
        if engine(&v, &RuleSet::civil_code_ordinary()).passed {
            passed += 1;
        }
    }
    assert!(
        (total / 5..=total * 4 / 5).contains(&passed),
        "{passed} of {total} passed"
    );
}
