//! Characters no text from a client may hold, checked in one place (the gate) for every JSON
//! body and query string, so no field can be forgotten. Lengths are declared per field, in the
//! spec (`maxLength`), and checked by the parser.
//!
//! Refused: control characters other than newline and tab (NUL breaks PostgreSQL text, the rest
//! corrupts exports and logs), C1 controls, and the bidirectional overrides that make a name
//! display differently from what it is (U+202A–U+202E, U+2066–U+2069).

use serde_json::Value;

use crate::error::ApiError;

/// The largest JSON body any operation takes (the longest field, a notice's content, is far
/// below it); uploads are multipart and have their own limit.
pub const JSON_BODY_LIMIT: usize = 256 * 1024;

/// Whether a `Content-Type` is one the JSON parser accepts: `application/json` or any
/// `application/…+json`, in any letter case, with any parameters.
pub fn is_json_media_type(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence
        .strip_prefix("application/")
        .is_some_and(|subtype| subtype == "json" || subtype.ends_with("+json"))
}

/// Whether JSON text could hold a refused character, from its bytes alone: a raw DEL, a C1
/// control or a bidi override in UTF-8, or an escape that spells one (`\b`, `\f`, `\r`,
/// `\u…`). Raw C0 controls inside strings are invalid JSON and left to the parser. Never
/// false for a body that holds one; rarely true for one that does not.
pub fn may_hold_refused(json: &[u8]) -> bool {
    json.windows(3).any(|w| {
        matches!(
            w,
            [b'\\', b'b' | b'f' | b'r' | b'u', _]
                | [0xC2, 0x80..=0x9F, _]
                | [0xE2, 0x80, 0xAA..=0xAE]
                | [0xE2, 0x81, 0xA6..=0xA9]
        )
    }) || json.contains(&0x7F)
}

pub fn is_refused(c: char) -> bool {
    matches!(c, '\u{0}'..='\u{8}' | '\u{B}'..='\u{1F}' | '\u{7F}'..='\u{9F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// The field (the innermost property name) of the first string in `value` holding a refused
/// character; `field` names `value` itself.
pub fn refused_field(value: &Value, field: &str) -> Option<String> {
    match value {
        Value::String(s) => s.chars().any(is_refused).then(|| field.to_string()),
        Value::Array(items) => items.iter().find_map(|item| refused_field(item, field)),
        Value::Object(map) => map
            .iter()
            .find_map(|(name, item)| refused_field(item, name)),
        _ => None,
    }
}

pub fn refused(field: &str) -> ApiError {
    ApiError::field(
        field,
        "text.invalid_character",
        format!("字段 {field} 含有不允许的控制字符（只允许换行和制表符），请删除后重试"),
        format!("Field {field} contains a control character (only newline and tab are allowed)"),
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{is_json_media_type, is_refused, may_hold_refused, refused_field};

    #[test]
    fn the_byte_scan_never_misses_a_refused_character_however_it_is_written() {
        for c in (0u32..=0x2100)
            .filter_map(char::from_u32)
            .filter(|c| is_refused(*c))
        {
            let raw =
                serde_json::to_string(&serde_json::json!({"name": format!("张{c}三")})).unwrap();
            let escaped = format!("{{\"name\":\"张\\u{:04X}三\"}}", c as u32);
            for body in [raw, escaped] {
                assert!(
                    refused_field(&serde_json::from_str(&body).unwrap(), "request").is_some(),
                    "{body}"
                );
                assert!(
                    may_hold_refused(body.as_bytes()),
                    "missed U+{:04X} in {body}",
                    c as u32
                );
            }
        }
        let plain = serde_json::json!({"title": "是否更换电梯", "content": "第一行\n第二行\t完", "reason": "C:/路径"}).to_string();
        assert!(
            !may_hold_refused(plain.as_bytes()),
            "ordinary text, newlines and tabs need no second parse: {plain}"
        );
    }

    #[test]
    fn every_media_type_the_json_parser_takes_is_checked() {
        for t in [
            "application/json",
            "Application/JSON; charset=utf-8",
            "application/merge-patch+json",
            "APPLICATION/VND.X+JSON",
        ] {
            assert!(is_json_media_type(t), "{t}");
        }
        for t in [
            "multipart/form-data; boundary=x",
            "text/json",
            "application/jsonp",
            "application/x-www-form-urlencoded",
        ] {
            assert!(!is_json_media_type(t), "{t}");
        }
    }

    #[test]
    fn names_the_innermost_field_holding_a_control_character() {
        assert_eq!(
            refused_field(
                &json!({"title": "ok\n\tfine", "rules": {"note": "bell\u{7}"}}),
                "request"
            )
            .as_deref(),
            Some("note")
        );
        assert_eq!(
            refused_field(&json!({"scope": ["1栋", "2\u{0}栋"]}), "request").as_deref(),
            Some("scope")
        );
        assert_eq!(
            refused_field(&json!({"name": "张\u{202E}三"}), "request").as_deref(),
            Some("name")
        );
        assert_eq!(
            refused_field(&json!({"content": "第一行\n第二行\t完", "n": 3}), "request"),
            None
        );
        assert_eq!(
            refused_field(&json!({"content": "CRLF\r\n"}), "request").as_deref(),
            Some("content"),
            "a carriage return is a control character"
        );
    }
}
