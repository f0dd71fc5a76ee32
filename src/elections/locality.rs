//! Local variants of the election rules (VOTING-RULES §4): each estate names its locality and
//! these presets follow from it.

/// Sizes and deadlines that vary by locality.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Presets {
    /// Smallest preparatory group (always odd, owners at least half).
    pub prep_min_members: i32,
    /// Days the preparatory group has for its work.
    pub prep_work_days: i32,
    /// Owners'-committee seats allowed for this estate, inclusive (always odd).
    pub committee_min_seats: i32,
    pub committee_max_seats: i32,
    /// Term length bounds, in years.
    pub term_min_years: i32,
    pub term_max_years: i32,
}

/// `locality` as stored on the estate; `households` and `area_centi` are the estate's totals
/// (the small-estate variants depend on them).
pub fn presets(locality: &str, households: i32, area_centi: i64) -> Presets {
    let national = Presets {
        prep_min_members: 3,
        prep_work_days: 90,
        committee_min_seats: 5,
        committee_max_seats: 11,
        term_min_years: 1,
        term_max_years: 5,
    };
    match locality {
        "shandong" => Presets {
            prep_min_members: 7,
            ..national
        },
        "qingdao" => Presets {
            prep_min_members: 7,
            committee_min_seats: 3,
            ..national
        },
        "beijing" | "hangzhou" if households <= 100 => Presets {
            committee_min_seats: 3,
            ..national
        },
        // 10,000 m² in hundredths.
        "shanghai" => Presets {
            committee_min_seats: if area_centi <= 1_000_000 { 3 } else { 5 },
            term_min_years: 3,
            ..national
        },
        _ => national,
    }
}

#[cfg(test)]
mod tests {
    use super::presets;

    #[test]
    fn localities_change_the_presets_as_the_rules_say() {
        let national = presets("national", 500, 5_000_000);
        assert_eq!(
            (
                national.prep_min_members,
                national.prep_work_days,
                national.committee_min_seats,
                national.committee_max_seats,
                national.term_max_years
            ),
            (3, 90, 5, 11, 5)
        );
        assert_eq!(presets("shandong", 500, 0).prep_min_members, 7);
        assert_eq!(
            (
                presets("qingdao", 500, 0).prep_min_members,
                presets("qingdao", 500, 0).committee_min_seats
            ),
            (7, 3)
        );
        assert_eq!(presets("beijing", 100, 0).committee_min_seats, 3);
        assert_eq!(presets("beijing", 101, 0).committee_min_seats, 5);
        assert_eq!(presets("hangzhou", 80, 0).committee_min_seats, 3);
        assert_eq!(presets("shanghai", 999, 1_000_000).committee_min_seats, 3);
        assert_eq!(presets("shanghai", 999, 1_000_001).committee_min_seats, 5);
        assert_eq!(presets("shanghai", 999, 0).term_min_years, 3);
    }
}
