//! The closed sets of values the voting API shows (the database's CHECK constraints hold the
//! same): a leaf module, so that every voting module may name them.

/// Where a matter stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, poem_openapi::Enum)]
#[oai(rename_all = "snake_case")]
pub enum MatterStatus {
    /// 待审核
    PendingApproval,
    /// 已驳回
    Rejected,
    /// 已批准，未到投票时间
    Approved,
    /// 投票中（截止后待结束）
    Open,
    /// 已结束，结果已定
    Closed,
    /// 已撤销
    Cancelled,
}

impl MatterStatus {
    /// As stored.
    pub fn as_str(self) -> &'static str {
        match self {
            MatterStatus::PendingApproval => "pending_approval",
            MatterStatus::Rejected => "rejected",
            MatterStatus::Approved => "approved",
            MatterStatus::Open => "open",
            MatterStatus::Closed => "closed",
            MatterStatus::Cancelled => "cancelled",
        }
    }
}

/// How a ballot reached the count.
#[derive(Clone, Copy, Debug, PartialEq, Eq, poem_openapi::Enum)]
#[oai(rename_all = "snake_case")]
pub enum BallotChannel {
    /// 线上投票
    Online,
    /// 纸质票
    Paper,
    /// 现场投票
    OnSite,
}

/// How important staff marked a matter (shown as a badge; filters the console's list).
#[derive(Clone, Copy, Debug, PartialEq, Eq, poem_openapi::Enum)]
#[oai(rename_all = "snake_case")]
pub enum Importance {
    /// 一般
    Normal,
    /// 重要
    Important,
    /// 紧急
    Urgent,
}

/// The orders the console's matter list offers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, poem_openapi::Enum)]
#[oai(rename_all = "snake_case")]
pub enum MatterSort {
    /// 最新创建在前 (default)
    #[default]
    CreatedDesc,
    /// 截止时间最早在前
    ClosesAsc,
    /// 截止时间最晚在前
    ClosesDesc,
}
