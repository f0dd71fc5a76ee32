//! Mainland China mobile numbers.

use crate::error::FieldIssue;

pub fn is_mainland_mobile(phone: &str) -> bool {
    let b = phone.as_bytes();
    b.len() == 11
        && b[0] == b'1'
        && (b'3'..=b'9').contains(&b[1])
        && b.iter().all(u8::is_ascii_digit)
}

pub fn issue(field: &str, phone: &str) -> Option<FieldIssue> {
    (!is_mainland_mobile(phone)).then(|| {
        FieldIssue::new(
            field,
            "phone.invalid",
            "请输入 11 位中国大陆手机号",
            "Enter an 11-digit mainland China mobile number",
        )
    })
}

/// 13812348888 → 138****8888, as every list shows phones (PIPL).
pub fn mask(phone: &str) -> String {
    if phone.len() == 11 && phone.is_ascii() {
        format!("{}****{}", &phone[..3], &phone[7..])
    } else {
        "****".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mainland_numbers() {
        assert!(is_mainland_mobile("13812348888"));
        assert!(is_mainland_mobile("19912345678"));
        assert!(!is_mainland_mobile("12812348888"));
        assert!(!is_mainland_mobile("1381234888"));
        assert!(!is_mainland_mobile("+8613812348888"));
        assert_eq!(mask("13812348888"), "138****8888");
        assert_eq!(mask("bad"), "****");
    }
}
