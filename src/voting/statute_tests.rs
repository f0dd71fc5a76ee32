//! The edge cases of VOTING-RULES.md, one test each, plus properties every tally must keep.

use std::collections::BTreeSet;

use proptest::prelude::*;

use super::{
    rules::RuleSet,
    tally::{
        resolve, snapshot, tally, Ballot, Cast, Channel, ChannelRule, Choice, Holder, RollUnit,
        Settings, UnitClass,
    },
};

fn owner(n: usize) -> Holder {
    Holder::Owner(format!("o{n}"))
}

/// `n` owners with one residential unit of `area` hundredths of a m² each.
fn estate(n: usize, area: i64) -> Vec<RollUnit> {
    (0..n)
        .map(|i| RollUnit {
            unit: format!("u{i}"),
            area_centi: area,
            class: UnitClass::Residential,
            holder: owner(i),
        })
        .collect()
}

fn ballots(range: std::ops::Range<usize>, choice: Choice) -> Vec<Ballot> {
    range
        .map(|i| Ballot {
            holder: owner(i),
            choice,
            valid: true,
        })
        .collect()
}

fn run(units: &[RollUnit], rules: &RuleSet, ballots: &[Ballot]) -> super::tally::Tally {
    let settings = Settings::defaults();
    tally(
        &snapshot(units, &settings),
        rules,
        ballots,
        &settings,
        &BTreeSet::new(),
    )
    .unwrap()
}

#[test]
fn case_1_exactly_two_thirds_take_part_and_exactly_half_fails_an_ordinary_matter() {
    let roll = estate(300, 8999); // 89.99 m² each: no float drift
                                  // 200 of 300 take part (exactly 2/3): 100 agree, 100 disagree (exactly half).
    let mut b = ballots(0..100, Choice::Agree);
    b.extend(ballots(100..200, Choice::Disagree));
    let t = run(&roll, &RuleSet::civil_code_ordinary(), &b);
    let p = t.participation.as_ref().unwrap();
    assert!(p.passed, "exactly 2/3 is enough to take part");
    assert_eq!(p.required.heads, 200);
    assert_eq!(t.participants.area_centi, 200 * 8999);
    assert!(!t.approval.passed, "exactly half is not 过半数");
    assert!(!t.passed);
    assert_eq!(
        (t.approval.shortfall_heads, t.approval.shortfall_area_centi),
        (Some(1), Some(1))
    );
    // One more agreeing owner passes it.
    let mut b2 = b.clone();
    b2.push(Ballot {
        holder: owner(200),
        choice: Choice::Agree,
        valid: true,
    });
    assert!(run(&roll, &RuleSet::civil_code_ordinary(), &b2).passed);
    // 199 take part: participation fails by one head and 89.99 m².
    let t = run(&roll, &RuleSet::civil_code_ordinary(), &b[..199]);
    let p = t.participation.unwrap();
    assert!(!p.passed);
    assert_eq!(
        (p.shortfall_heads, p.shortfall_area_centi),
        (Some(1), Some(8999))
    );
}

#[test]
fn case_1_exactly_three_quarters_pass_a_special_matter() {
    let roll = estate(300, 8999);
    let mut b = ballots(0..150, Choice::Agree);
    b.extend(ballots(150..200, Choice::Disagree));
    let t = run(&roll, &RuleSet::civil_code_special(), &b);
    assert!(t.passed, "150 of 200 is exactly 3/4: 以上 includes it");
    let mut b = ballots(0..149, Choice::Agree);
    b.extend(ballots(149..200, Choice::Disagree));
    let t = run(&roll, &RuleSet::civil_code_special(), &b);
    assert!(!t.passed);
    assert_eq!(
        t.approval.shortfall_heads,
        Some(4),
        "153 of 204 reaches 3/4 when 4 more agree"
    );
}

#[test]
fn a_shortfall_only_the_remaining_non_voters_could_not_make_up_is_reported_as_unreachable() {
    let roll = estate(10, 10000);
    // 7 of 10 voted, 3 agree: two more agreeing voters would pass it (5 of 9 > half).
    let mut b = ballots(0..3, Choice::Agree);
    b.extend(ballots(3..7, Choice::Disagree));
    let mut t = run(&roll, &RuleSet::civil_code_ordinary(), &b);
    super::tally::cap_shortfalls(
        &mut t,
        super::tally::Counts {
            heads: 3,
            area_centi: 30000,
        },
    );
    assert_eq!(t.approval.shortfall_heads, Some(2));
    // 1 agrees, 6 disagree: six more would be needed, and only three have not voted.
    let mut b = ballots(0..1, Choice::Agree);
    b.extend(ballots(1..7, Choice::Disagree));
    let mut t = run(&roll, &RuleSet::civil_code_ordinary(), &b);
    assert_eq!(
        t.approval.shortfall_heads,
        Some(6),
        "the tally alone does not know who may still vote"
    );
    super::tally::cap_shortfalls(
        &mut t,
        super::tally::Counts {
            heads: 3,
            area_centi: 30000,
        },
    );
    assert_eq!(
        (t.approval.shortfall_heads, t.approval.shortfall_area_centi),
        (None, None)
    );
    assert!(t.participation.unwrap().passed);
}

#[test]
fn areas_decide_too_not_only_heads() {
    // 3 owners agree with 60 m² each; 1 big owner of 300 m² disagrees: heads pass, area fails.
    let mut roll = estate(3, 6000);
    roll.push(RollUnit {
        unit: "big".into(),
        area_centi: 30000,
        class: UnitClass::Residential,
        holder: owner(3),
    });
    let mut b = ballots(0..3, Choice::Agree);
    b.push(Ballot {
        holder: owner(3),
        choice: Choice::Disagree,
        valid: true,
    });
    let t = run(&roll, &RuleSet::civil_code_ordinary(), &b);
    assert!(t.participation.unwrap().passed);
    assert!(
        !t.approval.passed,
        "18000 of 48000 m² is not more than half"
    );
    assert_eq!(t.approval.shortfall_heads, Some(0));
}

#[test]
fn case_2_one_owner_with_three_units_is_one_head_with_three_units_of_area() {
    let mut roll = estate(4, 10000);
    for i in 0..3 {
        roll.push(RollUnit {
            unit: format!("multi{i}"),
            area_centi: 9999,
            class: UnitClass::Residential,
            holder: owner(99),
        });
    }
    let snap = snapshot(&roll, &Settings::defaults());
    assert_eq!(snap.totals.heads, 5);
    assert_eq!(snap.persons[&owner(99)].area_centi, 3 * 9999);
    let t = run(
        &roll,
        &RuleSet::civil_code_ordinary(),
        &[Ballot {
            holder: owner(99),
            choice: Choice::Agree,
            valid: true,
        }],
    );
    assert_eq!((t.agree.heads, t.agree.area_centi), (1, 29997));
    // A second ballot for the same owner cannot reach the tally.
    let twice = [
        Ballot {
            holder: owner(99),
            choice: Choice::Agree,
            valid: true,
        },
        Ballot {
            holder: owner(99),
            choice: Choice::Disagree,
            valid: true,
        },
    ];
    let settings = Settings::defaults();
    assert!(tally(
        &snapshot(&roll, &settings),
        &RuleSet::civil_code_ordinary(),
        &twice,
        &settings,
        &BTreeSet::new()
    )
    .is_err());
}

#[test]
fn case_3_the_developers_forty_unsold_units_are_one_head() {
    let mut roll = estate(10, 9000);
    for i in 0..40 {
        roll.push(RollUnit {
            unit: format!("dev{i}"),
            area_centi: 8000,
            class: UnitClass::Residential,
            holder: Holder::Developer,
        });
    }
    let snap = snapshot(&roll, &Settings::defaults());
    assert_eq!(snap.totals.heads, 11);
    assert_eq!(
        snap.persons[&Holder::Developer],
        super::tally::Counts {
            heads: 1,
            area_centi: 40 * 8000
        }
    );
    assert_eq!(snap.totals.area_centi, 10 * 9000 + 40 * 8000);
}

#[test]
fn case_4_co_owners_share_one_vote_and_the_unit_counts_once() {
    // Co-owners A and B hold the unit under one holder key: one person, one ballot.
    let roll = estate(3, 10000);
    let cast = |id: &str, seq| Cast {
        id: id.into(),
        holder: owner(0),
        channel: Channel::Online,
        seq,
        cast_ms: seq,
        choice: Choice::Agree,
        voided: false,
    };
    let r = resolve(&[cast("by-A", 1)], ChannelRule::OnlineWins);
    let t = run(
        &roll,
        &RuleSet::civil_code_ordinary(),
        &r.effective.iter().map(Cast::ballot).collect::<Vec<_>>(),
    );
    assert_eq!(t.agree.heads, 1);
    // B's attempt is refused before the tally (one ballot per unit); were it to slip in, the
    // tally would refuse two ballots for one person rather than count the unit twice.
    let settings = Settings::defaults();
    let both = [cast("by-A", 1).ballot(), cast("by-B", 2).ballot()];
    assert!(tally(
        &snapshot(&roll, &settings),
        &RuleSet::civil_code_ordinary(),
        &both,
        &settings,
        &BTreeSet::new()
    )
    .is_err());
}

#[test]
fn case_5_an_abstention_takes_part_and_lowers_the_approval_ratio() {
    let roll = estate(9, 10000);
    let mut b = ballots(0..4, Choice::Agree);
    b.extend(ballots(4..6, Choice::Disagree));
    let without = run(&roll, &RuleSet::civil_code_ordinary(), &b);
    assert!(
        without.participation.as_ref().unwrap().passed && without.approval.passed,
        "4 of 6 agree"
    );
    b.extend(ballots(6..8, Choice::Abstain));
    let with = run(&roll, &RuleSet::civil_code_ordinary(), &b);
    assert_eq!(with.participants.heads, 8, "abstentions take part");
    assert!(!with.approval.passed, "4 of 8 is not more than half");
}

#[test]
fn invalid_ballots_take_part_by_default_but_never_agree() {
    let roll = estate(3, 10000);
    let b = vec![
        Ballot {
            holder: owner(0),
            choice: Choice::Agree,
            valid: true,
        },
        Ballot {
            holder: owner(1),
            choice: Choice::Agree,
            valid: false,
        },
    ];
    let t = run(&roll, &RuleSet::civil_code_ordinary(), &b);
    assert_eq!(
        (t.participants.heads, t.agree.heads, t.invalid.heads),
        (2, 1, 1)
    );
    assert!(!t.approval.passed, "1 of 2 participants");
    let settings = Settings {
        invalid_ballots_participate: false,
        ..Settings::defaults()
    };
    let t = tally(
        &snapshot(&roll, &settings),
        &RuleSet::civil_code_ordinary(),
        &b,
        &settings,
        &BTreeSet::new(),
    )
    .unwrap();
    assert_eq!(t.participants.heads, 1);
    assert!(
        !t.participation.unwrap().passed,
        "1 of 3 does not reach 2/3"
    );
}

#[test]
fn case_6_paper_and_online_ballots_for_one_unit_count_once_by_the_channel_rule() {
    let online = Cast {
        id: "online".into(),
        holder: owner(0),
        channel: Channel::Online,
        seq: 1,
        cast_ms: 1,
        choice: Choice::Agree,
        voided: false,
    };
    let paper = Cast {
        id: "paper".into(),
        holder: owner(0),
        channel: Channel::Paper,
        seq: 2,
        cast_ms: 2,
        choice: Choice::Disagree,
        voided: false,
    };
    let r = resolve(&[online.clone(), paper.clone()], ChannelRule::OnlineWins);
    assert_eq!(
        (r.effective[0].id.as_str(), r.superseded[0].id.as_str()),
        ("online", "paper")
    );
    let r = resolve(&[online.clone(), paper.clone()], ChannelRule::InPersonWins);
    assert_eq!(
        (r.effective[0].id.as_str(), r.superseded[0].id.as_str()),
        ("paper", "online")
    );
    let r = resolve(&[paper, online], ChannelRule::FirstWins);
    assert_eq!(r.effective[0].id, "online");
}

#[test]
fn first_wins_counts_the_ballot_signed_first_however_late_it_was_entered() {
    // Paper signed on day 1, entered (recorded) on day 5; the online ballot was cast on day 3.
    let day = 86_400_000;
    let online = Cast {
        id: "online".into(),
        holder: owner(0),
        channel: Channel::Online,
        seq: 1,
        cast_ms: 3 * day,
        choice: Choice::Agree,
        voided: false,
    };
    let paper = Cast {
        id: "paper".into(),
        holder: owner(0),
        channel: Channel::Paper,
        seq: 2,
        cast_ms: day,
        choice: Choice::Disagree,
        voided: false,
    };
    let r = resolve(&[online.clone(), paper.clone()], ChannelRule::FirstWins);
    assert_eq!(
        (r.effective[0].id.as_str(), r.superseded[0].id.as_str()),
        ("paper", "online")
    );
    // The online ballot first: it wins, and a permitted change of it (later, same channel) replaces it.
    let paper_later = Cast {
        cast_ms: 4 * day,
        ..paper
    };
    let changed = Cast {
        id: "changed".into(),
        seq: 3,
        cast_ms: 5 * day,
        choice: Choice::Abstain,
        ..online.clone()
    };
    let r = resolve(&[online, paper_later, changed], ChannelRule::FirstWins);
    assert_eq!(r.effective[0].id, "changed");
    assert_eq!(r.superseded.len(), 2);
}

#[test]
fn a_voided_ballot_does_not_beat_a_valid_one_on_another_channel() {
    let online = Cast {
        id: "online".into(),
        holder: owner(0),
        channel: Channel::Online,
        seq: 1,
        cast_ms: 1,
        choice: Choice::Agree,
        voided: true,
    };
    let paper = Cast {
        id: "paper".into(),
        holder: owner(0),
        channel: Channel::Paper,
        seq: 2,
        cast_ms: 2,
        choice: Choice::Disagree,
        voided: false,
    };
    let r = resolve(&[online.clone(), paper], ChannelRule::OnlineWins);
    assert_eq!(r.effective[0].id, "paper");
    let r = resolve(&[online], ChannelRule::OnlineWins);
    assert!(
        r.effective[0].voided,
        "alone, the voided ballot counts as invalid"
    );
}

#[test]
fn a_permitted_change_of_vote_replaces_the_earlier_ballot() {
    let first = Cast {
        id: "1".into(),
        holder: owner(0),
        channel: Channel::Online,
        seq: 1,
        cast_ms: 1,
        choice: Choice::Disagree,
        voided: false,
    };
    let second = Cast {
        id: "2".into(),
        seq: 5,
        cast_ms: 5,
        choice: Choice::Agree,
        ..first.clone()
    };
    let r = resolve(&[second, first], ChannelRule::OnlineWins);
    assert_eq!(
        (
            r.effective.len(),
            r.effective[0].id.as_str(),
            r.superseded.len()
        ),
        (1, "2", 1)
    );
}

#[test]
fn parking_and_storage_count_only_where_the_estate_says_so() {
    let mut roll = estate(2, 10000);
    roll.push(RollUnit {
        unit: "p1".into(),
        area_centi: 1250,
        class: UnitClass::Parking,
        holder: owner(0),
    });
    roll.push(RollUnit {
        unit: "s1".into(),
        area_centi: 500,
        class: UnitClass::Storage,
        holder: owner(5),
    });
    let off = snapshot(&roll, &Settings::defaults());
    assert_eq!((off.totals.heads, off.totals.area_centi), (2, 20000));
    let on = snapshot(
        &roll,
        &Settings {
            parking_counts: true,
            storage_counts: true,
            ..Settings::defaults()
        },
    );
    assert_eq!((on.totals.heads, on.totals.area_centi), (3, 21750));
}

#[test]
fn the_legacy_rules_measure_against_all_owners() {
    // Before 2021: more than half of ALL owners must agree; participation is no separate test.
    let roll = estate(10, 10000);
    let t = run(
        &roll,
        &RuleSet::legacy_ordinary(),
        &ballots(0..5, Choice::Agree),
    );
    assert!(t.participation.is_none());
    assert!(!t.passed, "5 of 10 owners is not more than half of all");
    assert_eq!(t.approval.shortfall_heads, Some(1));
    assert!(
        run(
            &roll,
            &RuleSet::legacy_ordinary(),
            &ballots(0..6, Choice::Agree)
        )
        .passed
    );
    // Order 165: two thirds of the affected owners.
    assert!(
        !run(
            &roll,
            &RuleSet::order_165_affected(),
            &ballots(0..6, Choice::Agree)
        )
        .passed
    );
    assert!(
        run(
            &roll,
            &RuleSet::order_165_affected(),
            &ballots(0..7, Choice::Agree)
        )
        .passed
    );
}

#[test]
fn delivered_non_voters_follow_the_majority_only_after_participation_passes() {
    let roll = estate(9, 10000);
    let settings = Settings {
        non_voters_follow_majority: true,
        ..Settings::defaults()
    };
    let snap = snapshot(&roll, &settings);
    let delivered: BTreeSet<Holder> = [owner(6), owner(7)].into_iter().collect();
    let mut b = ballots(0..4, Choice::Agree);
    b.extend(ballots(4..6, Choice::Disagree));
    let t = tally(
        &snap,
        &RuleSet::civil_code_ordinary(),
        &b,
        &settings,
        &delivered,
    )
    .unwrap();
    assert_eq!(
        (t.followers.heads, t.agree.heads, t.participants.heads),
        (2, 6, 8)
    );
    assert!(t.passed);
    // Participation short (5 of 9): nobody follows.
    let t = tally(
        &snap,
        &RuleSet::civil_code_ordinary(),
        &b[..5],
        &settings,
        &delivered,
    )
    .unwrap();
    assert_eq!(t.followers.heads, 0);
    // Off by default.
    let t = tally(
        &snap,
        &RuleSet::civil_code_ordinary(),
        &b,
        &Settings::defaults(),
        &delivered,
    )
    .unwrap();
    assert_eq!(t.followers.heads, 0);
}

#[test]
fn a_delivered_owner_who_voted_counts_once_with_their_own_choice() {
    // 9 owners of 100 m²: 4 agree, 2 disagree; the ballots of 5 (a disagreeing voter), 6 and 7
    // were delivered. Participation (6 of 9) passes, so the delivered non-voters 6 and 7 follow
    // the majority; 5 voted and stays one disagreeing person.
    let roll = estate(9, 10000);
    let settings = Settings {
        non_voters_follow_majority: true,
        ..Settings::defaults()
    };
    let delivered: BTreeSet<Holder> = [owner(5), owner(6), owner(7)].into_iter().collect();
    let mut b = ballots(0..4, Choice::Agree);
    b.extend(ballots(4..6, Choice::Disagree));
    let t = tally(
        &snapshot(&roll, &settings),
        &RuleSet::civil_code_ordinary(),
        &b,
        &settings,
        &delivered,
    )
    .unwrap();
    assert_eq!(
        (t.followers.heads, t.followers.area_centi),
        (2, 20000),
        "only the two who did not vote follow"
    );
    assert_eq!(
        (
            t.agree.heads,
            t.disagree.heads,
            t.participants.heads,
            t.participants.area_centi
        ),
        (6, 2, 8, 80000)
    );
    assert!(
        t.participants.heads <= t.totals.heads
            && t.agree.heads + t.disagree.heads == t.participants.heads,
        "nobody is counted twice"
    );
}

fn choice() -> impl Strategy<Value = Choice> {
    prop_oneof![
        Just(Choice::Agree),
        Just(Choice::Disagree),
        Just(Choice::Abstain)
    ]
}

/// A roll of up to 60 owners (some holding several units) and a ballot for some of them.
fn vote() -> impl Strategy<Value = (Vec<RollUnit>, Vec<Ballot>)> {
    (1usize..60)
        .prop_flat_map(|n| {
            (
                proptest::collection::vec((1i64..20_000, 0usize..n), n..n * 2),
                proptest::collection::vec(
                    proptest::option::of((choice(), proptest::bool::weighted(0.9))),
                    n,
                ),
            )
        })
        .prop_map(|(units, votes)| {
            let roll: Vec<RollUnit> = units
                .iter()
                .enumerate()
                .map(|(i, (area, holder))| RollUnit {
                    unit: format!("u{i}"),
                    area_centi: *area,
                    class: UnitClass::Residential,
                    holder: owner(*holder),
                })
                .collect();
            let holders: BTreeSet<Holder> = roll.iter().map(|u| u.holder.clone()).collect();
            let ballots = holders
                .into_iter()
                .zip(votes)
                .filter_map(|(h, v)| {
                    v.map(|(choice, valid)| Ballot {
                        holder: h,
                        choice,
                        valid,
                    })
                })
                .collect();
            (roll, ballots)
        })
}

fn channel() -> impl Strategy<Value = Channel> {
    prop_oneof![
        Just(Channel::Online),
        Just(Channel::Paper),
        Just(Channel::OnSite)
    ]
}

proptest! {
    #[test]
    fn channel_resolution_does_not_depend_on_input_order(
        casts in proptest::collection::vec((0usize..8, channel(), choice(), proptest::bool::weighted(0.2)), 1..40),
        rule in prop_oneof![Just(ChannelRule::OnlineWins), Just(ChannelRule::InPersonWins), Just(ChannelRule::FirstWins)],
    ) {
        let casts: Vec<Cast> = casts
            .into_iter()
            .enumerate()
            .map(|(i, (p, channel, choice, voided))| Cast { id: format!("c{i}"), holder: owner(p), channel, seq: i as i64, cast_ms: i as i64, choice, voided })
            .collect();
        let mut reversed = casts.clone();
        reversed.reverse();
        let ids = |r: super::tally::Resolution| {
            let mut e: Vec<String> = r.effective.into_iter().map(|c| c.id).collect();
            e.sort();
            e
        };
        let forward = ids(resolve(&casts, rule));
        prop_assert_eq!(forward.len(), casts.iter().map(|c| &c.holder).collect::<BTreeSet<_>>().len(), "one effective ballot per person");
        prop_assert_eq!(forward, ids(resolve(&reversed, rule)));
    }

    #[test]
    fn results_do_not_depend_on_ballot_order((roll, ballots) in vote(), seed in any::<u64>()) {
        let rules = RuleSet::civil_code_ordinary();
        let mut shuffled = ballots.clone();
        // A deterministic shuffle from the seed.
        let mut s = seed;
        for i in (1..shuffled.len()).rev() {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            shuffled.swap(i, (s >> 33) as usize % (i + 1));
        }
        prop_assert_eq!(run(&roll, &rules, &ballots), run(&roll, &rules, &shuffled));
    }

    #[test]
    fn totals_equal_the_sums_of_their_parts((roll, ballots) in vote()) {
        let t = run(&roll, &RuleSet::civil_code_special(), &ballots);
        prop_assert_eq!(t.totals.area_centi, roll.iter().map(|u| u.area_centi).sum::<i64>());
        prop_assert_eq!(t.totals.heads as usize, roll.iter().map(|u| &u.holder).collect::<BTreeSet<_>>().len());
        let parts = [t.agree, t.disagree, t.abstain, t.invalid];
        prop_assert_eq!(t.participants.heads, parts.iter().map(|c| c.heads).sum::<i64>());
        prop_assert_eq!(t.participants.area_centi, parts.iter().map(|c| c.area_centi).sum::<i64>());
        prop_assert!(t.participants.heads <= t.totals.heads && t.participants.area_centi <= t.totals.area_centi);
        // The shortfall, when made up by agreeing newcomers, is exactly enough.
        let p = t.participation.unwrap();
        prop_assert_eq!(p.passed, p.shortfall_heads == Some(0) && p.shortfall_area_centi == Some(0));
    }
}
