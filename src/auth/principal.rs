//! Who is calling: resolved from the bearer token once per request by the gate.

use uuid::Uuid;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StaffRole {
    StreetStaff,
    RcStaff,
}

impl StaffRole {
    pub fn as_str(self) -> &'static str {
        match self {
            StaffRole::StreetStaff => "street_staff",
            StaffRole::RcStaff => "rc_staff",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "street_staff" => Some(StaffRole::StreetStaff),
            "rc_staff" => Some(StaffRole::RcStaff),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Principal {
    Anonymous,
    Owner {
        id: Uuid,
    },
    /// `rc_id` is the jurisdiction: `None` for the whole street office.
    Staff {
        id: Uuid,
        role: StaffRole,
        rc_id: Option<Uuid>,
    },
    Platform {
        id: Uuid,
    },
}

/// Every role casbin knows; `anonymous` covers the public operations (register, log in).
pub const ROLES: &[&str] = &[
    "anonymous",
    "owner",
    "street_staff",
    "rc_staff",
    "platform_staff",
];

impl Principal {
    pub fn role(&self) -> &'static str {
        match self {
            Principal::Anonymous => "anonymous",
            Principal::Owner { .. } => "owner",
            Principal::Staff { role, .. } => role.as_str(),
            Principal::Platform { .. } => "platform_staff",
        }
    }

    /// (kind, id) as written in audit logs and attachment metadata.
    pub fn actor(&self) -> (&'static str, Option<Uuid>) {
        match self {
            Principal::Anonymous => ("system", None),
            Principal::Owner { id } => ("owner", Some(*id)),
            Principal::Staff { id, .. } => ("staff", Some(*id)),
            Principal::Platform { id } => ("platform_staff", Some(*id)),
        }
    }
}

/// The hash of the token that authenticated this request (for logout).
#[derive(Clone, Debug)]
pub struct SessionToken(pub Vec<u8>);
