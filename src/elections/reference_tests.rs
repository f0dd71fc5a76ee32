//! Candidate elections against simple references written here from VOTING-RULES.md §4:
//! each candidate's tally is the vote in which that candidate's pickers agree and everyone else
//! who took part abstains (counted by the voting reference, nothing shared with `tally.rs`), and
//! the seats go to passing candidates by rank, where a candidate's fate is read off how many
//! passing candidates beat them and how many tie with them.
//!
//! Generators keep heads and areas in small ranges, so ties at the last seat and candidates who
//! fail come up in most cases (the last test counts them).

use std::collections::BTreeSet;

use proptest::{prelude::*, strategy::ValueTree};

use super::count::{fill, standings, Standing};
use crate::voting::{
    reference_tests::{reference, rule_sets, vote_shaped, Vote},
    tally::{option_tallies, snapshot, Choice, Counts},
};

/// Candidates c0…c(n-1), and each ballot's picks (a ballot's own choice is not used).
fn election() -> impl Strategy<Value = (Vote, usize, Vec<Vec<usize>>)> {
    (vote_shaped(0.8, 7, false), 1usize..6).prop_flat_map(|(vote, candidates)| {
        let picks = proptest::collection::vec(
            proptest::collection::vec(proptest::bool::weighted(0.6), candidates),
            vote.ballots.len(),
        );
        (Just(vote), Just(candidates), picks).prop_map(|(vote, n, picks)| {
            let picked = picks
                .iter()
                .map(|row| (0..n).filter(|&c| row[c]).collect())
                .collect();
            (vote, n, picked)
        })
    })
}

fn name(c: usize) -> String {
    format!("c{c}")
}

/// Standings with small heads and areas (ties are common) and most candidates passing.
fn standing_list() -> impl Strategy<Value = (Vec<Standing>, usize)> {
    let one = (
        0i64..3,
        prop_oneof![3 => Just(100i64), 1 => Just(200)],
        proptest::bool::weighted(0.75),
    );
    (proptest::collection::vec(one, 1..11), 1usize..6).prop_map(|(rows, seats)| {
        let list = rows
            .into_iter()
            .enumerate()
            .map(|(i, (heads, area, passed))| Standing {
                candidate: name(i),
                votes: Counts {
                    heads,
                    area_centi: heads * area,
                },
                passed,
            })
            .collect();
        (list, seats)
    })
}

/// Who must be elected, who may be (the tied group at the last seat, decided by lot) and who
/// must not, by counting for each passing candidate the passing candidates ranked above and
/// level.
fn seat_reference(list: &[Standing], seats: usize) -> (BTreeSet<String>, BTreeSet<String>) {
    let key = |s: &Standing| (s.votes.heads, s.votes.area_centi);
    let passing: Vec<&Standing> = list.iter().filter(|s| s.passed).collect();
    let (mut sure, mut lot) = (BTreeSet::new(), BTreeSet::new());
    for s in &passing {
        let above = passing.iter().filter(|o| key(o) > key(s)).count();
        let level = passing.iter().filter(|o| key(o) == key(s)).count();
        if above + level <= seats {
            sure.insert(s.candidate.clone());
        } else if above < seats {
            lot.insert(s.candidate.clone());
        }
    }
    (sure, lot)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn each_candidates_tally_is_the_vote_of_those_who_picked_them(e in election()) {
        let (vote, n, picks) = e;
        let options: Vec<String> = (0..n).map(name).collect();
        let ballots: Vec<_> = vote.ballots.iter().cloned().zip(picks.iter().map(|p| p.iter().map(|&c| name(c)).collect())).collect();
        for rules in rule_sets() {
            let tallies = option_tallies(&snapshot(&vote.roll, &vote.settings), &rules, &ballots, &vote.settings, &options).unwrap();
            for (c, (option, t)) in tallies.iter().enumerate() {
                prop_assert_eq!(option, &name(c));
                let mut answered = vote.clone();
                for (b, p) in answered.ballots.iter_mut().zip(&picks) {
                    b.choice = if p.contains(&c) { Choice::Agree } else { Choice::Abstain };
                }
                let expected = reference(&answered, &rules);
                prop_assert_eq!((t.totals, t.agree, t.participants), (expected.totals, expected.agree, expected.participants), "{} under {}", option, rules.id);
                prop_assert_eq!((t.participation.as_ref().map(|p| p.passed), t.passed), (expected.participation_passed, expected.passed), "{} under {}", option, rules.id);
                // Every candidate shares one participation.
                prop_assert_eq!(t.participants, tallies[0].1.participants);
            }
            let st = standings(&tallies);
            prop_assert!(st.iter().zip(&tallies).all(|(s, (_, t))| s.votes == t.agree && s.passed == t.passed));
        }
    }

    #[test]
    fn seats_go_to_passing_candidates_by_rank_and_a_lot_only_decides_the_last_seat(case in standing_list()) {
        let (list, seats) = case;
        let (sure, lot) = seat_reference(&list, seats);
        // The lot reverses the tied group's order, so that input order cannot pass for it.
        let out = fill(&list, seats, |group| group.iter().rev().cloned().collect());
        let elected: BTreeSet<String> = out.elected.iter().cloned().collect();
        let passing = list.iter().filter(|s| s.passed).count();
        prop_assert_eq!(out.elected.len(), seats.min(passing));
        prop_assert_eq!(out.unfilled, seats - out.elected.len());
        prop_assert_eq!(elected.len(), out.elected.len(), "nobody holds two seats");
        prop_assert!(sure.is_subset(&elected), "{:?} must all be elected: {:?}", sure, out);
        prop_assert!(elected.difference(&sure).all(|c| lot.contains(c)), "only the tied group shares the last seats: {:?}", out);
        // A lot is drawn exactly when a tied group crosses the last seat, over that group.
        if lot.is_empty() {
            prop_assert!(out.lots.is_empty(), "{:?}", out);
        } else {
            prop_assert_eq!(out.lots.len(), 1);
            let drawn = &out.lots[0];
            prop_assert_eq!(drawn.iter().cloned().collect::<BTreeSet<_>>(), lot.clone());
            let by_lot: Vec<&String> = out.elected.iter().filter(|c| lot.contains(*c)).collect();
            prop_assert_eq!(by_lot, drawn.iter().take(seats - sure.len()).collect::<Vec<_>>(), "the lot's order decides");
        }
        // Seat order is rank order.
        let rank = |c: &String| list.iter().find(|s| &s.candidate == c).map(|s| (s.votes.heads, s.votes.area_centi)).unwrap();
        prop_assert!(out.elected.windows(2).all(|w| rank(&w[0]) >= rank(&w[1])), "{:?}", out);
    }
}

#[test]
fn the_generators_produce_lots_failures_and_split_outcomes() {
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let (mut with_lot, mut unfilled, mut cases) = (0, 0, 0);
    for _ in 0..300 {
        let (list, seats) = standing_list().new_tree(&mut runner).unwrap().current();
        let (_, lot) = seat_reference(&list, seats);
        with_lot += usize::from(!lot.is_empty());
        unfilled += usize::from(list.iter().filter(|s| s.passed).count() < seats);
        cases += 1;
    }
    assert!(
        with_lot * 5 >= cases,
        "a lot decides the last seat in only {with_lot} of {cases} cases"
    );
    assert!(
        unfilled * 5 >= cases,
        "seats stay empty in only {unfilled} of {cases} cases"
    );
    let (mut passing, mut failing) = (0, 0);
    for _ in 0..100 {
        let (vote, n, picks) = election().new_tree(&mut runner).unwrap().current();
        let options: Vec<String> = (0..n).map(name).collect();
        let ballots: Vec<_> = vote
            .ballots
            .iter()
            .cloned()
            .zip(picks.iter().map(|p| p.iter().map(|&c| name(c)).collect()))
            .collect();
        let rules = crate::voting::rules::RuleSet::civil_code_ordinary();
        for (_, t) in option_tallies(
            &snapshot(&vote.roll, &vote.settings),
            &rules,
            &ballots,
            &vote.settings,
            &options,
        )
        .unwrap()
        {
            if t.passed {
                passing += 1
            } else {
                failing += 1
            }
        }
    }
    assert!(
        passing * 5 >= passing + failing && failing * 5 >= passing + failing,
        "candidates passing {passing}, failing {failing}"
    );
}
