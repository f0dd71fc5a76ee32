//! Which estates a staff member may act on, as a SQL condition. Street staff: the whole
//! tenant; residents'-committee staff: the estates of their committee.

use uuid::Uuid;

use crate::{
    auth::principal::Principal,
    error::{ApiError, ApiResult},
};

#[derive(Clone, Copy, Debug)]
pub struct Jurisdiction {
    /// `None`: every estate of the street office.
    pub rc_id: Option<Uuid>,
}

/// SQL condition on an estates row aliased `e`, bound to the jurisdiction's `rc_id` as `$1`.
pub const ESTATE_IN_SCOPE: &str = "($1::uuid IS NULL OR e.rc_id = $1)";

impl Jurisdiction {
    pub fn of(principal: &Principal) -> ApiResult<Self> {
        match principal {
            Principal::Staff { rc_id, .. } => Ok(Jurisdiction { rc_id: *rc_id }),
            _ => Err(ApiError::forbidden("authz.forbidden", "只有街道或居委会工作人员可以操作", "Staff only")),
        }
    }
}
