//! Estates (小区). This issue lists them within the caller's jurisdiction; the housing issue
//! builds the rest of the capability here.

pub mod api;
