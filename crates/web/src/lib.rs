//! HTTP for the store node: an axum router under `/api/`, JSON in and out, OpenAPI 3 document
//! generated from the same handler annotations that register the routes (so it cannot drift).
//!
//! Invariant: only this crate knows HTTP. Handlers parse, call one store use case, and map errors.

#![forbid(unsafe_code)]

pub mod conn;
pub mod error;
pub mod hq;
pub mod limits;
mod orders;
mod routes;
mod ui;

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::Router;
use error::ApiError;
use std::sync::Arc;
use stockade_store::{Actor, Store};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

/// Largest request body accepted (a sale with 100 lines is under 10 KiB).
pub const MAX_BODY_BYTES: usize = 256 * 1024;

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub openapi: Arc<utoipa::openapi::OpenApi>,
    pub limiter: Arc<limits::Limiter>,
}

/// The client's address as every limit counts it (from the connection; unspecified when served
/// without it): an IPv4 address, or the /64 network of an IPv6 one, which one subscriber holds
/// whole (see [`client_key`]).
pub struct ClientIp(pub std::net::IpAddr);

/// What the limits count as one client: an IPv4 address as it is (an IPv4-mapped IPv6 address
/// as its IPv4), an IPv6 address by its /64 — a subscriber is handed a whole /64 and could
/// otherwise pose as 2⁶⁴ clients.
pub fn client_key(ip: std::net::IpAddr) -> std::net::IpAddr {
    match ip {
        std::net::IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => std::net::IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                std::net::IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
        v4 => v4,
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let ip = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| client_key(c.0.ip()))
            .unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
        Ok(ClientIp(ip))
    }
}

/// JSON body extractor whose rejections are our JSON errors.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let axum::Json(mut value) = axum::Json::<serde_json::Value>::from_request(req, state).await.map_err(ApiError::from)?;
        integral_floats(&mut value);
        serde_path_to_error::deserialize::<_, T>(value).map(ApiJson).map_err(|e| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_request",
                format!("the JSON does not have the expected fields or types: {}: {}", e.path(), e.inner()),
            )
        })
    }
}

/// JSON does not tell 12 from 12.0, and neither does its schema's `integer`: a number with
/// nothing after the point, exactly representable, is read as the integer it is.
fn integral_floats(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Number(n) => {
            if let Some(f) = n.as_f64().filter(|_| n.is_f64()) {
                // 2^53: every integer up to it is exact in a double.
                if f.fract() == 0.0 && f.abs() <= 9_007_199_254_740_992.0 {
                    *n = serde_json::Number::from(f as i64);
                }
            }
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(integral_floats),
        serde_json::Value::Object(o) => o.values_mut().for_each(integral_floats),
        _ => {}
    }
}

/// Query-string extractor whose rejections are our JSON errors.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state).await.map(|q| ApiQuery(q.0)).map_err(ApiError::from)
    }
}

pub const SESSION_COOKIE: &str = "stockade_session";

/// The signed-in staff member, from `Authorization: Bearer <token>` or the session cookie.
pub struct Auth(pub Actor);

pub(crate) fn bearer_token(parts: &Parts) -> Option<String> {
    if let Some(v) = parts.headers.get(axum::http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        return v.strip_prefix("Bearer ").map(|t| t.trim().to_string());
    }
    parts.headers.get_all(axum::http::header::COOKIE).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(';')).find_map(|c| {
        let (k, v) = c.trim().split_once('=')?;
        (k == SESSION_COOKIE).then(|| v.to_string())
    })
}

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = bearer_token(parts).ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "sign in first (POST /api/login)"))?;
        Ok(Auth(state.store.authenticate(&token).await?))
    }
}

/// A signed-in manager. Handlers of manager-only routes take this instead of [`Auth`], so a
/// budtender is refused (403) before the request body is even read.
pub struct Manager(pub Actor);

impl FromRequestParts<AppState> for Manager {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let Auth(actor) = Auth::from_request_parts(parts, state).await?;
        actor.require_manager()?;
        Ok(Manager(actor))
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Stockade store node", description = "The dispensary's own API: catalog, stock, sales, tills, reports. Amounts are integers in minor units (cents); weights in mg."),
    components(schemas(error::ErrorBody)),
    modifiers(&BearerAuth)
)]
struct ApiDoc;

struct BearerAuth;
impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        if let Some(c) = openapi.components.as_mut() {
            c.add_security_scheme("bearer", SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()));
        }
    }
}

/// The router and the OpenAPI document describing exactly its routes.
pub fn api_router() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, mut doc) = OpenApiRouter::with_openapi(ApiDoc::openapi()).merge(routes::routes()).merge(orders::routes()).split_for_parts();
    utoipa::Modify::modify(&error::ErrorStatuses, &mut doc);
    (router, doc)
}

/// While the database is damaged, every change is answered 503 `store_damaged` with the
/// repair command, before sign-in is even looked at (sign-in itself may be what is damaged).
/// Reads and sign-in go on where the file still allows.
async fn refuse_changes_when_damaged(
    axum::extract::State(store): axum::extract::State<Store>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let changes = !matches!(*req.method(), axum::http::Method::GET | axum::http::Method::HEAD | axum::http::Method::OPTIONS);
    let path = req.uri().path();
    let sign_in = matches!(path, "/api/login" | "/api/login/pin" | "/api/logout" | "/login" | "/logout");
    if changes && !sign_in && path.starts_with("/api") {
        if let Some(message) = store.health().damaged {
            return axum::response::IntoResponse::into_response(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "store_damaged", message));
        }
    }
    next.run(req).await
}

pub fn app(store: Store) -> Router {
    let guard = axum::middleware::from_fn_with_state(store.clone(), refuse_changes_when_damaged);
    let (router, openapi) = api_router();
    let state = AppState { store, openapi: Arc::new(openapi), limiter: Arc::new(limits::Limiter::default()) };
    router
        .route("/api/openapi.json", axum::routing::get(routes::openapi_json))
        .merge(ui::routes())
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route") })
        .layer(guard)
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, std::time::Duration::from_secs(30)))
        .layer(axum::middleware::from_fn(error::json_errors))
        .layer(CatchPanicLayer::custom(|_| {
            tracing::error!("handler panicked");
            axum::response::IntoResponse::into_response(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "something went wrong on the store node"))
        }))
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .with_state(state)
}

/// The span every request's log lines carry: method and path, with the secret part of a
/// tracking URL (`/track/TOKEN…`, `/api/track/TOKEN…`) replaced, so no log level shows a token.
pub fn request_span<B>(req: &axum::http::Request<B>) -> tracing::Span {
    tracing::debug_span!("request", method = %req.method(), uri = %redacted(req.uri()), version = ?req.version())
}

/// A URI as it may be logged: a tracking token is cut out.
pub fn redacted(uri: &axum::http::Uri) -> String {
    let path = uri.path();
    let mut out = String::with_capacity(path.len());
    let mut after_track = false;
    for (i, seg) in path.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        out.push_str(if after_track && !seg.is_empty() { "…" } else { seg });
        after_track = seg == "track";
    }
    match uri.query() {
        Some(q) => format!("{out}?{q}"),
        None => out,
    }
}

/// Serves the store node on `listener` until `shutdown` resolves. Takes a signed checkpoint
/// every minute when the journal has grown.
pub async fn serve(store: Store, listener: tokio::net::TcpListener, shutdown: impl std::future::Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
    let ticker_store = store.clone();
    let ticker = tokio::spawn(async move {
        let mut interval = tokio::time::interval(std::time::Duration::from_secs(60));
        interval.tick().await;
        if let Err(e) = ticker_store.purge_expired_customers().await {
            tracing::error!(error = %e, "purging expired customer records failed");
        }
        loop {
            interval.tick().await;
            if let Err(e) = ticker_store.checkpoint().await {
                tracing::error!(error = %e, "checkpoint failed");
            }
            if let Err(e) = ticker_store.purge_expired_customers().await {
                tracing::error!(error = %e, "purging expired customer records failed");
            }
            if let Err(e) = ticker_store.expire_orders().await {
                tracing::error!(error = %e, "expiring orders failed");
            }
        }
    });
    let r = conn::serve(listener, app(store), shutdown).await;
    ticker.abort();
    r
}

/// What `store serve` runs when the store cannot even be opened because its database is
/// damaged: every API call is answered 503 `store_damaged` with `message` (which names the
/// repair command), and the register page shows it, so nobody sells on paper without knowing
/// why.
pub async fn serve_damaged(
    listener: tokio::net::TcpListener,
    message: String,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::response::IntoResponse;
    let message = std::sync::Arc::new(message);
    let app = axum::Router::new().fallback(move |uri: axum::http::Uri| {
        let message = message.clone();
        async move {
            if uri.path().starts_with("/api") {
                error::ApiError::new(axum::http::StatusCode::SERVICE_UNAVAILABLE, "store_damaged", message.as_str()).into_response()
            } else {
                let page = maud::html! {
                    (maud::DOCTYPE)
                    html lang="en" {
                        head { meta charset="utf-8"; title { "Stockade — sales stopped" } }
                        body {
                            h1 { "Sales are stopped" }
                            p #damaged { (message.as_str()) }
                        }
                    }
                };
                (axum::http::StatusCode::SERVICE_UNAVAILABLE, axum::response::Html(page.into_string())).into_response()
            }
        }
    });
    conn::serve(listener, app, shutdown).await
}

#[cfg(test)]
mod tests {
    #[test]
    fn integral_numbers_are_integers_whatever_their_spelling() {
        let mut v: serde_json::Value = serde_json::from_str(r#"{"a": 12.0, "b": [3.5, -4.0, 1e3], "c": 1e300, "d": 7}"#).unwrap();
        super::integral_floats(&mut v);
        assert_eq!(v, serde_json::json!({"a": 12, "b": [3.5, -4, 1000], "c": 1e300, "d": 7}));
    }

    #[test]
    fn an_ipv6_network_of_a_subscriber_is_one_client() {
        let a: std::net::IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: std::net::IpAddr = "2001:db8:1:2:ffff:1:2:3".parse().unwrap();
        let other: std::net::IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(super::client_key(a), super::client_key(b));
        assert_ne!(super::client_key(a), super::client_key(other));
        let mapped: std::net::IpAddr = "::ffff:203.0.113.7".parse().unwrap();
        assert_eq!(super::client_key(mapped), "203.0.113.7".parse::<std::net::IpAddr>().unwrap());
        let v4: std::net::IpAddr = "203.0.113.8".parse().unwrap();
        assert_eq!(super::client_key(v4), v4);
    }

    #[test]
    fn a_tracking_token_never_reaches_a_log_line() {
        for (uri, logged) in [
            ("/api/track/abcdef0123/details?x=1", "/api/track/…/details?x=1"),
            ("/track/abcdef0123", "/track/…"),
            ("/api/products?q=track", "/api/products?q=track"),
            ("/api/orders/42/cancel", "/api/orders/42/cancel"),
        ] {
            assert_eq!(super::redacted(&uri.parse().unwrap()), logged);
        }
    }
}
