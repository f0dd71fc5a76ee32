//! Owners' decisions: the law (rule sets) and the pure engine that applies it. The matters,
//! casting, ledger and HTTP API build on these (issue 4).

pub mod api;
pub mod ballot_store;
pub mod ballots_api;
pub mod casting;
pub mod checkpointer;
pub mod due;
pub mod kinds;
pub mod ledger;
pub mod matter_store;
pub mod periodic;
pub mod receipts;
pub mod receipts_api;
pub mod rules;
pub mod service;
pub mod signing;
pub mod tally;

#[cfg(test)]
mod statute_tests;

#[cfg(test)]
pub(crate) mod reference_tests;
