//! What every handler and background task shares. Below every domain: an API names it without
//! importing the service that builds it (`app.rs` builds it and knows the whole list).

use std::sync::Arc;

use crate::db::Pool;

use crate::{
    auth::sms::SmsSender,
    authz::{operations::OperationTable, Authorizer},
    config::Config,
    elections::face::FaceVerifier,
    storage::Storage,
};

/// Everything a handler may need, shared by reference.
#[derive(Clone)]
pub struct AppState {
    pub pool: Pool,
    pub config: Arc<Config>,
    pub storage: Storage,
    pub sms: Arc<dyn SmsSender>,
    pub face: Arc<dyn FaceVerifier>,
    pub ops: Arc<OperationTable>,
    pub authz: Arc<Authorizer>,
    /// `config.trusted_proxies` parsed once (the gate asks on every request).
    pub trusted_proxies: Arc<[ipnet::IpNet]>,
}
