//! Residents' committees (居委会) and estates (小区), with each estate's voting settings and
//! its owners'-committee members.

pub mod api;
pub mod oc_api;
pub mod rc_api;
pub mod service;
pub mod store;
