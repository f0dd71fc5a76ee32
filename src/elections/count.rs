//! Filling seats from the candidates' tallies (VOTING-RULES §4): a candidate is elected when the
//! participation test and their own pass test both pass; the seats go in order of votes (heads),
//! ties broken by area, then by lot. Pure: the lot is drawn by the caller's `draw`, so the
//! outcome is recorded and tests are deterministic.

use serde::{Deserialize, Serialize};

use crate::voting::tally::{Counts, Tally};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Standing {
    pub candidate: String,
    pub votes: Counts,
    pub passed: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    /// In seat order.
    pub elected: Vec<String>,
    /// Each group of candidates tied in heads and area whose order a lot decided, as drawn.
    pub lots: Vec<Vec<String>>,
    /// Seats nobody filled (the next round's).
    pub unfilled: usize,
}

pub fn standings(tallies: &[(String, Tally)]) -> Vec<Standing> {
    tallies
        .iter()
        .map(|(c, t)| Standing {
            candidate: c.clone(),
            votes: t.agree,
            passed: t.passed,
        })
        .collect()
}

/// `draw` orders a tied group (a shuffle, recorded by the caller).
pub fn fill(
    standings: &[Standing],
    seats: usize,
    mut draw: impl FnMut(&[String]) -> Vec<String>,
) -> Outcome {
    let mut passing: Vec<&Standing> = standings.iter().filter(|s| s.passed).collect();
    passing.sort_by_key(|s| std::cmp::Reverse((s.votes.heads, s.votes.area_centi)));
    let mut order = Vec::new();
    let mut lots = Vec::new();
    let mut i = 0;
    while i < passing.len() {
        let key = (passing[i].votes.heads, passing[i].votes.area_centi);
        let group: Vec<String> = passing[i..]
            .iter()
            .take_while(|s| (s.votes.heads, s.votes.area_centi) == key)
            .map(|s| s.candidate.clone())
            .collect();
        i += group.len();
        // A lot is only needed where the tie decides who gets a seat.
        let crosses_the_line = order.len() < seats && order.len() + group.len() > seats;
        if crosses_the_line {
            let drawn = draw(&group);
            lots.push(drawn.clone());
            order.extend(drawn);
        } else {
            order.extend(group);
        }
    }
    order.truncate(seats);
    Outcome {
        unfilled: seats - order.len(),
        elected: order,
        lots,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(c: &str, heads: i64, area: i64, passed: bool) -> Standing {
        Standing {
            candidate: c.into(),
            votes: Counts {
                heads,
                area_centi: area,
            },
            passed,
        }
    }

    #[test]
    fn seats_go_by_heads_then_area_to_passing_candidates_only() {
        let st = [
            s("a", 10, 900, true),
            s("b", 12, 800, true),
            s("c", 10, 950, true),
            s("d", 20, 2000, false),
        ];
        let out = fill(&st, 2, |_| panic!("no lot needed"));
        assert_eq!(out.elected, ["b", "c"]);
        assert_eq!(out.unfilled, 0);
        assert!(out.lots.is_empty());
    }

    #[test]
    fn a_full_tie_at_the_last_seat_is_decided_by_the_recorded_lot() {
        let st = [
            s("a", 9, 900, true),
            s("b", 7, 700, true),
            s("c", 7, 700, true),
        ];
        let out = fill(&st, 2, |group| group.iter().rev().cloned().collect());
        assert_eq!(out.elected, ["a", "c"]);
        assert_eq!(out.lots, vec![vec!["c".to_string(), "b".to_string()]]);
        // A tie that fits within the seats needs no lot.
        let out = fill(&st, 3, |_| panic!("no lot needed"));
        assert_eq!(out.elected.len(), 3);
    }

    #[test]
    fn a_standing_is_each_candidates_agreeing_votes_and_pass() {
        use crate::voting::{
            rules::RuleSet,
            tally::{
                option_tallies, snapshot, Ballot, Choice, Holder, RollUnit, Settings, UnitClass,
            },
        };
        // Three owners of 100 m²; two pick a, one picks b: a passes (2 of 3), b does not.
        let owner = |i: usize| Holder::Owner(format!("o{i}"));
        let roll: Vec<RollUnit> = (0..3)
            .map(|i| RollUnit {
                unit: format!("u{i}"),
                area_centi: 10000,
                class: UnitClass::Residential,
                holder: owner(i),
            })
            .collect();
        let ballot = |i: usize, picks: &[&str]| {
            (
                Ballot {
                    holder: owner(i),
                    choice: Choice::Agree,
                    valid: true,
                },
                picks.iter().map(|p| p.to_string()).collect(),
            )
        };
        let settings = Settings::defaults();
        let tallies = option_tallies(
            &snapshot(&roll, &settings),
            &RuleSet::civil_code_ordinary(),
            &[ballot(0, &["a"]), ballot(1, &["a"]), ballot(2, &["b"])],
            &settings,
            &["a".to_string(), "b".to_string()],
        )
        .unwrap();
        let got: Vec<(String, i64, i64, bool)> = standings(&tallies)
            .into_iter()
            .map(|s| (s.candidate, s.votes.heads, s.votes.area_centi, s.passed))
            .collect();
        assert_eq!(
            got,
            [
                ("a".to_string(), 2, 20000, true),
                ("b".to_string(), 1, 10000, false)
            ]
        );
    }

    #[test]
    fn seats_left_empty_go_to_the_next_round() {
        let st = [s("a", 9, 900, true), s("b", 2, 200, false)];
        let out = fill(&st, 3, |g| g.to_vec());
        assert_eq!((out.elected.len(), out.unfilled), (1, 2));
    }
}
