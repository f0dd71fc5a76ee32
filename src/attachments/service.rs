//! The rule of who may read an attachment. Handlers call it inside their `TenantConn`
//! transaction and record the audit entry of a read themselves.

use super::{store::AttachmentRow, Purpose};
use crate::{
    auth::principal::Principal, authz::jurisdiction::Jurisdiction, error::ApiResult,
    tenancy::conn::TenantConn, voting,
};

/// Whether `principal` may read the attachment: its uploader; once something uses it (a
/// matter, a ballot, a sign-up, an application: it is then bound to that estate), staff of the
/// estate's jurisdiction; owners also the documents of the matters they may see.
pub async fn may_read(
    conn: &TenantConn,
    principal: &Principal,
    attachment: &AttachmentRow,
) -> ApiResult<bool> {
    Ok(match (principal, attachment.estate_id) {
        (Principal::Staff { rc_id, .. }, Some(estate)) => Jurisdiction { rc_id: *rc_id }
            .check_estate(conn, estate)
            .await
            .is_ok(),
        // A file nothing uses yet (a proof, a scan or a signature about to be used) stays with
        // its uploader: it is bound to an estate when used (`attachments::bind_to_estate`).
        (Principal::Staff { id: me, .. }, None) => {
            attachment.uploader_kind == "staff" && attachment.uploader_id == *me
        }
        // Owners read their own uploads, and the documents of every matter (or election round)
        // they may see: what they vote on.
        (Principal::Owner { id }, _) => {
            (attachment.uploader_kind == "owner" && attachment.uploader_id == *id)
                || (Purpose::from_stored(&attachment.purpose) == Purpose::Document
                    && voting::service::document_visible_to_owner(conn, *id, attachment.id).await?)
        }
        _ => false,
    })
}
