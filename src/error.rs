//! One error type for the whole API: HTTP status + stable machine code + a message in Chinese
//! (English when the request asks for it with `Accept-Language: en`).

use std::borrow::Cow;

use poem::{http::StatusCode, IntoResponse, Response};
use poem_openapi::{
    registry::{MetaMediaType, MetaResponse, MetaResponses, Registry},
    ApiResponse, Object,
};

use crate::context;

type Text = Cow<'static, str>;

/// A problem with one input field; 422 responses list every one of them.
#[derive(Debug, Clone)]
pub struct FieldIssue {
    pub field: String,
    pub code: &'static str,
    zh: Text,
    en: Text,
}

impl FieldIssue {
    pub fn new(
        field: impl Into<String>,
        code: &'static str,
        zh: impl Into<Text>,
        en: impl Into<Text>,
    ) -> Self {
        Self {
            field: field.into(),
            code,
            zh: zh.into(),
            en: en.into(),
        }
    }
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    zh: Text,
    en: Text,
    pub fields: Vec<FieldIssue>,
    /// Seconds after which a rate-limited request may succeed (the `Retry-After` header).
    pub retry_after: Option<i64>,
}

/// Body of every error response: an RFC 9457 problem (`application/problem+json`), extended with
/// the stable `code`, the request id and, for validation failures, every failing field.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ErrorBody {
    /// The kind of problem as a URI, `urn:zhimaguan:problem:<code>` (RFC 9457 §3.1.1).
    #[oai(rename = "type")]
    pub kind: String,
    /// Short summary of the status, the same for every problem with it.
    pub title: String,
    /// The HTTP status, repeated for clients that only keep the body.
    pub status: u16,
    /// What went wrong, for a person (zh-CN by default, English with `Accept-Language: en`).
    pub detail: String,
    /// The path of the request that failed.
    pub instance: String,
    /// Stable machine-readable code, e.g. `tenant.not_found`.
    pub code: String,
    /// The same text as `detail`; kept for clients written before `detail`.
    #[oai(deprecated)]
    pub message: String,
    /// Request id, also sent as the `x-request-id` header; quote it when reporting a problem.
    pub request_id: String,
    /// Every failing field (validation errors only; absent otherwise).
    #[oai(default, skip_serializing_if_is_empty)]
    pub fields: Vec<FieldErrorBody>,
}

#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct FieldErrorBody {
    /// The field as the request named it: a JSON property, a query parameter, or
    /// `rows.<row>.<column>` for a spreadsheet cell.
    pub field: String,
    pub code: String,
    pub message: String,
}

/// The media type of every error body (RFC 9457 §3).
pub const PROBLEM_JSON: &str = "application/problem+json";

/// `title` of each status, Chinese then English; also what the spec says each status means.
pub const STATUS_TITLES: &[(u16, &str, &str)] = &[
    (400, "请求格式错误", "Malformed request"),
    (401, "未登录或登录已失效", "Not authenticated"),
    (403, "无权操作，或街道已停用", "Forbidden"),
    (404, "不存在", "Not found"),
    (405, "不支持该请求方法", "Method not allowed"),
    (409, "与现有数据冲突", "Conflict"),
    (413, "内容过大", "Payload too large"),
    (414, "请求地址过长", "URI too long"),
    (415, "不支持的内容类型", "Unsupported content type"),
    (422, "字段校验失败", "Validation failed"),
    (429, "请求过于频繁", "Too many requests"),
    (500, "服务器内部错误", "Internal server error"),
    (503, "依赖服务暂不可用", "Service unavailable"),
];

fn status_title(status: StatusCode, english: bool) -> String {
    STATUS_TITLES
        .iter()
        .find(|(code, _, _)| *code == status.as_u16())
        .map(|(_, zh, en)| if english { *en } else { *zh }.to_string())
        .unwrap_or_else(|| status.canonical_reason().unwrap_or("").to_string())
}

/// `Retry-After` of a 503.
pub const UNAVAILABLE_RETRY_SECONDS: i64 = 5;

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(
        status: StatusCode,
        code: &'static str,
        zh: impl Into<Text>,
        en: impl Into<Text>,
    ) -> Self {
        Self {
            status,
            code,
            zh: zh.into(),
            en: en.into(),
            fields: Vec::new(),
            retry_after: None,
        }
    }

    pub fn bad_request(code: &'static str, zh: impl Into<Text>, en: impl Into<Text>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, zh, en)
    }
    pub fn unauthorized(code: &'static str, zh: impl Into<Text>, en: impl Into<Text>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, code, zh, en)
    }
    pub fn forbidden(code: &'static str, zh: impl Into<Text>, en: impl Into<Text>) -> Self {
        Self::new(StatusCode::FORBIDDEN, code, zh, en)
    }
    pub fn not_found(code: &'static str, zh: impl Into<Text>, en: impl Into<Text>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, zh, en)
    }
    pub fn conflict(code: &'static str, zh: impl Into<Text>, en: impl Into<Text>) -> Self {
        Self::new(StatusCode::CONFLICT, code, zh, en)
    }
    pub fn too_many(code: &'static str, zh: impl Into<Text>, en: impl Into<Text>) -> Self {
        Self::new(StatusCode::TOO_MANY_REQUESTS, code, zh, en)
    }
    /// Sets `Retry-After` (at least one second).
    pub fn retry_after(mut self, seconds: i64) -> Self {
        self.retry_after = Some(seconds.max(1));
        self
    }
    /// 503, with a `Retry-After` of a few seconds: what is down (the database, the object
    /// store, an SMS gateway) is usually back by then, and clients must not retry at once.
    pub fn unavailable(code: &'static str, zh: impl Into<Text>, en: impl Into<Text>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, code, zh, en)
            .retry_after(UNAVAILABLE_RETRY_SECONDS)
    }

    /// 422 with every failing field.
    pub fn validation(fields: Vec<FieldIssue>) -> Self {
        let mut e = Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "request.validation_failed",
            "提交的内容有误，请按提示修改",
            "Some fields are invalid",
        );
        e.fields = fields;
        e
    }

    /// A single-field validation failure.
    pub fn field(
        field: &str,
        code: &'static str,
        zh: impl Into<Text>,
        en: impl Into<Text>,
    ) -> Self {
        Self::validation(vec![FieldIssue::new(field, code, zh, en)])
    }

    /// Anything unexpected: logged in full, reported to the caller without internals.
    pub fn internal(err: impl std::fmt::Display) -> Self {
        tracing::error!(error = %err, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "服务器内部错误，请稍后重试",
            "Internal server error",
        )
    }

    pub fn message(&self) -> &str {
        if context::english() {
            &self.en
        } else {
            &self.zh
        }
    }

    fn body(&self) -> ErrorBody {
        let en = context::english();
        ErrorBody {
            kind: format!("urn:zhimaguan:problem:{}", self.code),
            title: status_title(self.status, en),
            status: self.status.as_u16(),
            detail: self.message().to_string(),
            instance: context::request_path(),
            code: self.code.to_string(),
            message: self.message().to_string(),
            request_id: context::request_id(),
            fields: self
                .fields
                .iter()
                .map(|f| FieldErrorBody {
                    field: f.field.clone(),
                    code: f.code.to_string(),
                    message: if en {
                        f.en.to_string()
                    } else {
                        f.zh.to_string()
                    },
                })
                .collect(),
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.en)
    }
}

impl std::error::Error for ApiError {}

impl poem::error::ResponseError for ApiError {
    fn status(&self) -> StatusCode {
        self.status
    }
    fn as_response(&self) -> Response {
        let body = serde_json::to_vec(&poem_openapi::types::ToJSON::to_json(&self.body()))
            .unwrap_or_default();
        let mut response = Response::builder()
            .status(self.status)
            .content_type(PROBLEM_JSON);
        if let Some(seconds) = self.retry_after {
            response = response.header("Retry-After", seconds.to_string());
        }
        response.body(body)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        poem::error::ResponseError::as_response(&self)
    }
}

/// Every status an operation may answer with; the spec's finishing step (`openapi::contract`)
/// keeps, for each operation, those it can really return.
impl ApiResponse for ApiError {
    fn meta() -> MetaResponses {
        MetaResponses {
            responses: STATUS_TITLES
                .iter()
                .filter(|(status, _, _)| *status != 405)
                .map(|(status, zh, _)| MetaResponse {
                    description: zh,
                    status: Some(*status),
                    status_range: None,
                    content: vec![MetaMediaType {
                        content_type: PROBLEM_JSON,
                        schema: <ErrorBody as poem_openapi::types::Type>::schema_ref(),
                    }],
                    headers: vec![],
                })
                .collect(),
        }
    }

    fn register(registry: &mut Registry) {
        <ErrorBody as poem_openapi::types::Type>::register(registry);
    }
}

impl From<diesel::result::Error> for ApiError {
    fn from(err: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        let (kind, db) = match &err {
            Error::DatabaseError(kind, db) => (kind, db),
            _ => return ApiError::internal(format!("{err:?}")),
        };
        let sqlstate = match kind {
            DatabaseErrorKind::UniqueViolation => {
                let field = match db.constraint_name() {
                    Some(constraint) => unique_field(db.table_name(), Some(constraint)),
                    None => relayed_unique_field(db.message(), db.details()),
                };
                let mut e = ApiError::conflict(
                    "conflict.duplicate",
                    format!("{field} 已存在，不能重复"),
                    format!("{field} already exists"),
                );
                e.fields.push(FieldIssue::new(
                    field,
                    "duplicate",
                    "已存在",
                    "already exists",
                ));
                return e;
            }
            DatabaseErrorKind::UnableToSendCommand | DatabaseErrorKind::ClosedConnection => {
                tracing::warn!(error = %db.message(), "database connection lost");
                return ApiError::unavailable(
                    "db.unavailable",
                    "数据库暂不可用，请稍后重试",
                    "Database unavailable",
                );
            }
            DatabaseErrorKind::ForeignKeyViolation => "23503",
            DatabaseErrorKind::CheckViolation => "23514",
            DatabaseErrorKind::NotNullViolation => "23502",
            DatabaseErrorKind::SerializationFailure => "40001",
            _ => sqlstate_of_message(db.message()).unwrap_or(""),
        };
        if let Some(e) = rejected_value(sqlstate) {
            return e;
        }
        // Citus relays a worker's error with its names in the message only.
        let relayed = |after: &str| relayed_name(db.message(), after);
        let table = relayed("relation").or_else(|| relayed("table"));
        let (column, constraint) = (relayed("column"), relayed("constraint"));
        if let Some(e) = broken_constraint(
            sqlstate,
            db.message(),
            db.table_name().or(table.as_deref()),
            db.column_name().or(column.as_deref()),
            db.constraint_name().or(constraint.as_deref()),
        ) {
            return e;
        }
        // Never the detail: Postgres puts the failing row (phones, hashes) there.
        ApiError::internal(format!(
            "{kind:?}: {} (constraint {:?})",
            db.message(),
            db.constraint_name()
        ))
    }
}

/// diesel keeps the SQLSTATE only for the constraint kinds above; the other conditions the
/// service answers in its own way are told apart by PostgreSQL's message, which is English
/// unless the server's `lc_messages` says otherwise (docs/operations.md).
fn sqlstate_of_message(message: &str) -> Option<&'static str> {
    const BY_MESSAGE: &[(&str, &str)] = &[
        ("invalid byte sequence for encoding", "22021"),
        ("unsupported Unicode escape sequence", "22P05"),
        ("cannot be converted to text", "22P05"),
        ("value too long for type", "22001"),
        ("index row size", "54000"),
        ("index row requires", "54000"),
        ("integer out of range", "22003"),
        ("bigint out of range", "22003"),
        ("smallint out of range", "22003"),
        ("is out of range for type", "22003"),
        ("numeric field overflow", "22003"),
        ("date/time field value out of range", "22008"),
        ("timestamp out of range", "22008"),
        ("date out of range", "22008"),
        ("invalid input syntax for type timestamp", "22007"),
        ("invalid input syntax for type date", "22007"),
        ("canceling statement due to", "57014"),
        ("deadlock detected", "40P01"),
        ("could not serialize access", "40001"),
    ];
    BY_MESSAGE
        .iter()
        .find(|(text, _)| message.contains(text))
        .map(|(_, state)| *state)
}

/// Values PostgreSQL refuses to store are the client's to fix, not a server fault: a NUL or
/// other character text columns cannot hold, a number or date out of range, text too long to
/// index. A cancelled statement (the statement timeout) is a dependency running slow.
fn rejected_value(sqlstate: &str) -> Option<ApiError> {
    let (code, zh, en) = match sqlstate {
        "22021" | "22P05" => (
            "request.invalid_character",
            "提交的文字中含有不允许的控制字符（如空字符），请删除后重试",
            "The text contains a character that cannot be stored (such as NUL)",
        ),
        "22001" | "54000" => (
            "request.too_long",
            "提交的内容过长，请缩短后重试",
            "A value is too long",
        ),
        "22003" | "22008" | "22007" => (
            "request.out_of_range",
            "提交的数字或日期超出允许范围",
            "A number or date is out of range",
        ),
        "57014" => {
            return Some(ApiError::unavailable(
                "db.timeout",
                "数据库处理超时，请稍后重试",
                "The database took too long; try again",
            ))
        }
        // Two transactions waited on each other, or a serialization conflict: nothing was
        // written, and the same request again will go through.
        "40P01" | "40001" => {
            return Some(ApiError::unavailable(
                "db.retry",
                "系统繁忙，请重试",
                "Busy; try again",
            ))
        }
        _ => return None,
    };
    let mut e = ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, zh, en);
    e.fields.push(FieldIssue::new("request", code, zh, en));
    Some(e)
}

/// A row the schema refuses (a CHECK, a missing value, a reference to nothing) means a rule the
/// handlers should have told the client: still the client's to fix, 422 naming the field, and
/// logged, because a handler missed it.
fn broken_constraint(
    sqlstate: &str,
    message: &str,
    table: Option<&str>,
    column: Option<&str>,
    constraint: Option<&str>,
) -> Option<ApiError> {
    if sqlstate == "23503" && message.starts_with("update or delete") {
        // Removing something still in use: the row exists, the request conflicts with others.
        tracing::warn!(constraint = ?constraint, "a delete the handler let through is still referenced");
        return Some(ApiError::conflict(
            "conflict.in_use",
            "该记录仍被其他数据使用，不能删除或修改",
            "Still in use by other records",
        ));
    }
    let (code, suffix, zh, en) = match sqlstate {
        "23514" => ("value.invalid", "_check", "不符合要求", "is not allowed"),
        "23502" => ("required", "", "不能为空", "is required"),
        "23503" => (
            "reference.not_found",
            "_fkey",
            "引用的对象不存在",
            "refers to something that does not exist",
        ),
        _ => return None,
    };
    let field = match column {
        Some(column) => column.to_string(),
        // A table-level check (`<table>_check`, `<table>_check1`) names no one field.
        None => Some(constraint_field(table, constraint, suffix))
            .filter(|f| !f.starts_with("check"))
            .unwrap_or_else(|| "request".into()),
    };
    tracing::warn!(sqlstate, field = %field, constraint = ?constraint, "a database constraint refused a request the handler let through");
    Some(ApiError::field(
        &field,
        code,
        format!("字段 {field} {zh}"),
        format!("Field {field} {en}"),
    ))
}

/// A name an error relayed by Citus from a worker gives only in its message (`… constraint
/// "staff_username_key_103966"`), without the shard's number: Citus keeps neither the
/// constraint's nor the table's name in the error's own fields.
fn relayed_name(message: &str, after: &str) -> Option<String> {
    let quoted = message
        .split(&format!("{after} \""))
        .nth(1)?
        .split('"')
        .next()?;
    let unsharded = match quoted.rsplit_once('_') {
        Some((name, shard)) if shard.len() >= 6 && shard.bytes().all(|b| b.is_ascii_digit()) => {
            name
        }
        _ => quoted,
    };
    Some(unsharded.to_string())
}

/// The field of a unique violation relayed by Citus: the key's columns as the detail names
/// them (`Key (username)=(…)`; never the values), else the constraint's name.
fn relayed_unique_field(message: &str, details: Option<&str>) -> String {
    let columns = details
        .and_then(|d| d.strip_prefix("Key ("))
        .and_then(|d| d.split_once(")=("))
        .map(|(columns, _)| columns.replace(", ", "_"));
    columns
        .or_else(|| relayed_name(message, "constraint"))
        .unwrap_or_else(|| "value".into())
}

/// Postgres names unique constraints `<table>_<columns>_key`; the columns are the field.
fn unique_field(table: Option<&str>, constraint: Option<&str>) -> String {
    constraint_field(table, constraint, "_key")
}

/// The columns part of a constraint named `<table>_<columns><suffix>`.
fn constraint_field(table: Option<&str>, constraint: Option<&str>, suffix: &str) -> String {
    let constraint = constraint.unwrap_or("value");
    let trimmed = constraint.strip_suffix(suffix).unwrap_or(constraint);
    match table.and_then(|t| trimmed.strip_prefix(&format!("{t}_"))) {
        Some(field) => field.to_string(),
        None => trimmed.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::{broken_constraint, rejected_value, unique_field};

    #[test]
    fn values_postgres_refuses_are_the_clients_to_fix() {
        assert_eq!(
            rejected_value("22021").map(|e| (e.status.as_u16(), e.code)),
            Some((422, "request.invalid_character"))
        );
        assert_eq!(
            rejected_value("57014").map(|e| e.status.as_u16()),
            Some(503)
        );
        assert!(
            rejected_value("23503").is_none(),
            "constraints are named by broken_constraint"
        );
    }

    #[test]
    fn a_broken_constraint_names_its_field() {
        let e = broken_constraint(
            "23514",
            "",
            Some("matters"),
            None,
            Some("matters_title_check"),
        )
        .unwrap();
        assert_eq!(
            (
                e.status.as_u16(),
                e.fields[0].field.as_str(),
                e.fields[0].code
            ),
            (422, "title", "value.invalid")
        );
        let e =
            broken_constraint("23514", "", Some("matters"), None, Some("matters_check1")).unwrap();
        assert_eq!(
            e.fields[0].field, "request",
            "a table-level check names no field"
        );
        let e = broken_constraint("23502", "", Some("units"), Some("room"), None).unwrap();
        assert_eq!(e.fields[0].field, "room");
        let e = broken_constraint(
            "23503",
            "insert or update on table \"ballots\" violates foreign key constraint",
            Some("ballots"),
            None,
            Some("ballots_unit_id_fkey"),
        )
        .unwrap();
        assert_eq!(
            (e.status.as_u16(), e.fields[0].field.as_str()),
            (422, "unit_id")
        );
        let e = broken_constraint(
            "23503",
            "update or delete on table \"matters\" violates foreign key constraint",
            Some("matters"),
            None,
            None,
        )
        .unwrap();
        assert_eq!(
            (e.status.as_u16(), e.code),
            (409, "conflict.in_use"),
            "removing what is in use is a conflict"
        );
        assert!(
            broken_constraint("42P01", "", None, None, None).is_none(),
            "a missing table is the server's fault"
        );
    }

    #[test]
    fn unique_constraint_names_the_field() {
        assert_eq!(
            unique_field(Some("owners"), Some("owners_phone_key")),
            "phone"
        );
        assert_eq!(
            unique_field(Some("staff"), Some("staff_username_key")),
            "username"
        );
        assert_eq!(unique_field(None, Some("weird")), "weird");
    }

    #[test]
    fn errors_relayed_by_citus_name_their_field_from_the_message() {
        use super::{relayed_name, relayed_unique_field};
        let unique =
            r#"duplicate key value violates unique constraint "staff_username_key_103966""#;
        assert_eq!(
            relayed_unique_field(unique, Some("Key (username)=(admin) already exists.")),
            "username"
        );
        assert_eq!(
            relayed_unique_field(
                unique,
                Some("Key (matter_id, owner_id)=(a, b) already exists.")
            ),
            "matter_id_owner_id"
        );
        assert_eq!(relayed_unique_field(unique, None), "staff_username_key");
        let check = r#"new row for relation "units_102040" violates check constraint "units_area_centi_check_102040""#;
        assert_eq!(
            relayed_name(check, "constraint").as_deref(),
            Some("units_area_centi_check")
        );
        assert_eq!(relayed_name(check, "relation").as_deref(), Some("units"));
        let e = super::broken_constraint(
            "23514",
            check,
            relayed_name(check, "relation").as_deref(),
            None,
            relayed_name(check, "constraint").as_deref(),
        )
        .unwrap();
        assert_eq!(e.fields[0].field, "area_centi");
        // A name of its own that ends in digits keeps them.
        assert_eq!(
            relayed_name(
                r#"violates check constraint "matters_check1""#,
                "constraint"
            )
            .as_deref(),
            Some("matters_check1")
        );
        assert_eq!(relayed_name("no names here", "constraint"), None);
    }
}
