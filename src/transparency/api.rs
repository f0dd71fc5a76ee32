//! The log over HTTP, for anyone (no login): tree heads, inclusion and consistency proofs.

use poem::web::Data;
use poem_openapi::{param::Query, payload::Json, Object, OpenApi};
use uuid::Uuid;

use super::{
    proof::{LeafKind, TreeHead},
    store,
};
use crate::{
    error::{ApiError, ApiResult},
    state::AppState,
    tags::ApiTags,
};

/// A checkpoint's place in the log and the audit path to the head of `tree_size` leaves.
#[derive(Object)]
pub struct InclusionView {
    pub leaf_index: i64,
    pub tree_size: i64,
    /// The leaf as logged: `zmg-log-leaf-v1` (a checkpoint) or `zmg-log-result-v1` (a declared
    /// result), tenant, matter, version, entries, root, key id and signature, one per line. Its hash is SHA-256 of a zero byte and these
    /// bytes.
    pub leaf: String,
    /// Sibling hashes from the leaf up (RFC 9162 §2.1.3), hex.
    pub proof: Vec<String>,
}

/// That the log of `first` leaves is a prefix of the log of `second` (RFC 9162 §2.1.4).
#[derive(Object)]
pub struct ConsistencyView {
    pub first: i64,
    pub second: i64,
    pub proof: Vec<String>,
}

fn no_head() -> ApiError {
    ApiError::not_found(
        "log.no_head",
        "透明日志尚无该规模的树头",
        "The log has no tree head of that size",
    )
}

#[derive(Default)]
pub struct LogApi;

#[OpenApi(tag = "ApiTags::Platform")]
impl LogApi {
    /// 透明日志树头 / The latest signed tree head of the transparency log, or the one of `size`.
    #[oai(
        path = "/api/platform/log/head",
        method = "get",
        operation_id = "log_head_get"
    )]
    async fn head(
        &self,
        state: Data<&AppState>,
        size: Query<Option<i64>>,
    ) -> ApiResult<Json<TreeHead>> {
        let tx = crate::db::Conn::begin(&state.pool).await?;
        let head = store::head(&tx, size.0).await?.ok_or_else(no_head)?;
        tx.commit().await?;
        Ok(Json(head))
    }

    /// 检查点收录证明 / Proof that a ledger checkpoint (street office, matter, entries covered) is in
    /// the log of `tree_size` leaves (default: the latest head).
    #[oai(
        path = "/api/platform/log/inclusion",
        method = "get",
        operation_id = "log_inclusion_get"
    )]
    async fn inclusion(
        &self,
        state: Data<&AppState>,
        #[oai(validator(max_length = 31))] tenant: Query<String>,
        matter_id: Query<Uuid>,
        entries: Query<i64>,
        tree_size: Query<Option<i64>>,
        /// `checkpoint` (default) or the `result` declared at the close.
        kind: Query<Option<LeafKind>>,
    ) -> ApiResult<Json<InclusionView>> {
        let tx = crate::db::Conn::begin(&state.pool).await?;
        let head = store::head(&tx, tree_size.0).await?.ok_or_else(no_head)?;
        let found = store::inclusion(
            &tx,
            &tenant.0,
            matter_id.0,
            kind.0.unwrap_or_default(),
            entries.0,
            head.size,
        )
        .await?;
        tx.commit().await?;
        let found = found.ok_or_else(|| {
            ApiError::not_found(
                "log.not_included",
                "该检查点尚未收录于此树头（收录在下一次排序之后）",
                "That checkpoint is not in the log at that size yet",
            )
        })?;
        Ok(Json(InclusionView {
            leaf_index: found.index,
            tree_size: head.size,
            leaf: found.leaf,
            proof: found.proof,
        }))
    }

    /// 一致性证明 / Proof that the log at tree head `second` extends the log at `first`.
    #[oai(
        path = "/api/platform/log/consistency",
        method = "get",
        operation_id = "log_consistency_get"
    )]
    async fn consistency(
        &self,
        state: Data<&AppState>,
        first: Query<i64>,
        second: Query<i64>,
    ) -> ApiResult<Json<ConsistencyView>> {
        if first.0 < 0 || first.0 > second.0 {
            return Err(ApiError::field(
                "first",
                "log.bad_range",
                "first 不能大于 second，也不能为负",
                "first must be between 0 and second",
            ));
        }
        let tx = crate::db::Conn::begin(&state.pool).await?;
        let heads = (
            store::head(&tx, Some(first.0)).await?,
            store::head(&tx, Some(second.0)).await?,
        );
        if (first.0 > 0 && heads.0.is_none()) || heads.1.is_none() {
            return Err(no_head());
        }
        let proof = store::consistency(&tx, first.0, second.0).await?;
        tx.commit().await?;
        Ok(Json(ConsistencyView {
            first: first.0,
            second: second.0,
            proof,
        }))
    }
}
