//! Preparatory groups (筹备组): created by staff once an estate has its housing roll and verified
//! owners; owners sign up, staff review them and appoint the street office's, residents'
//! committee's and developer's representatives; where owner sign-ups exceed the owner seats,
//! owners elect them (an election round); the group is confirmed once its make-up is lawful, and
//! its work deadline runs from then.

use crate::paging::Paging;
use chrono::{DateTime, Duration, Utc};
use poem::web::Data;
use poem_openapi::param::Query;
use poem_openapi::{param::Path, payload::Json, ApiResponse, Enum, Object, OpenApi};
use uuid::Uuid;

use super::{
    api::{ElectionCreated, ReviewInput},
    locality,
    prep_store::{self as store, GroupRow, MemberRow},
    rounds::{self, NewRound, VerificationMode, VotingInput},
    service::prep_owner_members,
};
use crate::{
    audit,
    auth::{phone, principal::Principal, required},
    authz::jurisdiction::Jurisdiction,
    error::{ApiError, ApiResult, FieldIssue},
    housing::{owner_api::owner_of, store::holds_unit},
    state::AppState,
    tags::ApiTags,
    tenancy::{conn::TenantConn, Tenant},
};

crate::page_of!(PrepGroupPage, PrepGroupView);

#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct PrepGroupInput {
    /// e.g. XX小区筹备组
    #[oai(validator(max_length = 50))]
    pub name: String,
    /// Odd, at least the locality's minimum (7 in Shandong and Qingdao).
    #[oai(validator(minimum(value = "1"), maximum(value = "99")))]
    pub seats: i32,
    #[oai(validator(max_length = 20))]
    pub leader_phone: String,
    #[oai(default)]
    pub leader_phone_public: bool,
    pub signup_opens_at: DateTime<Utc>,
    pub signup_closes_at: DateTime<Utc>,
    /// Days for the group's work once formed (default: the locality's, 90 nationally).
    #[oai(validator(minimum(value = "1"), maximum(value = "3650")))]
    pub work_days: Option<i32>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum RepresentativeKind {
    /// 街道办事处代表
    Street,
    /// 居委会代表
    Rc,
    /// 建设单位（开发商）代表
    Developer,
}

/// Who a member of the group is: an owner who signed up, or a representative.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum MemberKind {
    /// 业主代表
    Owner,
    /// 街道办事处代表
    Street,
    /// 居委会代表
    Rc,
    /// 建设单位（开发商）代表
    Developer,
}

/// Where a preparatory group stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum GroupStatus {
    /// 组建中
    Forming,
    /// 已成立
    Formed,
}

#[derive(Object)]
pub struct RepresentativeInput {
    pub kind: RepresentativeKind,
    #[oai(validator(max_length = 50))]
    pub name: String,
    #[oai(validator(max_length = 20))]
    pub phone: String,
}

#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct PrepMemberView {
    pub id: Uuid,
    pub kind: MemberKind,
    pub owner_id: Option<Uuid>,
    pub name: String,
    /// Masked for owners.
    pub phone: String,
    pub intro: String,
    pub status: super::ReviewStatus,
    pub reason: Option<String>,
    /// Sits on the group: an approved representative or sign-up, or, where owners voted, elected.
    pub member: bool,
    /// Staff only, in the group's view: the owner's signature image on the sign-up.
    pub signature_attachment_id: Option<Uuid>,
    /// Staff only, in the group's view: the units the owner holds, with the roll's names.
    pub units: Option<Vec<super::holdings::HeldUnitView>>,
}

#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct PrepGroupView {
    pub id: Uuid,
    pub estate_id: Uuid,
    pub name: String,
    pub seats: i32,
    /// Seats left for owners once the appointed representatives are counted.
    pub owner_seats: i32,
    /// Hidden from owners unless public.
    pub leader_phone: Option<String>,
    pub leader_phone_public: bool,
    pub signup_opens_at: DateTime<Utc>,
    pub signup_closes_at: DateTime<Utc>,
    pub work_days: i32,
    pub status: GroupStatus,
    pub formed_at: Option<DateTime<Utc>>,
    /// The work deadline (formed + work days), and the days left until it.
    pub deadline: Option<DateTime<Utc>>,
    pub days_left: Option<i64>,
    pub members: Vec<PrepMemberView>,
    /// The latest election round of the owner seats, if owners had to vote.
    pub election_id: Option<Uuid>,
}

#[derive(ApiResponse)]
pub enum PrepCreated {
    #[oai(status = 201)]
    Created(Json<PrepGroupView>),
}

#[derive(ApiResponse)]
pub enum MemberCreated {
    #[oai(status = 201)]
    Created(Json<PrepMemberView>),
}

#[derive(Object)]
pub struct PrepElectionInput {
    pub voting: VotingInput,
}

fn not_found() -> ApiError {
    ApiError::not_found(
        "prep.not_found",
        "筹备组不存在",
        "Preparatory group not found",
    )
}

fn wrong_state(zh: &str, en: &str) -> ApiError {
    ApiError::conflict("prep.wrong_state", zh.to_string(), en.to_string())
}

async fn load(conn: &TenantConn, id: Uuid) -> ApiResult<GroupRow> {
    store::group(conn, id).await?.ok_or_else(not_found)
}

/// The group, locked, for staff of its jurisdiction (others get 404).
async fn staff_group(conn: &TenantConn, principal: &Principal, id: Uuid) -> ApiResult<GroupRow> {
    let scope = Jurisdiction::of(principal)?;
    store::lock_group(conn, id).await?;
    let g = load(conn, id).await?;
    scope
        .check_estate(conn, g.estate_id)
        .await
        .map_err(|_| not_found())?;
    Ok(g)
}

async fn view(conn: &TenantConn, id: Uuid, staff: bool) -> ApiResult<PrepGroupView> {
    let r = store::group_view(conn, id).await?;
    let (owners, _) = prep_owner_members(conn, id).await?;
    let members = store::members_of(conn, id, staff)
        .await?
        .into_iter()
        .map(|m| PrepMemberView::in_group(m, staff, &owners))
        .collect::<Vec<_>>();
    let mut members = members;
    if staff {
        for m in members.iter_mut().filter(|m| m.kind == MemberKind::Owner) {
            m.units = Some(
                super::holdings::held_units(conn, m.owner_id.unwrap_or_default(), r.estate_id)
                    .await?,
            );
        }
    }
    let seats = r.seats;
    let public = r.leader_phone_public;
    let work_days = r.work_days;
    let formed_at = r.formed_at;
    let deadline = formed_at.map(|f| f + Duration::days(work_days as i64));
    Ok(PrepGroupView {
        id,
        estate_id: r.estate_id,
        name: r.name,
        seats,
        owner_seats: seats - store::representatives(conn, id).await?,
        leader_phone: (staff || public).then_some(r.leader_phone),
        leader_phone_public: public,
        signup_opens_at: r.signup_opens_at,
        signup_closes_at: r.signup_closes_at,
        work_days,
        status: crate::stored::parse(&r.status, GroupStatus::Forming),
        formed_at,
        deadline,
        days_left: deadline.map(|d| (d - Utc::now()).num_days().max(0)),
        members,
        election_id: r.election_id,
    })
}

impl PrepMemberView {
    /// A member in the group's view: phones masked for owners, the signature for staff only;
    /// an owner sits on the group when among `owners`, anyone else once approved.
    fn in_group(m: MemberRow, staff: bool, owners: &[Uuid]) -> Self {
        let member = match m.owner_id {
            Some(owner) => owners.contains(&owner),
            None => m.status == "approved",
        };
        PrepMemberView {
            id: m.id,
            kind: crate::stored::parse(&m.kind, MemberKind::Owner),
            owner_id: m.owner_id,
            name: m.name,
            phone: if staff {
                m.phone
            } else {
                phone::mask(&m.phone)
            },
            intro: m.intro,
            status: crate::stored::parse(&m.status, super::ReviewStatus::Pending),
            reason: m.reason,
            member,
            signature_attachment_id: if staff { m.signature_id } else { None },
            units: None,
        }
    }
}

/// A member just written: a representative sits on the group once approved; an owner's seat
/// depends on the sign-ups or the vote, so not yet.
impl From<MemberRow> for PrepMemberView {
    fn from(r: MemberRow) -> Self {
        let member = r.status == "approved" && r.owner_id.is_none();
        PrepMemberView {
            id: r.id,
            kind: crate::stored::parse(&r.kind, MemberKind::Owner),
            owner_id: r.owner_id,
            name: r.name,
            phone: r.phone,
            intro: r.intro,
            status: crate::stored::parse(&r.status, super::ReviewStatus::Pending),
            reason: r.reason,
            member,
            signature_attachment_id: None,
            units: None,
        }
    }
}

#[derive(Default)]
pub struct PrepGroupsApi;

#[OpenApi(tag = "ApiTags::Elections")]
impl PrepGroupsApi {
    /// 新建筹备组 / Create an estate's preparatory group (refused until the estate has imported
    /// housing and verified owners).
    #[oai(
        path = "/api/estates/:id/prep-groups",
        method = "post",
        operation_id = "prep_group_create"
    )]
    async fn create(
        &self,
        state: Data<&AppState>,
        tenant: Data<&Tenant>,
        principal: Data<&Principal>,
        id: Path<Uuid>,
        body: Json<PrepGroupInput>,
    ) -> ApiResult<PrepCreated> {
        let (conn, _) =
            Jurisdiction::begin_for_estate(&state.pool, &tenant, &principal, id.0).await?;
        let e = store::estate_readiness(&conn, id.0).await?;
        if e.units == 0 {
            return Err(ApiError::conflict(
                "prep.no_housing",
                "该小区尚未导入房屋信息，请先导入房屋后再成立筹备组",
                "Import the estate's housing roll first",
            ));
        }
        if e.holders == 0 {
            return Err(ApiError::conflict(
                "prep.no_verified_owners",
                "该小区尚无认证业主，请待业主完成房屋认证后再成立筹备组",
                "No owner of the estate has verified a unit yet",
            ));
        }
        super::lifecycle::may_form_prep_group(&conn, id.0).await?;
        let p = locality::presets(&e.locality_rule, e.total_households, e.total_area_centi);
        let mut issues = Vec::new();
        required(&mut issues, "name", &body.name);
        required(&mut issues, "leader_phone", &body.leader_phone);
        if body.seats % 2 == 0 || body.seats < p.prep_min_members {
            issues.push(FieldIssue::new(
                "seats",
                "prep.seats",
                format!("筹备组人数须为单数，且不少于 {} 人", p.prep_min_members),
                format!("seats must be odd and at least {}", p.prep_min_members),
            ));
        }
        if body.signup_closes_at <= body.signup_opens_at {
            issues.push(FieldIssue::new(
                "signup_closes_at",
                "prep.signup_window",
                "报名截止时间须晚于开始时间",
                "sign-up must close after it opens",
            ));
        }
        let work_days = body.work_days.unwrap_or(p.prep_work_days);
        if work_days <= 0 {
            issues.push(FieldIssue::new(
                "work_days",
                "prep.work_days",
                "工作期限须为正数天",
                "work_days must be positive",
            ));
        }
        if !issues.is_empty() {
            return Err(ApiError::validation(issues));
        }
        let (_, staff) = principal.actor();
        let gid = Uuid::new_v4();
        let group = store::NewGroup {
            id: gid,
            estate_id: id.0,
            name: body.name.trim(),
            seats: body.seats,
            leader_phone: body.leader_phone.trim(),
            leader_phone_public: body.leader_phone_public,
            signup_opens_at: body.signup_opens_at,
            signup_closes_at: body.signup_closes_at,
            work_days,
            created_by: staff,
        };
        store::insert_group(&conn, &group).await?;
        audit::record(&conn, &principal, "prep_group", &gid.to_string()).await?;
        let v = view(&conn, gid, true).await?;
        conn.commit().await?;
        Ok(PrepCreated::Created(Json(v)))
    }

    /// 筹备组列表 / An estate's preparatory groups (staff of its jurisdiction, its owners).
    #[oai(
        path = "/api/estates/:id/prep-groups",
        method = "get",
        operation_id = "prep_group_list"
    )]
    async fn list(
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
    ) -> ApiResult<Json<PrepGroupPage>> {
        let paging = Paging::new(page.0, page_size.0)?;
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        rounds::check_visible(&conn, &principal, id.0)
            .await
            .map_err(|_| crate::authz::jurisdiction::estate_not_found())?;
        let ids = store::group_ids_of_estate(&conn, id.0).await?;
        let staff = matches!(*principal, Principal::Staff { .. });
        let mut groups = Vec::new();
        for g in ids {
            groups.push(view(&conn, g, staff).await?);
        }
        conn.commit().await?;
        Ok(Json(PrepGroupPage::cut(groups, paging)))
    }

    /// 筹备组详情 / The group, its members, its deadline and days left.
    #[oai(
        path = "/api/prep-groups/:id",
        method = "get",
        operation_id = "prep_group_get"
    )]
    async fn get(
        &self,
        state: Data<&AppState>,
        tenant: Data<&Tenant>,
        principal: Data<&Principal>,
        id: Path<Uuid>,
    ) -> ApiResult<Json<PrepGroupView>> {
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        let g = load(&conn, id.0).await?;
        rounds::check_visible(&conn, &principal, g.estate_id)
            .await
            .map_err(|_| not_found())?;
        let v = view(&conn, id.0, matches!(*principal, Principal::Staff { .. })).await?;
        conn.commit().await?;
        Ok(Json(v))
    }

    /// 报名筹备组 / Sign up as an owner representative (form and signature).
    #[oai(
        path = "/api/prep-groups/:id/signups",
        method = "post",
        operation_id = "prep_signup_create"
    )]
    async fn sign_up(
        &self,
        state: Data<&AppState>,
        tenant: Data<&Tenant>,
        principal: Data<&Principal>,
        id: Path<Uuid>,
        body: Json<super::api::SignupInput>,
    ) -> ApiResult<MemberCreated> {
        let owner = owner_of(&principal)?;
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        let g = load(&conn, id.0).await?;
        if !holds_unit(&conn, owner, g.estate_id).await? {
            return Err(not_found());
        }
        let now = Utc::now();
        if g.status != "forming" || now < g.signup_opens_at || now >= g.signup_closes_at {
            return Err(super::api::signup_closed(
                g.signup_opens_at,
                g.signup_closes_at,
            ));
        }
        crate::voting::casting::check_signature(&conn, owner, Some(body.signature_attachment_id))
            .await?;
        crate::attachments::bind_to_estate(&conn, g.estate_id, &[body.signature_attachment_id])
            .await?;
        let mid = Uuid::new_v4();
        let row = store::insert_owner_signup(
            &conn,
            mid,
            id.0,
            owner,
            body.intro.trim(),
            body.signature_attachment_id,
        )
        .await
        .map_err(|e| {
            if e.code == "conflict.duplicate" {
                ApiError::conflict(
                    "prep.duplicate",
                    "您已报名该筹备组",
                    "You have already signed up",
                )
            } else {
                e
            }
        })?;
        audit::record(&conn, &principal, "prep_member", &mid.to_string()).await?;
        conn.commit().await?;
        Ok(MemberCreated::Created(Json(row.into())))
    }

    /// 审核报名 / Approve or reject an owner's sign-up (a reason is required to reject).
    #[oai(
        path = "/api/prep-members/:id/review",
        method = "post",
        operation_id = "prep_member_review"
    )]
    async fn review(
        &self,
        state: Data<&AppState>,
        tenant: Data<&Tenant>,
        principal: Data<&Principal>,
        id: Path<Uuid>,
        body: Json<ReviewInput>,
    ) -> ApiResult<Json<PrepMemberView>> {
        let (status, reason) = body.decision()?;
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        let group = store::signup_group(&conn, id.0).await?.ok_or_else(|| {
            ApiError::not_found(
                "prep.member_not_found",
                "报名记录不存在",
                "Sign-up not found",
            )
        })?;
        let g = staff_group(&conn, &principal, group).await?;
        if g.status != "forming" || store::group_has_election(&conn, group).await? {
            return Err(wrong_state(
                "筹备组已进入选举或已成立，报名名单不能再改",
                "The sign-up list is fixed",
            ));
        }
        let (_, staff) = principal.actor();
        let row = store::review_member(&conn, id.0, status, reason, staff).await?;
        audit::record(&conn, &principal, "prep_member", &id.0.to_string()).await?;
        conn.commit().await?;
        Ok(Json(row.into()))
    }

    /// 指定代表 / Appoint the street office's, residents' committee's or developer's representative.
    #[oai(
        path = "/api/prep-groups/:id/representatives",
        method = "post",
        operation_id = "prep_representative_add"
    )]
    async fn appoint(
        &self,
        state: Data<&AppState>,
        tenant: Data<&Tenant>,
        principal: Data<&Principal>,
        id: Path<Uuid>,
        body: Json<RepresentativeInput>,
    ) -> ApiResult<MemberCreated> {
        let mut issues = Vec::new();
        required(&mut issues, "name", &body.name);
        required(&mut issues, "phone", &body.phone);
        if !issues.is_empty() {
            return Err(ApiError::validation(issues));
        }
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        let g = staff_group(&conn, &principal, id.0).await?;
        if g.status != "forming" {
            return Err(wrong_state("筹备组已成立", "The group is already formed"));
        }
        // Owners keep at least half the seats.
        if store::representatives(&conn, id.0).await? + 1 > g.seats / 2 {
            return Err(ApiError::conflict(
                "prep.too_many_representatives",
                format!("筹备组共 {} 人，业主代表不少于一半，其他代表最多 {} 人", g.seats, g.seats / 2),
                format!("The group has {} seats; owners keep at least half, so at most {} other representatives", g.seats, g.seats / 2),
            ));
        }
        let kind = match body.kind {
            RepresentativeKind::Street => "street",
            RepresentativeKind::Rc => "rc",
            RepresentativeKind::Developer => "developer",
        };
        let (_, staff) = principal.actor();
        let mid = Uuid::new_v4();
        let row = store::insert_representative(
            &conn,
            mid,
            id.0,
            kind,
            body.name.trim(),
            body.phone.trim(),
            staff,
        )
        .await?;
        audit::record(&conn, &principal, "prep_member", &mid.to_string()).await?;
        conn.commit().await?;
        Ok(MemberCreated::Created(Json(row.into())))
    }

    /// 筹备组选举 / Where approved owner sign-ups exceed the owner seats, owners elect them.
    #[oai(
        path = "/api/prep-groups/:id/election",
        method = "post",
        operation_id = "prep_election_create"
    )]
    async fn election(
        &self,
        state: Data<&AppState>,
        tenant: Data<&Tenant>,
        principal: Data<&Principal>,
        id: Path<Uuid>,
        body: Json<PrepElectionInput>,
    ) -> ApiResult<ElectionCreated> {
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        let g = staff_group(&conn, &principal, id.0).await?;
        if store::group_has_election(&conn, id.0).await? {
            return Err(wrong_state(
                "已发起筹备组选举",
                "The group's election already exists",
            ));
        }
        let owner_seats = g.seats - store::representatives(&conn, id.0).await?;
        let signups = store::approved_signups(&conn, id.0).await?;
        if owner_seats <= 0 || signups.len() as i32 <= owner_seats {
            return Err(wrong_state(
                "报名人数未超过业主代表名额，无需选举",
                "Sign-ups do not exceed the owner seats; no vote is needed",
            ));
        }
        if Utc::now() < g.signup_closes_at {
            return Err(wrong_state(
                "报名尚未结束，请在报名截止后再发起选举",
                "Sign-up has not ended yet",
            ));
        }
        let mut issues = Vec::new();
        if body.voting.opens_at < g.signup_closes_at {
            issues.push(FieldIssue::new(
                "voting.opens_at",
                "election.signup_window",
                "投票须在报名结束后开始",
                "voting must open after sign-up closes",
            ));
        }
        let rules = rounds::choose_rules(&body.voting, &mut issues);
        let Some(rules) = rules.filter(|_| issues.is_empty()) else {
            return Err(ApiError::validation(issues));
        };
        let name = store::group_name(&conn, id.0).await?;
        let new = NewRound {
            estate_id: g.estate_id,
            term_id: None,
            prep_group_id: Some(id.0),
            round: 1,
            title: format!("{name}业主代表选举 第1轮"),
            seats: owner_seats,
            signup_opens_at: g.signup_opens_at,
            signup_closes_at: g.signup_closes_at,
            verification: VerificationMode::Signature,
            voting: &body.voting,
            rules,
        };
        let eid = rounds::create(&conn, &principal, new).await?;
        rounds::stand(&conn, eid, principal.actor().1, &signups).await?;
        audit::record(&conn, &principal, "election", &eid.to_string()).await?;
        let v = super::api::election_view(&conn, eid, &principal).await?;
        conn.commit().await?;
        Ok(ElectionCreated::Created(Json(v)))
    }

    /// 确认成立 / Confirm the group once its size is odd and owners are at least half; its work
    /// deadline starts now.
    #[oai(
        path = "/api/prep-groups/:id/confirm",
        method = "post",
        operation_id = "prep_group_confirm"
    )]
    async fn confirm(
        &self,
        state: Data<&AppState>,
        tenant: Data<&Tenant>,
        principal: Data<&Principal>,
        id: Path<Uuid>,
    ) -> ApiResult<Json<PrepGroupView>> {
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        let g = staff_group(&conn, &principal, id.0).await?;
        if g.status != "forming" {
            return Err(wrong_state("筹备组已成立", "The group is already formed"));
        }
        let (owners, voted) = prep_owner_members(&conn, id.0).await?;
        let reps = store::representatives(&conn, id.0).await?;
        let owner_seats = g.seats - reps;
        if !voted && owners.len() as i32 > owner_seats {
            return Err(wrong_state(
                "业主报名人数超过业主代表名额，请先发起筹备组选举",
                "More owners than owner seats: hold the group's election first",
            ));
        }
        let total = reps + owners.len() as i32;
        let e = super::store::locality_figures(&conn, g.estate_id).await?;
        let p = locality::presets(&e.locality_rule, e.total_households, e.total_area_centi);
        let leaders = store::leaders(&conn, id.0).await?;
        if leaders == 0 {
            return Err(ApiError::conflict(
                "prep.no_leader",
                "筹备组组长由街道办事处或居委会代表担任，请先指定街道或居委会代表",
                "Appoint the street office's or residents' committee's representative (the leader) first",
            ));
        }
        if total != g.seats
            || total % 2 == 0
            || (owners.len() as i32) * 2 < total
            || total < p.prep_min_members
        {
            return Err(ApiError::conflict(
                "prep.composition",
                format!(
                    "筹备组现有 {total} 人（业主代表 {} 人），应为 {} 人：人数须为单数、不少于 {} 人，且业主代表不少于一半",
                    owners.len(),
                    g.seats,
                    p.prep_min_members
                ),
                format!("{total} members ({} owners): the size must be odd, at least {}, with owners at least half", owners.len(), p.prep_min_members),
            ));
        }
        store::mark_formed(&conn, id.0).await?;
        audit::record(&conn, &principal, "prep_group", &id.0.to_string()).await?;
        let v = view(&conn, id.0, true).await?;
        conn.commit().await?;
        Ok(Json(v))
    }
}
