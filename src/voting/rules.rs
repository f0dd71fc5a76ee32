//! Rule sets: the thresholds a decision must meet, as named data (VOTING-RULES.md §1).
//! Every comparison is an exact integer cross-multiplication; nothing is rounded.

use serde::{Deserialize, Serialize};

/// How a count is compared with a fraction of its base: "以上" is inclusive (≥), "过半数" and
/// "超过" are strict (>).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Comparison {
    AtLeast,
    MoreThan,
}

/// `value (cmp) num/den · base`, e.g. at least 2/3 of the total area.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Threshold {
    pub num: i64,
    pub den: i64,
    pub comparison: Comparison,
}

impl Threshold {
    pub const fn at_least(num: i64, den: i64) -> Self {
        Threshold {
            num,
            den,
            comparison: Comparison::AtLeast,
        }
    }
    pub const fn more_than(num: i64, den: i64) -> Self {
        Threshold {
            num,
            den,
            comparison: Comparison::MoreThan,
        }
    }

    /// A fraction in (0, 1] with a positive denominator.
    pub fn is_valid(&self) -> bool {
        self.den > 0 && self.num > 0 && self.num <= self.den
    }

    pub fn met(&self, value: i64, base: i64) -> bool {
        let (lhs, rhs) = (
            self.den as i128 * value as i128,
            self.num as i128 * base as i128,
        );
        match self.comparison {
            Comparison::AtLeast => lhs >= rhs,
            Comparison::MoreThan => lhs > rhs,
        }
    }

    /// The smallest value that meets the threshold over `base`.
    pub fn minimum(&self, base: i64) -> i64 {
        let product = self.num as i128 * base as i128;
        let den = self.den as i128;
        let floor = product.div_euclid(den);
        let exact = product.rem_euclid(den) == 0;
        (match self.comparison {
            Comparison::AtLeast => {
                if exact {
                    floor
                } else {
                    floor + 1
                }
            }
            Comparison::MoreThan => floor + 1,
        }) as i64
    }

    /// How many more agreeing voters (or m²) must join, each raising both the count and its
    /// base (the participants), before the threshold is met; `None` if never (a fraction of 1
    /// with a dissenter).
    pub fn joining_shortfall(&self, value: i64, base: i64) -> Option<i64> {
        if self.met(value, base) {
            return Some(0);
        }
        // den·(v+k) cmp num·(b+k)  ⇔  (den−num)·k cmp num·b − den·v
        let gap = self.num as i128 * base as i128 - self.den as i128 * value as i128;
        let step = (self.den - self.num) as i128;
        if step == 0 {
            return None;
        }
        let floor = gap.div_euclid(step);
        let exact = gap.rem_euclid(step) == 0;
        Some(match self.comparison {
            Comparison::AtLeast => {
                if exact {
                    floor
                } else {
                    floor + 1
                }
            }
            Comparison::MoreThan => floor + 1,
        } as i64)
    }
}

/// What the approval threshold is measured against.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalBase {
    /// Those who took part (Civil Code 2021).
    Participants,
    /// Every owner in the vote's scope (pre-2021 law; order 165 within the affected scope).
    AllInScope,
}

/// A named, versioned rule set. Both tests apply to area and headcount together.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleSet {
    /// Stable identifier stored with every matter, e.g. `civil_code_2021_ordinary`.
    pub id: String,
    pub name: String,
    /// `None`: no separate participation test (pre-2021 and order 165 sets).
    pub participation: Option<Threshold>,
    pub approval: Threshold,
    pub approval_base: ApprovalBase,
}

impl RuleSet {
    /// Civil Code art. 278, ordinary matters: ≥ 2/3 take part; > 1/2 of them agree.
    pub fn civil_code_ordinary() -> Self {
        RuleSet {
            id: "civil_code_2021_ordinary".into(),
            name: "民法典第二百七十八条（一般事项）".into(),
            participation: Some(Threshold::at_least(2, 3)),
            approval: Threshold::more_than(1, 2),
            approval_base: ApprovalBase::Participants,
        }
    }

    /// Civil Code art. 278, special matters (items 六–八): ≥ 2/3 take part; ≥ 3/4 of them agree.
    pub fn civil_code_special() -> Self {
        RuleSet {
            id: "civil_code_2021_special".into(),
            name: "民法典第二百七十八条（重大事项）".into(),
            participation: Some(Threshold::at_least(2, 3)),
            approval: Threshold::at_least(3, 4),
            approval_base: ApprovalBase::Participants,
        }
    }

    /// Property Law art. 76 (before 2021-01-01), ordinary: > 1/2 of all owners agree.
    pub fn legacy_ordinary() -> Self {
        RuleSet {
            id: "property_law_2007_ordinary".into(),
            name: "物权法第七十六条（一般事项，2021年前）".into(),
            participation: None,
            approval: Threshold::more_than(1, 2),
            approval_base: ApprovalBase::AllInScope,
        }
    }

    /// Property Law art. 76 (before 2021-01-01), raising the fund or rebuilding: ≥ 2/3 of all owners agree.
    pub fn legacy_special() -> Self {
        RuleSet {
            id: "property_law_2007_special".into(),
            name: "物权法第七十六条（重大事项，2021年前）".into(),
            participation: None,
            approval: Threshold::at_least(2, 3),
            approval_base: ApprovalBase::AllInScope,
        }
    }

    /// Order 165 art. 22: ≥ 2/3 of the affected owners' area and headcount agree.
    pub fn order_165_affected() -> Self {
        RuleSet {
            id: "order_165_affected".into(),
            name: "住宅专项维修资金管理办法第二十二条（受影响业主三分之二以上同意）".into(),
            participation: None,
            approval: Threshold::at_least(2, 3),
            approval_base: ApprovalBase::AllInScope,
        }
    }

    /// Every named set, for presets and for the API's list.
    pub fn presets() -> Vec<RuleSet> {
        vec![
            Self::civil_code_ordinary(),
            Self::civil_code_special(),
            Self::legacy_ordinary(),
            Self::legacy_special(),
            Self::order_165_affected(),
        ]
    }

    pub fn by_id(id: &str) -> Option<RuleSet> {
        Self::presets().into_iter().find(|r| r.id == id)
    }

    /// The preset for a matter of Civil Code art. 278 item 1–9.
    pub fn for_matter_item(item: u8) -> Option<RuleSet> {
        match item {
            6..=8 => Some(Self::civil_code_special()),
            1..=5 | 9 => Some(Self::civil_code_ordinary()),
            _ => None,
        }
    }

    /// A staff-chosen set (the estate's procedural rules may require other fractions).
    pub fn custom(
        participation: Option<Threshold>,
        approval: Threshold,
        approval_base: ApprovalBase,
    ) -> Option<RuleSet> {
        let valid = participation.is_none_or(|p| p.is_valid()) && approval.is_valid();
        valid.then(|| RuleSet {
            id: "custom".into(),
            name: "自定义规则".into(),
            participation,
            approval,
            approval_base,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joining_voters_needed_for_an_inclusive_threshold_round_up() {
        // 1 agreeing of 4 against "at least 3/5": with k more agreeing, (1 + k)/(4 + k) ≥ 3/5
        // needs 2k ≥ 7, so 4 (5 of 8 is 0.625; 3 more would give 4 of 7, 0.571).
        let t = Threshold::at_least(3, 5);
        assert_eq!(t.joining_shortfall(1, 4), Some(4));
        assert!(t.met(5, 8) && !t.met(4, 7));
        // Exactly reachable: (2 + k)/(4 + k) ≥ 3/4 needs k ≥ 4.
        assert_eq!(Threshold::at_least(3, 4).joining_shortfall(2, 4), Some(4));
        assert_eq!(
            Threshold::at_least(1, 1).joining_shortfall(2, 3),
            None,
            "unanimity with a dissenter is out of reach"
        );
    }

    #[test]
    fn every_preset_is_listed_and_found_by_its_id() {
        let ids: Vec<String> = RuleSet::presets().into_iter().map(|r| r.id).collect();
        assert_eq!(
            ids,
            [
                "civil_code_2021_ordinary",
                "civil_code_2021_special",
                "property_law_2007_ordinary",
                "property_law_2007_special",
                "order_165_affected"
            ]
        );
        for id in &ids {
            assert_eq!(RuleSet::by_id(id).map(|r| r.id), Some(id.clone()));
        }
        assert!(RuleSet::by_id("custom").is_none() && RuleSet::by_id("nonsense").is_none());
    }

    #[test]
    fn a_custom_fraction_must_be_a_proper_positive_one() {
        for (num, den) in [(0, 2), (1, 0), (3, 2), (-1, 2), (1, -2)] {
            assert!(!Threshold::at_least(num, den).is_valid(), "{num}/{den}");
            assert!(
                RuleSet::custom(
                    None,
                    Threshold::more_than(num, den),
                    ApprovalBase::Participants
                )
                .is_none(),
                "{num}/{den}"
            );
        }
        assert!(Threshold::at_least(1, 1).is_valid() && Threshold::more_than(1, 2).is_valid());
        assert!(
            RuleSet::custom(
                Some(Threshold::at_least(0, 3)),
                Threshold::more_than(1, 2),
                ApprovalBase::Participants
            )
            .is_none(),
            "participation too"
        );
    }

    #[test]
    fn inclusive_and_strict_comparisons_follow_article_1259() {
        let two_thirds = Threshold::at_least(2, 3);
        assert!(two_thirds.met(200, 300), "exactly 2/3 is 以上");
        assert!(!two_thirds.met(199, 300));
        let half = Threshold::more_than(1, 2);
        assert!(!half.met(100, 200), "exactly half is not 过半数");
        assert!(half.met(101, 200));
        let three_quarters = Threshold::at_least(3, 4);
        assert!(three_quarters.met(150, 200));
        assert!(!three_quarters.met(149, 200));
    }

    #[test]
    fn the_300_owner_example() {
        // 300 owners: participation needs 200; ordinary approval of 200 needs 101; special 150.
        assert_eq!(Threshold::at_least(2, 3).minimum(300), 200);
        assert_eq!(Threshold::more_than(1, 2).minimum(200), 101);
        assert_eq!(Threshold::at_least(3, 4).minimum(200), 150);
        assert_eq!(Threshold::at_least(2, 3).minimum(301), 201);
        assert_eq!(Threshold::more_than(1, 2).minimum(201), 101);
    }

    #[test]
    fn joining_shortfall_counts_voters_who_also_raise_the_base() {
        let half = Threshold::more_than(1, 2);
        // 100 took part, 50 agree: one more agreeing participant gives 51 of 101.
        assert_eq!(half.joining_shortfall(50, 100), Some(1));
        assert_eq!(
            half.joining_shortfall(40, 100),
            Some(21),
            "61 of 121 > 1/2, 60 of 120 is not"
        );
        assert_eq!(half.joining_shortfall(60, 100), Some(0));
        let all = Threshold::at_least(1, 1);
        assert_eq!(
            all.joining_shortfall(9, 10),
            None,
            "unanimity cannot be reached by joining"
        );
    }

    #[test]
    fn matter_items_preset_their_class() {
        assert_eq!(
            RuleSet::for_matter_item(5).unwrap().id,
            "civil_code_2021_ordinary",
            "using the fund is ordinary"
        );
        assert_eq!(
            RuleSet::for_matter_item(6).unwrap().id,
            "civil_code_2021_special",
            "raising it is special"
        );
        assert_eq!(
            RuleSet::for_matter_item(9).unwrap().id,
            "civil_code_2021_ordinary"
        );
        assert!(RuleSet::for_matter_item(10).is_none());
        assert!(
            RuleSet::custom(None, Threshold::at_least(4, 3), ApprovalBase::Participants).is_none()
        );
        assert!(RuleSet::custom(
            Some(Threshold::at_least(1, 2)),
            Threshold::more_than(2, 3),
            ApprovalBase::Participants
        )
        .is_some());
    }
}
