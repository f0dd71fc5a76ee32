//! What every file download says about itself, whatever the domain.

/// `Content-Disposition` for a download: the (often Chinese) name RFC 5987-encoded in
/// `filename*`, and beside it a plain `filename=` that old clients read instead (RFC 6266 §4.3).
pub fn disposition_with_fallback(file_name: &str, ascii_name: &str) -> String {
    format!(
        "attachment; filename=\"{}\"; filename*=UTF-8''{}",
        ascii_only(ascii_name),
        percent_encode(file_name)
    )
}

/// As [`disposition_with_fallback`], the fallback made from the name itself: its ASCII letters,
/// digits and punctuation kept, anything else `_` (`合同 v2.pdf` → `__ v2.pdf`).
pub fn disposition(file_name: &str) -> String {
    disposition_with_fallback(file_name, file_name)
}

/// Printable ASCII without the quote and backslash a quoted string would need escaped.
fn ascii_only(name: &str) -> String {
    name.chars()
        .map(|c| match c {
            ' '..='~' if c != '"' && c != '\\' => c,
            _ => '_',
        })
        .collect()
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_clients_get_an_ascii_name_and_new_ones_the_chinese_one() {
        assert_eq!(
            disposition_with_fallback("选票明细.xlsx", "ballots.xlsx"),
            "attachment; filename=\"ballots.xlsx\"; filename*=UTF-8''%E9%80%89%E7%A5%A8%E6%98%8E%E7%BB%86.xlsx"
        );
        assert_eq!(
            disposition("合同 \"v2\".pdf"),
            "attachment; filename=\"__ _v2_.pdf\"; filename*=UTF-8''%E5%90%88%E5%90%8C%20%22v2%22.pdf"
        );
    }
}
