//! The log's tables: leaves queued by the transaction that signs a checkpoint, placed by the
//! sequencer, and the signed tree heads.

use chrono::{DateTime, SecondsFormat, Utc};
use uuid::Uuid;

pub use super::proof::Leaf;
use super::{
    merkle::{self, Hash},
    proof::{head_message, LeafKind, LogInclusion, TreeHead},
};
use crate::{
    db::Db,
    error::{ApiError, ApiResult},
    voting::signing,
};

/// Queues a signed checkpoint or declared result for the log, in the transaction that made it.
pub async fn queue(
    db: &dyn Db,
    tenant_id: Uuid,
    matter_id: Uuid,
    leaf: &Leaf<'_>,
) -> ApiResult<()> {
    let text = leaf.text();
    let hash = hex::encode(merkle::leaf_hash(text.as_bytes()));
    db.execute(
        "INSERT INTO platform.log_leaves (tenant_id, matter_id, kind, entries, leaf, leaf_hash) VALUES ($1, $2, $3, $4, $5, $6)",
        &[&tenant_id, &matter_id, &leaf.kind.as_str(), &leaf.entries, &text, &hash],
    )
    .await?;
    Ok(())
}

/// Runs a proof's computation over the stored subtrees it needs, fetched in one query: a first
/// pass only notes which subtrees it reads.
async fn with_nodes<T>(db: &dyn Db, compute: impl Fn(&mut merkle::Nodes) -> T) -> ApiResult<T> {
    let mut wanted: Vec<merkle::NodeKey> = Vec::new();
    compute(&mut |key| {
        wanted.push(key);
        [0; 32]
    });
    let (levels, indexes): (Vec<i16>, Vec<i64>) = wanted
        .iter()
        .map(|&(level, index)| (level as i16, index as i64))
        .unzip();
    let rows = db
        .query(
            "SELECT n.level, n.index, n.hash FROM platform.log_nodes n JOIN unnest($1::smallint[], $2::bigint[]) w (level, index) USING (level, index)",
            &[&levels, &indexes],
        )
        .await?;
    let mut nodes = std::collections::HashMap::with_capacity(rows.len());
    for r in &rows {
        let hash: Hash = r
            .get::<_, Vec<u8>>(2)
            .try_into()
            .map_err(|_| ApiError::internal("malformed node in the log"))?;
        nodes.insert((r.get::<_, i16>(0) as u8, r.get::<_, i64>(1) as u64), hash);
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

/// How many leaves the stored subtrees cover.
async fn log_size(db: &dyn Db) -> ApiResult<i64> {
    Ok(db
        .query_opt(
            "SELECT index + 1 FROM platform.log_nodes WHERE level = 0 ORDER BY index DESC LIMIT 1",
            &[],
        )
        .await?
        .map_or(0, |r| r.get(0)))
}

/// Stores the perfect subtrees completed by the leaves placed since the last turn: the leaves
/// themselves, then each level's new parents (a log written before subtrees were stored gets
/// all of them on its first turn).
async fn extend_nodes(db: &dyn Db) -> ApiResult<()> {
    let covered = log_size(db).await?;
    let added = db
        .execute(
            "INSERT INTO platform.log_nodes (level, index, hash) SELECT 0, position, decode(leaf_hash, 'hex') FROM platform.log_leaves WHERE position >= $1",
            &[&covered],
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
                "INSERT INTO platform.log_nodes (level, index, hash)
                 SELECT $1::smallint + 1, l.index / 2, sha256(decode('01', 'hex') || l.hash || r.hash)
                   FROM platform.log_nodes l JOIN platform.log_nodes r ON r.level = l.level AND r.index = l.index + 1
                  WHERE l.level = $1::smallint AND l.index >= $2 AND l.index % 2 = 0",
                &[&level, &first_child],
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
pub async fn sequence(db: &dyn Db) -> ApiResult<Option<TreeHead>> {
    db.execute(
        "SELECT pg_advisory_xact_lock(hashtext('zmg-transparency-log'))",
        &[],
    )
    .await?;
    let placed = db
        .execute(
            "UPDATE platform.log_leaves l SET position = q.position
               FROM (SELECT id, (SELECT coalesce(max(position) + 1, 0) FROM platform.log_leaves) + row_number() OVER (ORDER BY id) - 1 AS position
                       FROM platform.log_leaves WHERE position IS NULL) q
              WHERE l.id = q.id",
            &[],
        )
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
    db.execute(
        "INSERT INTO platform.log_heads (size, root, signed_at, key_id, public_key, signature) VALUES ($1, $2, $3, $4, $5, $6)",
        &[&size, &root, &signed_at, &signed.key_id, &public_key, &signed.signature],
    )
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
pub async fn head(db: &dyn Db, size: Option<i64>) -> ApiResult<Option<TreeHead>> {
    let row = db
        .query_opt(
            "SELECT size, root, signed_at, key_id, public_key, signature FROM platform.log_heads
              WHERE ($1::bigint IS NULL OR size = $1) AND public_key = $2 ORDER BY size DESC LIMIT 1",
            &[&size, &signing::log_public_key()?],
        )
        .await?;
    Ok(row.map(|r| TreeHead {
        size: r.get(0),
        root: r.get(1),
        signed_at: millis(&r.get(2)),
        key_id: r.get(3),
        public_key: r.get(4),
        signature: r.get(5),
    }))
}

/// When the log's current key signed its first head, if it has.
pub async fn head_since(db: &dyn Db) -> ApiResult<Option<DateTime<Utc>>> {
    let row = db
        .query_opt(
            "SELECT min(signed_at) FROM platform.log_heads WHERE public_key = $1",
            &[&signing::log_public_key()?],
        )
        .await?;
    Ok(row.and_then(|r| r.get(0)))
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
    db: &dyn Db,
    tenant_id: Uuid,
    matter_id: Uuid,
) -> ApiResult<Vec<Logged>> {
    let rows = db
        .query(
            "SELECT leaf FROM platform.log_leaves WHERE tenant_id = $1 AND matter_id = $2 AND kind = 'checkpoint' ORDER BY entries",
            &[&tenant_id, &matter_id],
        )
        .await?;
    rows.iter()
        .map(|r| {
            parse_leaf(r.get(0)).ok_or_else(|| ApiError::internal("malformed leaf in the log"))
        })
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
    db: &dyn Db,
    tenant: &str,
    matter_id: Uuid,
    kind: LeafKind,
    entries: i64,
    size: i64,
) -> ApiResult<Option<Inclusion>> {
    let found = db
        .query_opt(
            "SELECT l.position, l.leaf FROM platform.log_leaves l JOIN platform.tenants t ON t.id = l.tenant_id
              WHERE t.slug = $1 AND l.matter_id = $2 AND l.kind = $5 AND l.entries = $3 AND l.position < $4",
            &[&tenant, &matter_id, &entries, &size, &kind.as_str()],
        )
        .await?;
    let Some(row) = found else { return Ok(None) };
    let index: i64 = row.get(0);
    let proof = with_nodes(db, |nodes| {
        merkle::inclusion_proof(index as u64, size as u64, nodes)
    })
    .await?
    .iter()
    .map(hex::encode)
    .collect();
    Ok(Some(Inclusion {
        index,
        leaf: row.get(1),
        proof,
    }))
}

/// The inclusion, in the latest head, of what the log holds of a matter's ledger: with
/// `Some(position)` the first checkpoint covering that entry; with `None` the declared result,
/// or before the close the last checkpoint. None before the sequencer's turn after it.
pub async fn ledger_inclusion(
    db: &dyn Db,
    tenant_id: Uuid,
    matter_id: Uuid,
    position: Option<i64>,
) -> ApiResult<Option<LogInclusion>> {
    let Some(head) = head(db, None).await? else {
        return Ok(None);
    };
    let found = db
        .query_opt(
            "SELECT position, kind, entries FROM platform.log_leaves
              WHERE tenant_id = $1 AND matter_id = $2 AND position < $3 AND ($4::bigint IS NULL OR (kind = 'checkpoint' AND entries >= $4))
              ORDER BY CASE WHEN $4 IS NULL THEN -entries ELSE entries END, kind = 'result' DESC LIMIT 1",
            &[&tenant_id, &matter_id, &head.size, &position],
        )
        .await?;
    let Some(row) = found else { return Ok(None) };
    let (index, entries): (i64, i64) = (row.get(0), row.get(2));
    let kind = if row.get::<_, &str>(1) == "result" {
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

/// The declared result the log holds of a matter (placed or queued), as its leaf text.
pub async fn logged_result(
    db: &dyn Db,
    tenant_id: Uuid,
    matter_id: Uuid,
) -> ApiResult<Option<String>> {
    let row =
        db.query_opt("SELECT leaf FROM platform.log_leaves WHERE tenant_id = $1 AND matter_id = $2 AND kind = 'result'", &[&tenant_id, &matter_id]).await?;
    Ok(row.map(|r| r.get(0)))
}

/// The proof that the tree of `first` leaves is a prefix of the tree of `second`.
pub async fn consistency(db: &dyn Db, first: i64, second: i64) -> ApiResult<Vec<String>> {
    let proof = with_nodes(db, |nodes| {
        merkle::consistency_proof(first as u64, second as u64, nodes)
    })
    .await?;
    Ok(proof.iter().map(hex::encode).collect())
}
