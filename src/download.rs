//! What every file download says about itself, whatever the domain.

/// `Content-Disposition` for a download, with the (often Chinese) name RFC 5987-encoded.
pub fn disposition(file_name: &str) -> String {
    format!("attachment; filename*=UTF-8''{}", percent_encode(file_name))
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
