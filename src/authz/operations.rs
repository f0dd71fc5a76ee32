//! The operation table: every operation of the OpenAPI spec with its method, path template,
//! operation id and scope. The gate matches requests against it, so authorization is decided
//! from the same contract the clients build against.

use poem::http::Method;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Addresses one street office: tenant resolved from the request.
    Tenant,
    /// Platform staff operations under `/api/platform/`.
    Platform,
}

#[derive(Clone, Debug)]
pub struct Operation {
    pub method: Method,
    pub path: String,
    segments: Vec<Option<String>>,
    pub id: String,
    pub scope: Scope,
    /// The query parameters the operation declares; any other is refused (a filter the
    /// service would silently ignore reads as if it had been applied).
    pub query_params: Vec<String>,
}

impl Operation {
    /// `read` for GET, `write` for everything else.
    pub fn action(&self) -> &'static str {
        if self.method == Method::GET {
            "read"
        } else {
            "write"
        }
    }

    fn matches(&self, method: &Method, path: &str) -> bool {
        if *method != self.method {
            return false;
        }
        let mut parts = path.trim_end_matches('/').split('/');
        let mut segs = self.segments.iter();
        loop {
            match (parts.next(), segs.next()) {
                (None, None) => return true,
                (Some(p), Some(Some(literal))) if p == literal => {}
                (Some(p), Some(None)) if !p.is_empty() => {}
                _ => return false,
            }
        }
    }
}

pub struct OperationTable {
    pub operations: Vec<Operation>,
}

pub const PLATFORM_PREFIX: &str = "/api/platform/";

impl OperationTable {
    /// Reads the operations out of the generated spec (JSON).
    pub fn from_spec(spec_json: &str) -> anyhow::Result<Self> {
        let spec: serde_json::Value = serde_json::from_str(spec_json)?;
        let mut operations = Vec::new();
        for (path, item) in spec["paths"].as_object().into_iter().flatten() {
            for (method, op) in item.as_object().into_iter().flatten() {
                let id = op["operationId"]
                    .as_str()
                    .ok_or_else(|| anyhow::anyhow!("{method} {path} has no operation_id"))?;
                operations.push(Operation {
                    method: method.to_uppercase().parse()?,
                    path: path.clone(),
                    segments: path
                        .trim_end_matches('/')
                        .split('/')
                        .map(|s| (!(s.starts_with('{') && s.ends_with('}'))).then(|| s.to_string()))
                        .collect(),
                    id: id.to_string(),
                    scope: if path.starts_with(PLATFORM_PREFIX) {
                        Scope::Platform
                    } else {
                        Scope::Tenant
                    },
                    query_params: op["parameters"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter(|p| p["in"] == "query")
                        .filter_map(|p| p["name"].as_str().map(str::to_string))
                        .collect(),
                });
            }
        }
        // Literal segments win over parameters (`/staff/me` before `/staff/{id}`).
        operations
            .sort_by_key(|o| std::cmp::Reverse(o.segments.iter().filter(|s| s.is_some()).count()));
        Ok(Self { operations })
    }

    pub fn find(&self, method: &Method, path: &str) -> Option<&Operation> {
        self.operations.iter().find(|o| o.matches(method, path))
    }

    /// The methods some operation answers at `path` (HEAD wherever GET is), for a 405's `Allow`.
    pub fn methods_at(&self, path: &str) -> Vec<Method> {
        let mut methods: Vec<Method> = self
            .operations
            .iter()
            .filter(|o| o.matches(&o.method, path))
            .map(|o| o.method.clone())
            .collect();
        if methods.contains(&Method::GET) {
            methods.push(Method::HEAD);
        }
        methods.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        methods.dedup();
        methods
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_templates_and_prefers_literals() {
        let spec = r#"{"paths": {
            "/api/staff/{id}": {"get": {"operationId": "staff_get", "parameters": [{"name": "id", "in": "path"}, {"name": "detail", "in": "query"}]}},
            "/api/staff/me": {"get": {"operationId": "staff_me"}},
            "/api/platform/tenants": {"post": {"operationId": "tenant_create"}}
        }}"#;
        let t = OperationTable::from_spec(spec).unwrap();
        assert_eq!(
            t.find(&Method::GET, "/api/staff/me").unwrap().id,
            "staff_me"
        );
        assert_eq!(
            t.find(&Method::GET, "/api/staff/42").unwrap().id,
            "staff_get"
        );
        assert_eq!(
            t.find(&Method::GET, "/api/staff/42").unwrap().query_params,
            ["detail"],
            "path parameters are not query parameters"
        );
        assert!(t.find(&Method::GET, "/api/staff/").is_none());
        assert!(t.find(&Method::POST, "/api/staff/42").is_none());
        assert_eq!(t.methods_at("/api/staff/42"), [Method::GET, Method::HEAD]);
        assert!(t.methods_at("/api/nothing").is_empty());
        let create = t.find(&Method::POST, "/api/platform/tenants").unwrap();
        assert_eq!((create.scope, create.action()), (Scope::Platform, "write"));
    }
}
