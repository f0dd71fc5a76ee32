//! The typed schema: diesel `table!` definitions generated from the migrations by
//! `zmg print-schema` (checked fresh by `tests/schema.rs`). Never edited by hand.

pub mod platform;
pub mod tenant;
