//! Attachments: files uploaded as proofs, signatures or documents. The content type is detected
//! from the bytes (never trusted from the client) and must suit the purpose.

pub mod api;
pub mod service;
pub mod store;
pub mod upload;

use poem_openapi::Enum;

/// Other domains bind the files their matters, ballots and sign-ups use by this path.
pub use store::bind_to_estate;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum Purpose {
    /// 证明材料（身份证、房产证、结婚证等）：图片
    Proof,
    /// 手写签名：图片
    Signature,
    /// 文件（合同、公告附件等）：PDF、Office 文档或图片
    Document,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Proof => "proof",
            Purpose::Signature => "signature",
            Purpose::Document => "document",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "proof" => Some(Purpose::Proof),
            "signature" => Some(Purpose::Signature),
            "document" => Some(Purpose::Document),
            _ => None,
        }
    }

    /// The purpose of a stored attachment (the table's CHECK allows only the three; anything
    /// else would read as a document).
    pub fn from_stored(s: &str) -> Self {
        Self::parse(s).unwrap_or(Purpose::Document)
    }

    pub fn accepts(self, mime: &str) -> bool {
        match self {
            Purpose::Proof | Purpose::Signature => IMAGES.contains(&mime),
            Purpose::Document => IMAGES.contains(&mime) || DOCUMENTS.contains(&mime),
        }
    }
}

/// Image types an attachment of any purpose may have.
pub const IMAGES: &[&str] = &[
    "image/jpeg",
    "image/png",
    "image/webp",
    "image/gif",
    "image/bmp",
];

/// Further types a document may have.
pub const DOCUMENTS: &[&str] = &[
    "application/pdf",
    "application/msword",
    "application/vnd.ms-excel",
    "application/vnd.ms-powerpoint",
    "application/x-ole-storage",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
];

/// The type the bytes say they are, or `None` when unrecognisable.
pub fn detect(bytes: &[u8]) -> Option<&'static str> {
    infer::get(bytes).map(|t| t.mime_type())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNG: &[u8] =
        b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89";
    const PDF: &[u8] = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n";

    #[test]
    fn type_comes_from_bytes_and_fits_the_purpose() {
        assert_eq!(detect(PNG), Some("image/png"));
        assert_eq!(detect(PDF), Some("application/pdf"));
        assert_eq!(detect(b"just text"), None);
        assert!(Purpose::Proof.accepts("image/png"));
        assert!(!Purpose::Proof.accepts("application/pdf"));
        assert!(Purpose::Document.accepts("application/pdf"));
        assert!(!Purpose::Document.accepts("application/x-executable"));
    }
}
