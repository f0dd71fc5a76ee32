//! Electing the people who run an estate: the preparatory group (筹备组) and the owners'
//! committee (业委会) by terms and rounds. The votes go through the voting engine (roll
//! snapshot, ballots, ledger, tally); this module adds candidates, picks and filling seats.

pub mod api;
pub mod count;
pub mod face;
pub mod face_api;
pub mod holdings;
pub mod lifecycle;
pub mod locality;
pub mod prep_api;
pub mod prep_store;
pub mod rounds;
pub mod service;
pub mod store;

#[cfg(test)]
mod reference_tests;

/// Staff's review of a candidate or a preparatory-group member.
#[derive(Clone, Copy, Debug, PartialEq, Eq, poem_openapi::Enum)]
#[oai(rename_all = "snake_case")]
pub enum ReviewStatus {
    /// 待审核
    Pending,
    /// 已通过
    Approved,
    /// 未通过
    Rejected,
}
