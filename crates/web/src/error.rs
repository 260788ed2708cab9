//! The one HTTP error type: a JSON body `{"error": {"code", "message", ...}}` with a stable code.
//! 500s are logged with their cause and answered without details.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use stockade_domain::catalog::FieldError;
use stockade_domain::compliance::{ExplainedViolation, Violation};
use stockade_store::StoreError;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable: clients branch on this, never on the message.
    pub code: String,
    /// For people: says what is wrong and what to do.
    pub message: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub violations: Vec<ExplainedViolation>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldError>,
    /// Replication only: how many entries HQ holds (a `gap` answer).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hq_size: Option<u64>,
    /// A 500 from a command that failed unexpectedly: the id its log line carries.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incident: Option<String>,
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub violations: Vec<Violation>,
    pub fields: Vec<FieldError>,
    pub hq_size: Option<u64>,
    // Boxed: a rare field, kept out of every other error's size.
    pub incident: Option<Box<String>>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, code, message: message.into(), violations: vec![], fields: vec![], hq_size: None, incident: None }
    }
}

impl From<stockade_hq::HqError> for ApiError {
    fn from(e: stockade_hq::HqError) -> Self {
        use stockade_hq::HqError;
        let msg = e.to_string();
        match e {
            HqError::Invalid { code, .. } => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, msg),
            HqError::NotFound { .. } => ApiError::new(StatusCode::NOT_FOUND, "not_found", msg),
            HqError::Conflict { code, hq_size, .. } => ApiError { hq_size, ..ApiError::new(StatusCode::CONFLICT, code, msg) },
            HqError::Refused { code, .. } => ApiError::new(StatusCode::FORBIDDEN, code, msg),
            HqError::Unauthorized => ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", msg),
            HqError::Forbidden(_) => ApiError::new(StatusCode::FORBIDDEN, "forbidden", msg),
            HqError::Unprojectable { .. } => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "out_of_range", msg),
            HqError::Corrupt(_) | HqError::Db(_) | HqError::Io(_) | HqError::SchemaTooNew { .. } => {
                tracing::error!(error = %msg, "internal error");
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "something went wrong at HQ; nothing was recorded")
            }
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        let msg = e.to_string();
        match e {
            // A well-formed request that names a product or till the store does not have: the
            // thing is not found (404), whatever part of the request named it.
            StoreError::Invalid { code: code @ ("unknown_product" | "unknown_till"), .. } => ApiError::new(StatusCode::NOT_FOUND, code, msg),
            StoreError::Invalid { code, fields, .. } => ApiError { fields, ..ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, msg) },
            StoreError::NotFound { .. } => ApiError::new(StatusCode::NOT_FOUND, "not_found", msg),
            StoreError::Conflict { code, .. } => ApiError::new(StatusCode::CONFLICT, code, msg),
            StoreError::Refused(v) => ApiError { violations: v, ..ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "sale_refused", msg) },
            StoreError::Forbidden => ApiError::new(StatusCode::FORBIDDEN, "forbidden", msg),
            StoreError::Unauthorized => ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", msg),
            StoreError::Busy => ApiError::new(StatusCode::TOO_MANY_REQUESTS, "sign_in_busy", msg),
            // A new command whose entry would take a total out of range: refused whole.
            StoreError::Unprojectable { .. } => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "out_of_range", msg),
            StoreError::Damaged(_) => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "store_damaged", msg),
            StoreError::Unavailable { code, .. } => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, code, msg),
            StoreError::Incident(id) => {
                let mut a = ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", msg);
                a.incident = Some(Box::new(id));
                a
            }
            StoreError::Corrupt(_) | StoreError::Db(_) | StoreError::Io(_) | StoreError::SchemaTooNew { .. } => {
                tracing::error!(error = %msg, "internal error");
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "something went wrong on the store node; nothing was recorded")
            }
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        match r {
            JsonRejection::JsonDataError(e) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_request",
                format!("the JSON does not have the expected fields or types: {}", e.body_text()),
            ),
            JsonRejection::JsonSyntaxError(e) => {
                ApiError::new(StatusCode::BAD_REQUEST, "invalid_json", format!("the body is not valid JSON: {}", e.body_text()))
            }
            JsonRejection::MissingJsonContentType(_) => {
                ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", "send the body as JSON with Content-Type: application/json")
            }
            JsonRejection::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", format!("the body is larger than {} bytes", crate::MAX_BODY_BYTES))
            }
            other => ApiError::new(other.status(), "invalid_request", other.body_text()),
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", r.body_text())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_string(),
                message: self.message,
                violations: self.violations.into_iter().map(ExplainedViolation::from).collect(),
                fields: self.fields,
                hq_size: self.hq_size,
                incident: self.incident.map(|b| *b),
            },
        };
        (self.status, axum::Json(body)).into_response()
    }
}

/// Every answer under `/api` (and HQ's `/hq/api`) in the one error shape, whoever produced it:
/// the router's 405 (its `Allow` header kept), a body or header limit (413, 431), a timeout
/// (408), a path parameter axum could not read (400), all of which come with an empty or plain
/// text body otherwise. Headers past [`crate::conn::MAX_HEADERS`] lines or
/// [`crate::conn::MAX_HEADER_BYTES`] bytes are refused here, 431, before any handler runs.
pub async fn json_errors(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let path = req.uri().path();
    let api = path.starts_with("/api") || path.starts_with("/hq/api");
    if !api {
        return next.run(req).await;
    }
    let header_bytes: usize = req.headers().iter().map(|(k, v)| k.as_str().len() + v.len() + 4).sum();
    if req.headers().len() > crate::conn::MAX_HEADERS || header_bytes > crate::conn::MAX_HEADER_BYTES {
        return ApiError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers_too_large",
            format!("at most {} header lines and {} bytes of headers", crate::conn::MAX_HEADERS, crate::conn::MAX_HEADER_BYTES),
        )
        .into_response();
    }
    let response = next.run(req).await;
    let status = response.status();
    let is_json = response.headers().get(axum::http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (parts, body) = response.into_parts();
    // What axum said (a path parameter's problem, say): kept as the message, if short and text.
    let said = axum::body::to_bytes(body, 2048).await.ok().and_then(|b| String::from_utf8(b.to_vec()).ok()).filter(|s| !s.trim().is_empty());
    let (code, default) = match status {
        StatusCode::METHOD_NOT_ALLOWED => ("method_not_allowed", "this route does not take that method (see the Allow header)".to_string()),
        StatusCode::PAYLOAD_TOO_LARGE => ("body_too_large", "the body is larger than this route accepts".to_string()),
        StatusCode::REQUEST_TIMEOUT => ("request_timeout", "the request took too long to arrive or to answer; nothing was recorded".to_string()),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => ("headers_too_large", "the request's headers are too large".to_string()),
        StatusCode::NOT_FOUND => ("not_found", "no such route".to_string()),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ("unsupported_media_type", "send the body as JSON with Content-Type: application/json".to_string()),
        s if s.is_server_error() => ("internal", "something went wrong; nothing was recorded".to_string()),
        _ => ("invalid_request", status.canonical_reason().unwrap_or("the request is not valid").to_string()),
    };
    // A server error's own text may carry internals: never shown.
    let message = match said {
        Some(s) if !status.is_server_error() => s,
        _ => default,
    };
    let mut answer = ApiError::new(status, code, message).into_response();
    if let Some(allow) = parts.headers.get(axum::http::header::ALLOW) {
        answer.headers_mut().insert(axum::http::header::ALLOW, allow.clone());
    }
    if let Some(retry) = parts.headers.get(axum::http::header::RETRY_AFTER) {
        answer.headers_mut().insert(axum::http::header::RETRY_AFTER, retry.clone());
    }
    answer
}

/// Adds to every operation of an OpenAPI document the error answers its route can give besides
/// its own (all in the [`ErrorBody`] shape): any request may be malformed (400), too slow (408),
/// carry too many headers (431), meet a fault (500) or a store that cannot record now (503); a
/// request with a body may be too large (413), not JSON (415) or not acceptable (422); a route
/// that needs a session may be refused (401, 403); a route naming a thing may not find it (404).
/// The document then lists every status each route can answer, which the contract tests
/// (schemathesis) hold the server to.
pub struct ErrorStatuses;

impl utoipa::Modify for ErrorStatuses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::path::{Operation, ParameterIn};
        use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
        let answer = |why: &str| {
            RefOr::T(
                ResponseBuilder::new()
                    .description(why)
                    .content("application/json", ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorBody"))).build())
                    .build(),
            )
        };
        let add = |op: &mut Operation| {
            let secured = op.security.as_ref().is_some_and(|s| !s.is_empty());
            let body = op.request_body.is_some();
            let names_a_thing = op.parameters.iter().flatten().any(|p| matches!(p, RefOr::T(p) if p.parameter_in == ParameterIn::Path));
            let queried = op.parameters.iter().flatten().any(|p| matches!(p, RefOr::T(p) if p.parameter_in == ParameterIn::Query));
            let mut statuses: Vec<(&str, &str)> = vec![
                ("400", "The request is malformed (a query string or a path parameter that cannot be read)."),
                ("408", "The request took too long to arrive or to answer; nothing was recorded."),
                ("431", "The request's headers are too large."),
                ("500", "A fault; nothing was recorded."),
                ("503", "The store cannot record anything now (damaged, disk full, clock ahead); the message says why."),
            ];
            if queried && !body {
                statuses.push(("422", "A query parameter is not acceptable; the error names it."));
            }
            if body {
                statuses.push(("413", "The body is larger than this route accepts."));
                statuses.push(("415", "The body is not sent as application/json."));
                statuses.push(("422", "The body is not acceptable; the error names the field."));
            }
            if secured {
                statuses.push(("401", "Not signed in, or the session expired."));
                statuses.push(("403", "The signed-in person may not do this."));
            }
            if names_a_thing || body {
                statuses.push(("404", "Nothing with that id (in the path, or a product or till the body names)."));
            }
            for (status, why) in statuses {
                op.responses.responses.entry(status.to_string()).or_insert_with(|| answer(why));
            }
        };
        for item in openapi.paths.paths.values_mut() {
            for op in [&mut item.get, &mut item.post, &mut item.put, &mut item.delete].into_iter().flatten() {
                add(op);
            }
        }
    }
}
