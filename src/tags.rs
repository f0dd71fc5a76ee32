//! The spec's tags: how operations are grouped for the clients that read it. Below every
//! domain, so an API names its tag without importing the whole service.

use poem_openapi::Tags;

#[derive(Tags)]
pub enum ApiTags {
    /// 业主账号 / Owner accounts (mini-program)
    Owners,
    /// 工作人员 / Street and residents'-committee staff (console)
    Staff,
    /// 居委会与小区 / Residents' committees and estates
    Estates,
    /// 房屋信息 / The housing roll (console)
    Housing,
    /// 业主认证与共有人 / Owner verification, my properties, co-owners (mini-program)
    Verification,
    /// 附件 / Attachments
    Attachments,
    /// 议事与表决 / Deliberation matters, ballots, tallies and the ballot ledger
    Matters,
    /// 选举 / Preparatory groups, owners'-committee terms and elections
    Elections,
    /// 审计日志 / Audit log
    Audit,
    /// 平台 / Platform staff: tenants
    Platform,
    /// 开发 / Development only
    Dev,
}
