//! Pagination shared by every list: `page` from 1, `page_size` 1..=100 (default 20), and every
//! list answered the same way (`items`, `total`, `page`, `page_size`: [`page_of!`]); and the
//! "contains" text filter every list search uses.

use crate::error::{ApiError, ApiResult};

pub const DEFAULT_PAGE_SIZE: i64 = 20;
pub const MAX_PAGE_SIZE: i64 = 100;
pub const MAX_PAGE: i64 = 1_000_000;

#[derive(Clone, Copy, Debug)]
pub struct Paging {
    pub page: i64,
    pub page_size: i64,
}

impl Paging {
    pub fn new(page: Option<i64>, page_size: Option<i64>) -> ApiResult<Self> {
        let page = page.unwrap_or(1);
        let page_size = page_size.unwrap_or(DEFAULT_PAGE_SIZE);
        let mut issues = Vec::new();
        if !(1..=MAX_PAGE).contains(&page) {
            issues.push(crate::error::FieldIssue::new(
                "page",
                "page.invalid",
                format!("页码须在 1 到 {MAX_PAGE} 之间"),
                format!("page must be 1..={MAX_PAGE}"),
            ));
        }
        if !(1..=MAX_PAGE_SIZE).contains(&page_size) {
            issues.push(crate::error::FieldIssue::new(
                "page_size",
                "page_size.invalid",
                format!("每页条数须在 1 到 {MAX_PAGE_SIZE} 之间"),
                format!("page_size must be 1..={MAX_PAGE_SIZE}"),
            ));
        }
        if issues.is_empty() {
            Ok(Self { page, page_size })
        } else {
            Err(ApiError::validation(issues))
        }
    }

    pub fn limit(&self) -> i64 {
        self.page_size
    }

    pub fn offset(&self) -> i64 {
        (self.page - 1) * self.page_size
    }
}

/// Declares `$page`, a page of `$item` as every list answers: the page's `items`, the `total`
/// across pages, and the `page` and `page_size` asked for (or defaulted).
#[macro_export]
macro_rules! page_of {
    ($page:ident, $item:ty) => {
        #[derive(poem_openapi::Object)]
        pub struct $page {
            pub items: Vec<$item>,
            /// Items across every page.
            pub total: i64,
            /// This page's number, from 1.
            pub page: i64,
            /// The most items a page holds.
            pub page_size: i64,
        }

        impl $page {
            pub fn new(items: Vec<$item>, total: i64, paging: $crate::paging::Paging) -> Self {
                Self {
                    items,
                    total,
                    page: paging.page,
                    page_size: paging.page_size,
                }
            }

            /// A list read whole, cut to the page asked for: for lists bounded by nature (an
            /// estate's buildings, a person's flats, a matter's buildings yet to vote).
            pub fn cut(all: Vec<$item>, paging: $crate::paging::Paging) -> Self {
                let total = all.len() as i64;
                let items = all
                    .into_iter()
                    .skip(paging.offset() as usize)
                    .take(paging.limit() as usize)
                    .collect();
                Self::new(items, total, paging)
            }
        }
    };
}

page_of!(TextPage, String);

/// A `LIKE` pattern matching text that contains `typed`, literally: `%` and `_` typed by a user
/// are not wildcards (PostgreSQL's `LIKE` escapes with a backslash). Blank means no filter.
pub fn contains(typed: Option<&str>) -> Option<String> {
    let typed = typed.map(str::trim).filter(|t| !t.is_empty())?;
    Some(format!(
        "%{}%",
        typed
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_are_bounded() {
        let p = Paging::new(Some(3), Some(10)).unwrap();
        assert_eq!((p.limit(), p.offset()), (10, 20));
        let e = Paging::new(Some(0), Some(1000)).unwrap_err();
        assert_eq!(e.fields.len(), 2);
        assert!(
            Paging::new(Some(i64::MAX), Some(100)).is_err(),
            "no offset overflow"
        );
    }

    #[test]
    fn a_list_read_whole_is_cut_to_the_page() {
        let all: Vec<String> = (1..=45).map(|i| i.to_string()).collect();
        let third = TextPage::cut(all, Paging::new(Some(3), Some(20)).unwrap());
        assert_eq!((third.total, third.page, third.page_size), (45, 3, 20));
        assert_eq!(third.items, ["41", "42", "43", "44", "45"]);
    }

    #[test]
    fn searches_match_what_was_typed_literally() {
        assert_eq!(
            super::contains(Some(" 50%_off ")).as_deref(),
            Some("%50\\%\\_off%")
        );
        assert_eq!(super::contains(Some("a\\b")).as_deref(), Some("%a\\\\b%"));
        assert_eq!(super::contains(Some("  ")), None);
    }
}
