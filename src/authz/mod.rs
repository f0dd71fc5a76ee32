//! Authorization: casbin decides role × operation × action from `policies/`; the user's
//! jurisdiction (which estates) is enforced in SQL by `jurisdiction`.

pub mod jurisdiction;
pub mod operations;

use std::collections::HashSet;

use casbin::{CoreApi, DefaultModel, Enforcer, StringAdapter};

use crate::auth::principal::ROLES;
use operations::OperationTable;

pub const MODEL: &str = include_str!("../../policies/model.conf");
pub const POLICY: &str = include_str!("../../policies/policy.csv");

/// Every (role, operation id) casbin allows, computed once at start-up by asking casbin about
/// each role × operation of the spec. Requests then cost one hash lookup instead of a linear
/// matcher run.
pub struct Authorizer {
    allowed: HashSet<(String, String)>,
}

impl Authorizer {
    pub async fn new(ops: &OperationTable) -> anyhow::Result<Self> {
        let model = DefaultModel::from_str(MODEL).await?;
        let enforcer = Enforcer::new(model, StringAdapter::new(POLICY)).await?;
        let mut allowed = HashSet::new();
        for op in &ops.operations {
            for role in ROLES {
                if enforcer.enforce((*role, op.id.as_str(), op.action()))? {
                    allowed.insert((role.to_string(), op.id.clone()));
                }
            }
        }
        Ok(Self { allowed })
    }

    pub fn allows(&self, role: &str, operation_id: &str) -> bool {
        self.allowed
            .contains(&(role.to_string(), operation_id.to_string()))
    }
}

/// (operation id, action) pairs open to callers without a token: the `p, anonymous, …` lines
/// (the model matches subject, object and action exactly, so these are all casbin allows).
pub fn anonymous_operations() -> Vec<(String, String)> {
    POLICY
        .lines()
        .filter_map(|l| l.trim().strip_prefix("p,"))
        .map(|rest| rest.split(',').map(str::trim).collect::<Vec<_>>())
        .filter(|parts| parts.len() == 3 && parts[0] == "anonymous")
        .map(|parts| (parts[1].to_string(), parts[2].to_string()))
        .collect()
}

/// Operation ids named in policy.csv (to catch stale lines).
pub fn policy_operations() -> Vec<String> {
    POLICY
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("p,"))
        .filter_map(|l| l.split(',').nth(2).map(|s| s.trim().to_string()))
        .collect()
}
