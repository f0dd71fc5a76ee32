//! The log's tables: leaves queued by the transaction that signs a checkpoint, placed by the
//! sequencer, and the signed tree heads.

use chrono::{DateTime, SecondsFormat, Utc};
use diesel::{dsl::min, prelude::*, sql_query, sql_types as sql};
use uuid::Uuid;

pub use super::proof::Leaf;
use super::{
    merkle::{self, Hash},
    proof::{head_message, LeafKind, LogInclusion, TreeHead},
};
use crate::{
    db::Conn,
    error::{ApiError, ApiResult},
    schema::platform::{log_heads, log_leaves, log_nodes, tenants},
    voting::signing,
};

/// Queues a signed checkpoint or declared result for the log, in the transaction that made it.
pub async fn queue(db: &Conn, tenant_id: Uuid, matter_id: Uuid, leaf: &Leaf<'_>) -> ApiResult<()> {
    let text = leaf.text();
    let hash = hex::encode(merkle::leaf_hash(text.as_bytes()));
    db.execute(diesel::insert_into(log_leaves::table).values((
        log_leaves::tenant_id.eq(tenant_id),
        log_leaves::matter_id.eq(matter_id),
        log_leaves::kind.eq(leaf.kind.as_str()),
        log_leaves::entries.eq(leaf.entries),
        log_leaves::leaf.eq(&text),
        log_leaves::leaf_hash.eq(&hash),
    )))
    .await?;
    Ok(())
}

/// Runs a proof's computation over the stored subtrees it needs, fetched in one query: a first
/// pass only notes which subtrees it reads.
async fn with_nodes<T>(db: &Conn, compute: impl Fn(&mut merkle::Nodes) -> T) -> ApiResult<T> {
    let mut wanted: Vec<merkle::NodeKey> = Vec::new();
    compute(&mut |key| {
        wanted.push(key);
        [0; 32]
    });
    let (levels, indexes): (Vec<i16>, Vec<i64>) = wanted
        .iter()
        .map(|&(level, index)| (level as i16, index as i64))
        .unzip();
    let rows: Vec<NodeRow> = db
        .load(
            sql_query("SELECT n.level, n.index, n.hash FROM platform.log_nodes n JOIN unnest($1::smallint[], $2::bigint[]) w (level, index) USING (level, index)")
                .bind::<sql::Array<sql::SmallInt>, _>(&levels)
                .bind::<sql::Array<sql::BigInt>, _>(&indexes),
        )
        .await?;
    let mut nodes = std::collections::HashMap::with_capacity(rows.len());
    for r in rows {
        let hash: Hash = r
            .hash
            .try_into()
            .map_err(|_| ApiError::internal("malformed node in the log"))?;
        nodes.insert((r.level as u8, r.index as u64), hash);
    }
    let mut missing = false;
    let result = compute(&mut |key| {
        nodes.get(&key).copied().unwrap_or_else(|| {
            missing = true;
            [0; 32]
        })
    });
    if missing {
        // Only between an upgrade and the sequencer's first turn, which stores them.
        return Err(ApiError::unavailable(
            CATCHING_UP,
            "透明日志正在整理，请稍后重试",
            "The transparency log is catching up; try again shortly",
        )
        .retry_after(5));
    }
    Ok(result)
}

const CATCHING_UP: &str = "log.catching_up";

/// A stored subtree: its level, index at that level and hash.
#[derive(QueryableByName)]
struct NodeRow {
    #[diesel(sql_type = sql::SmallInt)]
    level: i16,
    #[diesel(sql_type = sql::BigInt)]
    index: i64,
    #[diesel(sql_type = sql::Bytea)]
    hash: Vec<u8>,
}

/// How many leaves the stored subtrees cover.
async fn log_size(db: &Conn) -> ApiResult<i64> {
    Ok(db
        .optional(
            log_nodes::table
                .filter(log_nodes::level.eq(0))
                .order(log_nodes::index.desc())
                .limit(1)
                .select(log_nodes::index + 1),
        )
        .await?
        .unwrap_or(0))
}

/// Stores the perfect subtrees completed by the leaves placed since the last turn: the leaves
/// themselves, then each level's new parents (a log written before subtrees were stored gets
/// all of them on its first turn).
async fn extend_nodes(db: &Conn) -> ApiResult<()> {
    let covered = log_size(db).await?;
    let added = db
        .execute(
            sql_query("INSERT INTO platform.log_nodes (level, index, hash) SELECT 0, position, decode(leaf_hash, 'hex') FROM platform.log_leaves WHERE position >= $1")
                .bind::<sql::BigInt, _>(covered),
        )
        .await?;
    if added == 0 {
        return Ok(());
    }
    for level in 0i16..62 {
        // Parents at level + 1 from index covered >> (level + 1) on are new; their children
        // start at twice that.
        let first_child = (covered >> (level + 1)) << 1;
        let parents = db
            .execute(
                sql_query(
                    "INSERT INTO platform.log_nodes (level, index, hash)
                 SELECT $1::smallint + 1, l.index / 2, sha256(decode('01', 'hex') || l.hash || r.hash)
                   FROM platform.log_nodes l JOIN platform.log_nodes r ON r.level = l.level AND r.index = l.index + 1
                  WHERE l.level = $1::smallint AND l.index >= $2 AND l.index % 2 = 0",
                )
                .bind::<sql::SmallInt, _>(level)
                .bind::<sql::BigInt, _>(first_child),
            )
            .await?;
        if parents == 0 {
            break;
        }
    }
    Ok(())
}

/// Places every queued leaf (in queue order, after those already placed), stores the subtrees
/// they complete and signs a head over the whole log. Sequencers of every replica take turns; a
/// turn with nothing new signs nothing. Returns the new head, if any.
pub async fn sequence(db: &Conn) -> ApiResult<Option<TreeHead>> {
    db.execute(sql_query(
        "SELECT pg_advisory_xact_lock(hashtext('zmg-transparency-log'))",
    ))
    .await?;
    let placed = db
        .execute(sql_query(
            "UPDATE platform.log_leaves l SET position = q.position
               FROM (SELECT id, (SELECT coalesce(max(position) + 1, 0) FROM platform.log_leaves) + row_number() OVER (ORDER BY id) - 1 AS position
                       FROM platform.log_leaves WHERE position IS NULL) q
              WHERE l.id = q.id",
        ))
        .await?;
    extend_nodes(db).await?;
    if placed == 0 {
        return Ok(None);
    }
    let size = log_size(db).await?;
    let root = hex::encode(with_nodes(db, |nodes| merkle::root(size as u64, nodes)).await?);
    // Millisecond precision, as signed and as stored.
    let signed_at =
        DateTime::from_timestamp_millis(Utc::now().timestamp_millis()).unwrap_or_else(Utc::now);
    let signed = signing::sign_for_log(&head_message(size, &root, &signed_at))?;
    let public_key = signing::log_public_key()?;
    db.execute(diesel::insert_into(log_heads::table).values((
        log_heads::size.eq(size),
        log_heads::root.eq(&root),
        log_heads::signed_at.eq(signed_at),
        log_heads::key_id.eq(&signed.key_id),
        log_heads::public_key.eq(&public_key),
        log_heads::signature.eq(&signed.signature),
    )))
    .await?;
    Ok(Some(TreeHead {
        size,
        root,
        signed_at: millis(&signed_at),
        key_id: signed.key_id,
        public_key,
        signature: signed.signature,
    }))
}

/// The latest signed head, or the one of exactly `size` leaves: only heads under the log's own
/// key (one added to the database by hand under another key is never served).
pub async fn head(db: &Conn, size: Option<i64>) -> ApiResult<Option<TreeHead>> {
    let row: Option<HeadRow> = db
        .optional(
            log_heads::table
                .filter(
                    size.into_sql::<sql::Nullable<sql::BigInt>>()
                        .is_null()
                        .or(log_heads::size.nullable().eq(size)),
                )
                .filter(log_heads::public_key.eq(signing::log_public_key()?))
                .order(log_heads::size.desc())
                .limit(1)
                .select(HeadRow::as_select()),
        )
        .await?;
    Ok(row.map(|r| TreeHead {
        size: r.size,
        root: r.root,
        signed_at: millis(&r.signed_at),
        key_id: r.key_id,
        public_key: r.public_key,
        signature: r.signature,
    }))
}

/// A signed head as stored.
#[derive(Queryable, Selectable)]
#[diesel(table_name = log_heads, check_for_backend(diesel::pg::Pg))]
struct HeadRow {
    size: i64,
    root: String,
    signed_at: DateTime<Utc>,
    key_id: String,
    public_key: String,
    signature: String,
}

/// When the log's current key signed its first head, if it has.
pub async fn head_since(db: &Conn) -> ApiResult<Option<DateTime<Utc>>> {
    Ok(db
        .first(
            log_heads::table
                .filter(log_heads::public_key.eq(signing::log_public_key()?))
                .select(min(log_heads::signed_at)),
        )
        .await?)
}

fn millis(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A checkpoint as the log holds it (parsed from its leaf).
#[derive(Debug, PartialEq, Eq)]
pub struct Logged {
    pub version: u8,
    pub entries: i64,
    pub root: String,
    pub key_id: String,
    pub signature: String,
}

fn parse_leaf(text: &str) -> Option<Logged> {
    let parts: Vec<&str> = text.split('\n').collect();
    match parts.as_slice() {
        ["zmg-log-leaf-v1", _tenant, _matter, version, entries, root, key_id, signature] => {
            Some(Logged {
                version: version.parse().ok()?,
                entries: entries.parse().ok()?,
                root: root.to_string(),
                key_id: key_id.to_string(),
                signature: signature.to_string(),
            })
        }
        _ => None,
    }
}

/// Every checkpoint of a matter's ledger the log holds (placed or queued).
pub async fn logged_checkpoints(
    db: &Conn,
    tenant_id: Uuid,
    matter_id: Uuid,
) -> ApiResult<Vec<Logged>> {
    let leaves: Vec<String> = db
        .load(
            log_leaves::table
                .filter(log_leaves::tenant_id.eq(tenant_id))
                .filter(log_leaves::matter_id.eq(matter_id))
                .filter(log_leaves::kind.eq("checkpoint"))
                .order(log_leaves::entries)
                .select(log_leaves::leaf),
        )
        .await?;
    leaves
        .iter()
        .map(|leaf| parse_leaf(leaf).ok_or_else(|| ApiError::internal("malformed leaf in the log")))
        .collect()
}

/// The logged checkpoints (by entries covered) the ledger lacks or shows otherwise, and the
/// logged declared result (by its entries) if the ledger declares another or none.
pub fn log_mismatches(
    ledger: &crate::voting::ledger::PublishedLedger,
    logged: &[Logged],
    result: Option<&str>,
) -> Vec<i64> {
    let declared = ledger.declared.as_ref().map(|d| {
        let (tenant, matter_id, version) = (
            ledger.tenant.as_str(),
            ledger.matter_id.as_str(),
            ledger.version,
        );
        let (key_id, signature, entries, root) = (
            d.key_id.as_str(),
            d.signature.as_str(),
            d.result.entries,
            d.result.root.as_str(),
        );
        Leaf {
            kind: LeafKind::Result,
            tenant,
            matter_id,
            version,
            entries,
            root,
            key_id,
            signature,
        }
        .text()
    });
    // Reported by the count the logged result states (its fifth line).
    let result_mismatch = result
        .filter(|logged| declared.as_ref().is_none_or(|text| text != logged))
        .map(|logged| {
            logged
                .split('\n')
                .nth(4)
                .and_then(|entries| entries.parse().ok())
                .unwrap_or(-1)
        });
    logged
        .iter()
        .filter(|l| {
            let shown = ledger.checkpoints.iter().find(|c| c.entries == l.entries);
            !shown.is_some_and(|c| {
                ledger.version == l.version
                    && c.root == l.root
                    && c.key_id.as_deref() == Some(&l.key_id)
                    && c.signature.as_deref() == Some(&l.signature)
            })
        })
        .map(|l| l.entries)
        .chain(result_mismatch)
        .collect()
}

/// A checkpoint's place in the log and its proof of inclusion in the tree of `size` leaves.
pub struct Inclusion {
    pub index: i64,
    pub leaf: String,
    pub proof: Vec<String>,
}

pub async fn inclusion(
    db: &Conn,
    tenant: &str,
    matter_id: Uuid,
    kind: LeafKind,
    entries: i64,
    size: i64,
) -> ApiResult<Option<Inclusion>> {
    let found: Option<PlacedLeaf> = db
        .optional(
            log_leaves::table
                .inner_join(tenants::table)
                .filter(tenants::slug.eq(tenant))
                .filter(log_leaves::matter_id.eq(matter_id))
                .filter(log_leaves::kind.eq(kind.as_str()))
                .filter(log_leaves::entries.eq(entries))
                .filter(log_leaves::position.lt(size))
                .select(PlacedLeaf::as_select()),
        )
        .await?;
    let Some(row) = found else { return Ok(None) };
    let index: i64 = row.position;
    let proof = with_nodes(db, |nodes| {
        merkle::inclusion_proof(index as u64, size as u64, nodes)
    })
    .await?
    .iter()
    .map(hex::encode)
    .collect();
    Ok(Some(Inclusion {
        index,
        leaf: row.leaf,
        proof,
    }))
}

/// A placed leaf's position and text (`position < size` leaves out queued ones).
#[derive(Queryable, Selectable)]
#[diesel(table_name = log_leaves, check_for_backend(diesel::pg::Pg))]
struct PlacedLeaf {
    #[diesel(select_expression = log_leaves::position.assume_not_null())]
    position: i64,
    leaf: String,
}

/// A placed leaf's position, kind and entries covered.
#[derive(QueryableByName)]
struct PlacedKind {
    #[diesel(sql_type = sql::BigInt)]
    position: i64,
    #[diesel(sql_type = sql::Text)]
    kind: String,
    #[diesel(sql_type = sql::BigInt)]
    entries: i64,
}

/// The inclusion, in the latest head, of what the log holds of a matter's ledger: with
/// `Some(position)` the first checkpoint covering that entry; with `None` the declared result,
/// or before the close the last checkpoint. None before the sequencer's turn after it.
pub async fn ledger_inclusion(
    db: &Conn,
    tenant_id: Uuid,
    matter_id: Uuid,
    position: Option<i64>,
) -> ApiResult<Option<LogInclusion>> {
    let Some(head) = head(db, None).await? else {
        return Ok(None);
    };
    let found: Option<PlacedKind> = db
        .optional(
            sql_query(
                "SELECT position, kind, entries FROM platform.log_leaves
              WHERE tenant_id = $1 AND matter_id = $2 AND position < $3 AND ($4::bigint IS NULL OR (kind = 'checkpoint' AND entries >= $4))
              ORDER BY CASE WHEN $4 IS NULL THEN -entries ELSE entries END, kind = 'result' DESC LIMIT 1",
            )
            .bind::<sql::Uuid, _>(tenant_id)
            .bind::<sql::Uuid, _>(matter_id)
            .bind::<sql::BigInt, _>(head.size)
            .bind::<sql::Nullable<sql::BigInt>, _>(position),
        )
        .await?;
    let Some(row) = found else { return Ok(None) };
    let (index, entries): (i64, i64) = (row.position, row.entries);
    let kind = if row.kind == "result" {
        LeafKind::Result
    } else {
        LeafKind::Checkpoint
    };
    let proof = with_nodes(db, |nodes| {
        merkle::inclusion_proof(index as u64, head.size as u64, nodes)
    })
    .await;
    // A ledger or receipt goes out without its proof while the log catches up after an
    // upgrade, rather than not at all.
    let proof = match proof {
        Err(e) if e.code == CATCHING_UP => return Ok(None),
        other => other?,
    };
    Ok(Some(LogInclusion {
        kind,
        entries,
        leaf_index: index,
        proof: proof.iter().map(hex::encode).collect(),
        head,
    }))
}

/// The log index of the matter's checkpoint of `entries` entries, once the log placed it.
pub async fn checkpoint_position(
    db: &Conn,
    tenant_id: Uuid,
    matter_id: Uuid,
    entries: i64,
) -> ApiResult<Option<i64>> {
    Ok(db
        .optional(
            log_leaves::table
                .filter(log_leaves::tenant_id.eq(tenant_id))
                .filter(log_leaves::matter_id.eq(matter_id))
                .filter(log_leaves::kind.eq("checkpoint"))
                .filter(log_leaves::entries.eq(entries))
                .select(log_leaves::position),
        )
        .await?
        .flatten())
}

/// The declared result the log holds of a matter (placed or queued), as its leaf text.
pub async fn logged_result(
    db: &Conn,
    tenant_id: Uuid,
    matter_id: Uuid,
) -> ApiResult<Option<String>> {
    Ok(db
        .optional(
            log_leaves::table
                .filter(log_leaves::tenant_id.eq(tenant_id))
                .filter(log_leaves::matter_id.eq(matter_id))
                .filter(log_leaves::kind.eq("result"))
                .select(log_leaves::leaf),
        )
        .await?)
}

/// The proof that the tree of `first` leaves is a prefix of the tree of `second`.
pub async fn consistency(db: &Conn, first: i64, second: i64) -> ApiResult<Vec<String>> {
    let proof = with_nodes(db, |nodes| {
        merkle::consistency_proof(first as u64, second as u64, nodes)
    })
    .await?;
    Ok(proof.iter().map(hex::encode).collect())
}
