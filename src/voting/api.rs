//! Deliberation matters (议事): create, review, list, read, extend, cancel, close.

use super::kinds::MatterStatus;
use crate::paging::TextPage;
use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::{
    param::{Path, Query},
    payload::Json,
    ApiResponse, Enum, Object, OpenApi,
};
use uuid::Uuid;

use super::{
    matter_store::{self, MatterFilter, MatterRow, NewMatter},
    rules::{ApprovalBase, Comparison, RuleSet, Threshold},
    service::{self, MatterSettings},
    tally::{ChannelRule, Settings, Tally},
};
use crate::{
    audit,
    auth::{principal::Principal, required},
    authz::jurisdiction::Jurisdiction,
    error::{ApiError, ApiResult, FieldIssue},
    paging::Paging,
    state::AppState,
    tags::ApiTags,
    tenancy::{conn::TenantConn, Tenant},
};

crate::page_of!(RuleSetPage, RuleSetView);

pub use super::kinds::{Importance, MatterSort};

#[derive(Object, Clone)]
#[oai(skip_serializing_if_is_none)]
pub struct ThresholdInput {
    #[oai(validator(minimum(value = "1"), maximum(value = "1000")))]
    pub num: i64,
    #[oai(validator(minimum(value = "1"), maximum(value = "1000")))]
    pub den: i64,
    /// `at_least` (以上, ≥) or `more_than` (过半数/超过, >).
    #[oai(validator(max_length = 20))]
    pub comparison: String,
}

#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct CustomRules {
    /// Omit for no separate participation test.
    pub participation: Option<ThresholdInput>,
    pub approval: ThresholdInput,
    /// `participants` (Civil Code) or `all_in_scope` (pre-2021 law, order 165).
    #[oai(validator(max_length = 20))]
    pub approval_base: String,
}

#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct MatterInput {
    pub estate_id: Uuid,
    /// 事项类型, from the estate's editable list (new names are added to it).
    #[oai(validator(max_length = 30))]
    pub type_name: String,
    #[oai(validator(max_length = 100))]
    pub title: String,
    #[oai(validator(max_length = 20000))]
    pub content: String,
    pub importance: Importance,
    /// Buildings whose units vote; omit for the whole estate.
    #[oai(validator(max_length = 30, max_items = 500))]
    pub scope_buildings: Option<Vec<String>>,
    pub opens_at: DateTime<Utc>,
    pub closes_at: DateTime<Utc>,
    #[oai(default)]
    pub signature_required: bool,
    /// Civil Code art. 278 item (1–9): presets the rule set.
    #[oai(validator(minimum(value = "1"), maximum(value = "9")))]
    pub law_item: u8,
    /// Another named rule set (see `matter_rule_set_list`), or custom fractions…
    #[oai(validator(max_length = 50))]
    pub rule_set_id: Option<String>,
    pub custom_rules: Option<CustomRules>,
    /// …with the reason, required whenever the preset is changed.
    #[oai(validator(max_length = 500))]
    pub rule_change_reason: Option<String>,
    /// Up to 5 uploaded `document` attachments.
    #[oai(default, validator(max_items = 5))]
    pub attachment_ids: Vec<Uuid>,
    /// Which ballot counts when an owner voted on two channels (default: online wins).
    pub channel_rule: Option<ChannelRuleInput>,
    /// Whether invalid (voided) ballots count toward participation (default: yes).
    pub invalid_ballots_participate: Option<bool>,
    /// Allow each voter one change of vote before close (default: no).
    #[oai(default)]
    pub allow_vote_change: bool,
    /// 从众条款: only where the estate's covenant says so; delivered non-voters then follow
    /// the majority once participation passes (default: no).
    #[oai(default)]
    pub non_voters_follow_majority: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum ChannelRuleInput {
    /// 线上优先 (Shenzhen)
    OnlineWins,
    /// 纸质/现场优先
    InPersonWins,
    /// 先投为准
    FirstWins,
}

#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct RuleSetView {
    pub id: String,
    pub name: String,
    pub participation: Option<String>,
    pub approval: String,
    pub approval_base: String,
}

/// Every setting the count depends on, as stored when the matter was created and committed to
/// by the ledger's opening hash.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct MatterSettingsView {
    pub channel_rule: ChannelRuleInput,
    pub invalid_ballots_participate: bool,
    pub allow_vote_change: bool,
    pub parking_counts: bool,
    pub storage_counts: bool,
    pub non_voters_follow_majority: bool,
}

/// The declared result of a closed matter: the tally as counted at close, the ledger root
/// that seals its ballots, and when it closed.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct MatterResultView {
    pub tally: super::ballots_api::TallyView,
    pub ledger_root: String,
    pub closed_at: Option<DateTime<Utc>>,
}

#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct MatterView {
    pub id: Uuid,
    pub estate_id: Uuid,
    pub type_name: String,
    pub title: String,
    pub content: String,
    pub importance: Importance,
    pub scope_buildings: Option<Vec<String>>,
    pub opens_at: DateTime<Utc>,
    pub closes_at: DateTime<Utc>,
    pub signature_required: bool,
    pub law_item: i16,
    pub rule_set: RuleSetView,
    pub rule_change_reason: Option<String>,
    pub attachment_ids: Vec<Uuid>,
    pub status: MatterStatus,
    pub review_reason: Option<String>,
    pub cancel_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub settings: MatterSettingsView,
    /// Present once the matter is closed.
    pub result: Option<MatterResultView>,
}

crate::page_of!(MatterPage, MatterView);

#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ReasonInput {
    #[oai(validator(max_length = 500))]
    pub reason: String,
}

#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct TypeInput {
    #[oai(validator(max_length = 30))]
    pub name: String,
}

#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct DeadlineInput {
    pub closes_at: DateTime<Utc>,
}

#[derive(ApiResponse)]
pub enum Created {
    #[oai(status = 201)]
    Created(Json<MatterView>),
}

#[derive(ApiResponse)]
pub enum Deleted {
    #[oai(status = 204)]
    Deleted,
}

fn describe(t: &Threshold) -> String {
    let op = if t.comparison == Comparison::AtLeast {
        "≥"
    } else {
        ">"
    };
    format!("{op} {}/{}", t.num, t.den)
}

pub fn rule_view(r: &RuleSet) -> RuleSetView {
    RuleSetView {
        id: r.id.clone(),
        name: r.name.clone(),
        participation: r.participation.as_ref().map(describe),
        approval: describe(&r.approval),
        approval_base: if r.approval_base == ApprovalBase::Participants {
            "participants".into()
        } else {
            "all_in_scope".into()
        },
    }
}

fn threshold(input: &ThresholdInput) -> Option<Threshold> {
    let comparison = match input.comparison.as_str() {
        "at_least" => Comparison::AtLeast,
        "more_than" => Comparison::MoreThan,
        _ => return None,
    };
    Some(Threshold {
        num: input.num,
        den: input.den,
        comparison,
    })
}

/// The rule set a matter will use: the preset of its item unless staff chose another.
fn choose_rules(input: &MatterInput, issues: &mut Vec<FieldIssue>) -> Option<RuleSet> {
    let preset = RuleSet::for_matter_item(input.law_item);
    if preset.is_none() {
        issues.push(FieldIssue::new(
            "law_item",
            "matter.law_item",
            "事项类别须为民法典第二百七十八条第一至九项之一",
            "law_item must be 1–9",
        ));
    }
    let chosen = match (&input.rule_set_id, &input.custom_rules) {
        (Some(id), _) => RuleSet::by_id(id).or_else(|| {
            issues.push(FieldIssue::new(
                "rule_set_id",
                "matter.rule_set_unknown",
                "没有这个表决规则",
                "unknown rule set",
            ));
            None
        }),
        (None, Some(c)) => {
            let base = match c.approval_base.as_str() {
                "participants" => Some(ApprovalBase::Participants),
                "all_in_scope" => Some(ApprovalBase::AllInScope),
                _ => None,
            };
            let participation = c.participation.as_ref().map(threshold);
            match (base, threshold(&c.approval), participation) {
                (Some(base), Some(approval), None) => RuleSet::custom(None, approval, base),
                (Some(base), Some(approval), Some(Some(p))) => {
                    RuleSet::custom(Some(p), approval, base)
                }
                _ => None,
            }
            .or_else(|| {
                issues.push(FieldIssue::new(
                    "custom_rules",
                    "matter.rules_invalid",
                    "自定义规则须为 0 到 1 之间的分数",
                    "fractions must lie in (0, 1]",
                ));
                None
            })
        }
        (None, None) => preset.clone(),
    }?;
    if Some(&chosen) != preset.as_ref()
        && input
            .rule_change_reason
            .as_deref()
            .unwrap_or("")
            .trim()
            .is_empty()
    {
        issues.push(FieldIssue::new(
            "rule_change_reason",
            "required",
            "修改表决规则须填写原因",
            "give the reason for changing the rules",
        ));
    }
    Some(chosen)
}

/// A stored matter as readers see it: its rule set and settings described, its result once
/// closed.
fn view(r: MatterRow) -> MatterView {
    let rules: RuleSet =
        serde_json::from_value(r.rule_set).unwrap_or_else(|_| RuleSet::civil_code_ordinary());
    MatterView {
        id: r.id,
        estate_id: r.estate_id,
        type_name: r.type_name,
        title: r.title,
        content: r.content,
        importance: crate::stored::parse(&r.importance, Importance::Normal),
        scope_buildings: r.scope_buildings,
        opens_at: r.opens_at,
        closes_at: r.closes_at,
        signature_required: r.signature_required,
        law_item: r.law_item,
        rule_set: rule_view(&rules),
        rule_change_reason: r.rule_change_reason,
        attachment_ids: r.attachment_ids,
        status: crate::stored::parse(&r.status, MatterStatus::Cancelled),
        review_reason: r.review_reason,
        cancel_reason: r.cancel_reason,
        created_at: r.created_at,
        settings: settings_view(r.settings),
        result: result_view(r.result, r.closed_at),
    }
}

fn settings_view(stored: serde_json::Value) -> MatterSettingsView {
    let s: MatterSettings = serde_json::from_value(stored).unwrap_or(MatterSettings {
        engine: Settings::defaults(),
        channel_rule: ChannelRule::OnlineWins,
        allow_vote_change: false,
    });
    MatterSettingsView {
        channel_rule: match s.channel_rule {
            ChannelRule::OnlineWins => ChannelRuleInput::OnlineWins,
            ChannelRule::InPersonWins => ChannelRuleInput::InPersonWins,
            ChannelRule::FirstWins => ChannelRuleInput::FirstWins,
        },
        invalid_ballots_participate: s.engine.invalid_ballots_participate,
        allow_vote_change: s.allow_vote_change,
        parking_counts: s.engine.parking_counts,
        storage_counts: s.engine.storage_counts,
        non_voters_follow_majority: s.engine.non_voters_follow_majority,
    }
}

fn result_view(
    stored: Option<serde_json::Value>,
    closed_at: Option<DateTime<Utc>>,
) -> Option<MatterResultView> {
    let stored = stored?;
    let tally: Tally = serde_json::from_value(stored.get("tally")?.clone()).ok()?;
    Some(MatterResultView {
        tally: super::ballots_api::tally_view(&tally, "closed", false),
        ledger_root: stored.get("ledger_root")?.as_str()?.to_string(),
        closed_at,
    })
}

pub async fn one(conn: &TenantConn, id: Uuid) -> ApiResult<MatterView> {
    matter_store::matter(conn, id)
        .await?
        .map(view)
        .ok_or_else(service::not_found)
}

/// Staff of the estate's jurisdiction, or an owners'-committee member of that estate.
async fn may_manage(conn: &TenantConn, principal: &Principal, estate: Uuid) -> ApiResult<()> {
    match principal {
        Principal::Staff { rc_id, .. } => {
            Jurisdiction { rc_id: *rc_id }
                .check_estate(conn, estate)
                .await
        }
        Principal::Owner { id } => {
            match crate::estates::store::serving_member(conn, estate, *id).await? {
                true => Ok(()),
                false => Err(ApiError::forbidden(
                    "matter.not_oc_member",
                    "只有本小区业委会成员可以发起议事",
                    "Only members of this estate's owners' committee may start a matter",
                )),
            }
        }
        _ => Err(ApiError::forbidden(
            "authz.forbidden",
            "无权操作",
            "Forbidden",
        )),
    }
}

/// Locks the matter and checks the caller is staff with the estate in their jurisdiction.
async fn staff_matter(
    conn: &TenantConn,
    principal: &Principal,
    id: Uuid,
) -> ApiResult<(Uuid, String, DateTime<Utc>, DateTime<Utc>)> {
    let scope = Jurisdiction::of(principal)?;
    // Waits for ballots in flight: none is accepted once a close or cancel has begun.
    service::lock_matter(conn, id, true).await?;
    let row = matter_store::lock_staff_matter(conn, scope.rc_id, id)
        .await?
        .ok_or_else(service::not_found)?;
    Ok((row.estate_id, row.status, row.opens_at, row.closes_at))
}

fn wrong_state(zh: &str, en: &str) -> ApiError {
    ApiError::conflict("matter.wrong_state", zh.to_string(), en.to_string())
}

#[derive(Default)]
pub struct MattersApi;

#[OpenApi(tag = "ApiTags::Matters")]
impl MattersApi {
    /// 表决规则 / The named rule sets.
    #[oai(
        path = "/api/matters/rule-sets",
        method = "get",
        operation_id = "matter_rule_set_list"
    )]
    async fn rule_sets(
        &self,
        /// Page number, from 1.
        #[oai(validator(minimum(value = "1"), maximum(value = "1000000")))]
        page: Query<Option<i64>>,
        /// Items per page, 1–100 (default 20).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        page_size: Query<Option<i64>>,
    ) -> ApiResult<Json<RuleSetPage>> {
        let paging = Paging::new(page.0, page_size.0)?;
        Ok(Json(RuleSetPage::cut(
            RuleSet::presets().iter().map(rule_view).collect(),
            paging,
        )))
    }

    /// 事项类型 / The estate's editable list of matter types.
    #[oai(
        path = "/api/estates/:id/matter-types",
        method = "get",
        operation_id = "matter_type_list"
    )]
    async fn types(
        &self,
        state: Data<&AppState>,
        tenant: Data<&Tenant>,
        principal: Data<&Principal>,
        id: Path<Uuid>,
        /// Page number, from 1.
        #[oai(validator(minimum(value = "1"), maximum(value = "1000000")))]
        page: Query<Option<i64>>,
        /// Items per page, 1–100 (default 20).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        page_size: Query<Option<i64>>,
    ) -> ApiResult<Json<TextPage>> {
        let paging = Paging::new(page.0, page_size.0)?;
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        service::visible_to(&conn, &principal, id.0, "approved")
            .await
            .map_err(|_| crate::authz::jurisdiction::estate_not_found())?;
        let names = matter_store::matter_types(&conn, id.0).await?;
        conn.commit().await?;
        Ok(Json(TextPage::cut(names, paging)))
    }

    /// 添加事项类型 / Add a matter type to the estate's list.
    #[oai(
        path = "/api/estates/:id/matter-types",
        method = "post",
        operation_id = "matter_type_create"
    )]
    async fn add_type(
        &self,
        state: Data<&AppState>,
        tenant: Data<&Tenant>,
        principal: Data<&Principal>,
        id: Path<Uuid>,
        body: Json<TypeInput>,
    ) -> ApiResult<Json<TextPage>> {
        // The list as it now stands, as large a first page as any list gives.
        let paging = Paging::new(None, Some(crate::paging::MAX_PAGE_SIZE))?;
        let scope = Jurisdiction::of(&principal)?;
        let name = body.name.trim();
        if name.is_empty() || name.chars().count() > 30 {
            return Err(ApiError::field(
                "name",
                "matter.type_invalid",
                "类型名称须为 1–30 个字",
                "1–30 characters",
            ));
        }
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        scope.check_estate(&conn, id.0).await?;
        matter_store::add_matter_type(&conn, id.0, name).await?;
        audit::record(&conn, &principal, "matter_type", name).await?;
        let names = matter_store::matter_types(&conn, id.0).await?;
        conn.commit().await?;
        Ok(Json(TextPage::cut(names, paging)))
    }

    /// 删除事项类型 / Remove a matter type from the list (existing matters keep theirs).
    #[oai(
        path = "/api/estates/:id/matter-types/:name",
        method = "delete",
        operation_id = "matter_type_delete"
    )]
    async fn remove_type(
        &self,
        state: Data<&AppState>,
        tenant: Data<&Tenant>,
        principal: Data<&Principal>,
        id: Path<Uuid>,
        #[oai(validator(max_length = 30))] name: Path<String>,
    ) -> ApiResult<Deleted> {
        let (conn, _) =
            Jurisdiction::begin_for_estate(&state.pool, &tenant, &principal, id.0).await?;
        let n = matter_store::delete_matter_type(&conn, id.0, &name.0).await?;
        if n == 0 {
            return Err(ApiError::not_found(
                "matter.type_not_found",
                "没有这个事项类型",
                "No such matter type",
            ));
        }
        audit::record(&conn, &principal, "matter_type", &name.0).await?;
        conn.commit().await?;
        Ok(Deleted::Deleted)
    }

    /// 发起议事 / Create a matter (staff, or owners'-committee members of the estate).
    #[oai(path = "/api/matters", method = "post", operation_id = "matter_create")]
    async fn create(
        &self,
        state: Data<&AppState>,
        tenant: Data<&Tenant>,
        principal: Data<&Principal>,
        body: Json<MatterInput>,
    ) -> ApiResult<Created> {
        let mut issues = Vec::new();
        required(&mut issues, "title", &body.title);
        required(&mut issues, "type_name", &body.type_name);
        if body.closes_at <= body.opens_at {
            issues.push(FieldIssue::new(
                "closes_at",
                "matter.window",
                "截止时间须晚于开始时间",
                "closes_at must follow opens_at",
            ));
        }
        if body.attachment_ids.len() > 5 {
            issues.push(FieldIssue::new(
                "attachment_ids",
                "matter.attachments",
                "附件最多 5 个",
                "at most 5 attachments",
            ));
        }
        let rules = choose_rules(&body, &mut issues);
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        may_manage(&conn, &principal, body.estate_id).await?;
        let estate = matter_store::estate_settings(&conn, body.estate_id).await?;
        if !body.attachment_ids.is_empty() {
            // Owners will read these documents: only the creator's own uploads (a committee member's)
            // or staff's, never someone else's file named by id.
            let (kind, uploader) = principal.actor();
            let n =
                matter_store::own_documents(&conn, &body.attachment_ids, kind, uploader).await?;
            if n as usize != body.attachment_ids.len() {
                issues.push(FieldIssue::new(
                    "attachment_ids",
                    "attachment.invalid",
                    "附件须是您自己上传的文件（用途 document），且不能重复",
                    "attach documents you uploaded yourself (purpose document), each once",
                ));
            }
        }
        let Some(rules) = rules.filter(|_| issues.is_empty()) else {
            return Err(ApiError::validation(issues));
        };
        let settings = MatterSettings {
            engine: Settings {
                parking_counts: estate.parking_counts,
                storage_counts: estate.storage_counts,
                invalid_ballots_participate: body.invalid_ballots_participate.unwrap_or(true),
                non_voters_follow_majority: body.non_voters_follow_majority,
            },
            channel_rule: match body.channel_rule.unwrap_or(ChannelRuleInput::OnlineWins) {
                ChannelRuleInput::OnlineWins => ChannelRule::OnlineWins,
                ChannelRuleInput::InPersonWins => ChannelRule::InPersonWins,
                ChannelRuleInput::FirstWins => ChannelRule::FirstWins,
            },
            allow_vote_change: body.allow_vote_change,
        };
        // Committee-initiated matters wait for the street or residents' committee where the
        // estate requires it; staff-initiated ones are approved by their creation.
        let status = if estate.deliberation_needs_approval
            && matches!(*principal, Principal::Owner { .. })
        {
            "pending_approval"
        } else {
            "approved"
        };
        let (kind, creator) = principal.actor();
        let id = Uuid::new_v4();
        let salt = Uuid::new_v4().simple().to_string();
        let importance = crate::stored::text(&body.importance);
        matter_store::add_matter_type(&conn, body.estate_id, body.type_name.trim()).await?;
        let new = NewMatter {
            id,
            estate_id: body.estate_id,
            type_name: body.type_name.trim(),
            title: body.title.trim(),
            content: &body.content,
            importance: &importance,
            scope_buildings: &body.scope_buildings,
            opens_at: body.opens_at,
            closes_at: body.closes_at,
            signature_required: body.signature_required,
            law_item: body.law_item as i16,
            rule_set: serde_json::to_value(&rules).map_err(ApiError::internal)?,
            rule_change_reason: &body.rule_change_reason,
            settings: serde_json::to_value(settings).map_err(ApiError::internal)?,
            ledger_salt: &salt,
            attachment_ids: &body.attachment_ids,
            status,
            created_by_kind: kind,
            created_by: creator,
        };
        matter_store::insert_matter(&conn, &new).await?;
        crate::attachments::bind_to_estate(&conn, body.estate_id, &body.attachment_ids).await?;
        audit::record(&conn, &principal, "matter", &id.to_string()).await?;
        let v = one(&conn, id).await?;
        conn.commit().await?;
        Ok(Created::Created(Json(v)))
    }

    /// 议事列表 / Matters in my jurisdiction.
    #[oai(path = "/api/matters", method = "get", operation_id = "matter_list")]
    #[allow(clippy::too_many_arguments)] // one extractor per parameter, as poem-openapi wants them
    async fn list(
        &self,
        state: Data<&AppState>,
        tenant: Data<&Tenant>,
        principal: Data<&Principal>,
        estate_id: Query<Option<Uuid>>,
        /// Only this residents' committee's estates (street staff narrowing their view).
        rc_id: Query<Option<Uuid>>,
        /// 状态 (open: approved and past its opening time).
        status: Query<Option<MatterStatus>>,
        /// 重要程度
        importance: Query<Option<Importance>>,
        /// Part of the title (不区分大小写).
        #[oai(validator(max_length = 100))]
        title: Query<Option<String>>,
        /// 排序 (default created_desc).
        sort: Query<Option<MatterSort>>,
        /// Page number, from 1.
        #[oai(validator(minimum(value = "1"), maximum(value = "1000000")))]
        page: Query<Option<i64>>,
        /// Items per page, 1–100 (default 20).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        page_size: Query<Option<i64>>,
    ) -> ApiResult<Json<MatterPage>> {
        let scope = Jurisdiction::of(&principal)?;
        let paging = Paging::new(page.0, page_size.0)?;
        let title = crate::paging::contains(title.0.as_deref());
        let importance = importance.0.map(|i| crate::stored::text(&i));
        let filter = MatterFilter {
            rc_id: scope.rc_id,
            committee: rc_id.0,
            estate_id: estate_id.0,
            status: status.0.map(MatterStatus::as_str),
            importance: importance.as_deref(),
            title: title.as_deref(),
            sort: sort.0.unwrap_or_default(),
        };
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        let total = matter_store::matter_count(&conn, &filter).await?;
        let rows =
            matter_store::matter_page(&conn, &filter, paging.limit(), paging.offset()).await?;
        conn.commit().await?;
        Ok(Json(MatterPage::new(
            rows.into_iter().map(view).collect(),
            total,
            paging,
        )))
    }

    /// 我的议事 / Matters owners of my estates can see (approved and later).
    #[oai(
        path = "/api/me/matters",
        method = "get",
        operation_id = "my_matter_list"
    )]
    async fn mine(
        &self,
        state: Data<&AppState>,
        tenant: Data<&Tenant>,
        principal: Data<&Principal>,
        /// Page number, from 1.
        #[oai(validator(minimum(value = "1"), maximum(value = "1000000")))]
        page: Query<Option<i64>>,
        /// Items per page, 1–100 (default 20).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        page_size: Query<Option<i64>>,
    ) -> ApiResult<Json<MatterPage>> {
        let paging = Paging::new(page.0, page_size.0)?;
        let Principal::Owner { id: owner } = *principal else {
            return Err(ApiError::forbidden(
                "authz.forbidden",
                "仅业主可以查看",
                "Owners only",
            ));
        };
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        let rows = matter_store::owner_matters(&conn, *owner).await?;
        conn.commit().await?;
        Ok(Json(MatterPage::cut(
            rows.into_iter().map(view).collect(),
            paging,
        )))
    }

    /// 议事详情 / One matter (staff of its jurisdiction, or owners of its estate once visible).
    #[oai(path = "/api/matters/:id", method = "get", operation_id = "matter_get")]
    async fn get(
        &self,
        state: Data<&AppState>,
        tenant: Data<&Tenant>,
        principal: Data<&Principal>,
        id: Path<Uuid>,
    ) -> ApiResult<Json<MatterView>> {
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        service::open_if_due(&conn, id.0).await?;
        let v = one(&conn, id.0).await?;
        service::visible_to(&conn, &principal, v.estate_id, v.status.as_str()).await?;
        conn.commit().await?;
        Ok(Json(v))
    }

    /// 审核通过 / Approve a committee's matter so owners see it.
    #[oai(
        path = "/api/matters/:id/approve",
        method = "post",
        operation_id = "matter_approve"
    )]
    async fn approve(
        &self,
        state: Data<&AppState>,
        tenant: Data<&Tenant>,
        principal: Data<&Principal>,
        id: Path<Uuid>,
    ) -> ApiResult<Json<MatterView>> {
        review(&state, &tenant, &principal, id.0, "approved", None).await
    }

    /// 审核驳回 / Reject a committee's matter with a reason.
    #[oai(
        path = "/api/matters/:id/reject",
        method = "post",
        operation_id = "matter_reject"
    )]
    async fn reject(
        &self,
        state: Data<&AppState>,
        tenant: Data<&Tenant>,
        principal: Data<&Principal>,
        id: Path<Uuid>,
        body: Json<ReasonInput>,
    ) -> ApiResult<Json<MatterView>> {
        review(
            &state,
            &tenant,
            &principal,
            id.0,
            "rejected",
            Some(&body.reason),
        )
        .await
    }

    /// 修改截止时间 / Extend the deadline (logged).
    #[oai(
        path = "/api/matters/:id/deadline",
        method = "post",
        operation_id = "matter_deadline_extend"
    )]
    async fn deadline(
        &self,
        state: Data<&AppState>,
        tenant: Data<&Tenant>,
        principal: Data<&Principal>,
        id: Path<Uuid>,
        body: Json<DeadlineInput>,
    ) -> ApiResult<Json<MatterView>> {
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        let (_, status, _, closes) = staff_matter(&conn, &principal, id.0).await?;
        if matches!(status.as_str(), "closed" | "cancelled" | "rejected") || closes <= Utc::now() {
            return Err(wrong_state(
                "事项已结束或已过截止时间，不能修改截止时间",
                "The matter has ended or passed its deadline",
            ));
        }
        if body.closes_at <= closes || body.closes_at <= Utc::now() {
            return Err(ApiError::field(
                "closes_at",
                "matter.deadline_not_later",
                "新的截止时间须晚于原截止时间和当前时间",
                "The new deadline must be later than the current deadline and than now",
            ));
        }
        let (_, staff) = principal.actor();
        matter_store::insert_deadline_change(&conn, id.0, closes, body.closes_at, staff).await?;
        matter_store::set_closes_at(&conn, id.0, body.closes_at).await?;
        audit::record(&conn, &principal, "matter", &id.0.to_string()).await?;
        let v = one(&conn, id.0).await?;
        conn.commit().await?;
        Ok(Json(v))
    }

    /// 删除 / Delete a matter before voting opens.
    #[oai(
        path = "/api/matters/:id",
        method = "delete",
        operation_id = "matter_delete"
    )]
    async fn delete(
        &self,
        state: Data<&AppState>,
        tenant: Data<&Tenant>,
        principal: Data<&Principal>,
        id: Path<Uuid>,
    ) -> ApiResult<Deleted> {
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        let (_, status, opens, _) = staff_matter(&conn, &principal, id.0).await?;
        if !matches!(
            status.as_str(),
            "pending_approval" | "rejected" | "approved"
        ) || Utc::now() >= opens
        {
            return Err(wrong_state(
                "投票已开始，不能删除，只能撤销并说明原因",
                "Voting has opened: cancel it with a reason instead",
            ));
        }
        matter_store::delete_matter(&conn, id.0).await?;
        audit::record(&conn, &principal, "matter", &id.0.to_string()).await?;
        conn.commit().await?;
        Ok(Deleted::Deleted)
    }

    /// 撤销 / Cancel an opened matter with a reason (kept, with its ballots).
    #[oai(
        path = "/api/matters/:id/cancel",
        method = "post",
        operation_id = "matter_cancel"
    )]
    async fn cancel(
        &self,
        state: Data<&AppState>,
        tenant: Data<&Tenant>,
        principal: Data<&Principal>,
        id: Path<Uuid>,
        body: Json<ReasonInput>,
    ) -> ApiResult<Json<MatterView>> {
        if body.reason.trim().is_empty() {
            return Err(ApiError::field(
                "reason",
                "required",
                "请填写撤销原因",
                "A reason is required",
            ));
        }
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        let (_, status, _, _) = staff_matter(&conn, &principal, id.0).await?;
        if matches!(status.as_str(), "closed" | "cancelled") {
            return Err(wrong_state("事项已结束", "The matter has ended"));
        }
        matter_store::cancel_matter(&conn, id.0, body.reason.trim()).await?;
        // Ballots already cast are kept: seal them for good.
        service::checkpoint(&conn, id.0).await?;
        audit::record(&conn, &principal, "matter", &id.0.to_string()).await?;
        let v = one(&conn, id.0).await?;
        conn.commit().await?;
        Ok(Json(v))
    }

    /// 结束表决 / Close after the deadline: the result is computed and kept.
    #[oai(
        path = "/api/matters/:id/close",
        method = "post",
        operation_id = "matter_close"
    )]
    async fn close(
        &self,
        state: Data<&AppState>,
        tenant: Data<&Tenant>,
        principal: Data<&Principal>,
        id: Path<Uuid>,
    ) -> ApiResult<Json<MatterView>> {
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        service::open_if_due(&conn, id.0).await?;
        let (_, status, _, closes) = staff_matter(&conn, &principal, id.0).await?;
        if status != "open" || Utc::now() < closes {
            return Err(wrong_state(
                "只有已到截止时间的表决才能结束",
                "Only an open matter past its deadline can be closed",
            ));
        }
        let m = service::load(&conn, id.0, "").await?;
        let tally = service::live_tally(&conn, &m).await?;
        // The final checkpoint seals every entry; its root is declared with the result.
        service::checkpoint(&conn, m.id).await?;
        let service::Closing {
            root,
            declared,
            closed_at,
        } = service::declare(&conn, &m, Some(&tally), &[], None).await?;
        let result = serde_json::json!({"tally": tally, "ledger_root": root, "declared": declared});
        matter_store::close_matter(&conn, id.0, &result, &closed_at).await?;
        audit::record(&conn, &principal, "matter", &id.0.to_string()).await?;
        let v = one(&conn, id.0).await?;
        conn.commit().await?;
        Ok(Json(v))
    }
}

async fn review(
    state: &AppState,
    tenant: &Tenant,
    principal: &Principal,
    id: Uuid,
    to: &str,
    reason: Option<&str>,
) -> ApiResult<Json<MatterView>> {
    if reason.is_some_and(|r| r.trim().is_empty()) {
        return Err(ApiError::field(
            "reason",
            "required",
            "请填写驳回原因",
            "A reason is required",
        ));
    }
    let conn = TenantConn::begin(&state.pool, tenant).await?;
    let (_, status, _, _) = staff_matter(&conn, principal, id).await?;
    if status != "pending_approval" {
        return Err(wrong_state(
            "该事项不在待审核状态",
            "The matter is not awaiting approval",
        ));
    }
    matter_store::review_matter(&conn, id, to, reason.map(str::trim)).await?;
    audit::record(&conn, principal, "matter", &id.to_string()).await?;
    let v = one(&conn, id).await?;
    conn.commit().await?;
    Ok(Json(v))
}
