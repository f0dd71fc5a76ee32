//! Text columns whose CHECK constraint lists a closed set of values, read as the API's enum:
//! the spec then names every value a client must handle.

use poem_openapi::types::{ParseFromParameter, ToJSON};

/// The stored value as `E` (spelled as the enum serializes). The constraint keeps the two in
/// step; should they ever drift apart, the drift is logged and `fallback` shown.
pub fn parse<E: ParseFromParameter>(stored: &str, fallback: E) -> E {
    E::parse_from_parameter(stored).unwrap_or_else(|_| {
        tracing::error!(value = stored, "stored value outside its API enum");
        fallback
    })
}

/// `value` as stored: the text it serializes to.
pub fn text<E: ToJSON>(value: &E) -> String {
    match value.to_json() {
        Some(serde_json::Value::String(text)) => text,
        other => unreachable!("an API enum serializes to text, not {other:?}"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn stored_text_reads_as_its_enum() {
        use crate::attachments::Purpose;
        assert_eq!(
            super::parse("signature", Purpose::Document),
            Purpose::Signature
        );
        assert_eq!(
            super::parse("nonsense", Purpose::Document),
            Purpose::Document
        );
        assert_eq!(super::text(&Purpose::Signature), "signature");
    }
}
