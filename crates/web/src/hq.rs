//! HTTP for head office, under `/hq/api/v1/`. Store requests are authenticated by their
//! Ed25519 signature (see `stockade-sync`); operator requests by a bearer token. HQ storage calls
//! are blocking (one connection per process), so they run on blocking threads.

use crate::error::ApiError;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use std::sync::Arc;
use stockade_hq::access::Principal;
use stockade_hq::{Hq, HqError};
use stockade_journal::Checkpoint;
use stockade_sync::{EnrollRequest, JournalPage, PushRequest, WireEntry, HEADER_KEY, HEADER_SIGNATURE, HEADER_TIME};

/// Largest replication request: a batch of 1,000 entries of a few KiB each.
pub const MAX_PUSH_BYTES: usize = 16 * 1024 * 1024;

#[derive(Clone)]
struct HqState {
    hq: Arc<Hq>,
    /// How far a store's clock may be from HQ's (request signatures carry the time).
    max_skew_ms: i64,
}

async fn blocking<T: Send + 'static>(hq: &Arc<Hq>, f: impl FnOnce(&Hq) -> Result<T, HqError> + Send + 'static) -> Result<T, ApiError> {
    let hq = hq.clone();
    tokio::task::spawn_blocking(move || f(&hq))
        .await
        .map_err(|_| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "something went wrong at HQ; nothing was recorded"))?
        .map_err(ApiError::from)
}

fn header<'a>(h: &'a HeaderMap, name: &'static str) -> Result<&'a str, ApiError> {
    h.get(name).and_then(|v| v.to_str().ok()).ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, "unsigned", format!("the {name} header is required")))
}

/// Checks the request's signature against `key`.
fn check_signature(s: &HqState, key: &ed25519_dalek::VerifyingKey, method: &Method, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Result<(), ApiError> {
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or(uri.path());
    stockade_sync::verify_request(
        key,
        method.as_str(),
        path,
        header(headers, HEADER_TIME)?,
        header(headers, HEADER_SIGNATURE)?,
        body,
        s.hq.now_ms(),
        s.max_skew_ms,
    )
    .map_err(|e| match e {
        // A store whose clock is off: refused (its requests could be replayed later), and HQ
        // says so where people look, instead of showing a store that merely went quiet.
        stockade_sync::AuthError::Skew => {
            let hq = s.hq.clone();
            let pk = hex::encode(key.to_bytes());
            let theirs = header(headers, HEADER_TIME).ok().and_then(|t| t.parse::<i64>().ok()).unwrap_or(0);
            let off = theirs.saturating_sub(s.hq.now_ms());
            tokio::task::spawn_blocking(move || {
                if let Ok(Some(sid)) = hq.store_id_of_key(&pk) {
                    let minutes = off / 60_000;
                    let text = format!(
                        "clock: the store's clock is {} min {} HQ's; its requests are refused until it is set right",
                        minutes.abs(),
                        if off > 0 { "ahead of" } else { "behind" }
                    );
                    if let Err(e) = hq.store_problem(&sid, &text) {
                        tracing::error!(error = %e, "cannot record the clock alert");
                    }
                }
            });
            ApiError::new(StatusCode::UNAUTHORIZED, "clock_skew", e.to_string())
        }
        e => ApiError::new(StatusCode::UNAUTHORIZED, "bad_request_signature", e.to_string()),
    })
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_request", format!("the JSON does not have the expected fields or types: {e}")))
}

async fn enroll(State(s): State<HqState>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Result<Json<stockade_hq::Enrolment>, ApiError> {
    let hq = s.hq.clone();
    let req: EnrollRequest = parse(&body)?;
    if header(&headers, HEADER_KEY)? != req.public_key {
        return Err(ApiError::new(StatusCode::UNAUTHORIZED, "bad_request_signature", "the request is not signed by the key being enrolled"));
    }
    let pk = req.public_key.clone();
    let key = blocking(&hq, move |hq| hq.registered_key(&pk))
        .await?
        .ok_or_else(|| ApiError::new(StatusCode::FORBIDDEN, "enrolment_refused", "unknown key or wrong enrolment code"))?;
    check_signature(&s, &key, &method, &uri, &headers, &body)?;
    Ok(Json(blocking(&hq, move |hq| hq.enroll(&req.code, &req.store_id, &req.public_key)).await?))
}

async fn push(State(s): State<HqState>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Result<Json<stockade_hq::PushAck>, ApiError> {
    let hq = s.hq.clone();
    let req: PushRequest = parse(&body)?;
    let sid = req.store_id.clone();
    let (_, key) = blocking(&hq, move |hq| hq.store_key(&sid))
        .await?
        .ok_or_else(|| ApiError::new(StatusCode::FORBIDDEN, "unknown_store", "this store is not enrolled"))?;
    if header(&headers, HEADER_KEY)? != hex::encode(key.to_bytes()) {
        return Err(ApiError::new(StatusCode::UNAUTHORIZED, "bad_request_signature", "the request is not signed by the store's enrolled key"));
    }
    check_signature(&s, &key, &method, &uri, &headers, &body)?;
    let head = hex::decode(&req.checkpoint.head)
        .ok()
        .and_then(|h| h.try_into().ok())
        .ok_or_else(|| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_request", "checkpoint head is not 32 bytes of hex"))?;
    let sig = hex::decode(&req.checkpoint.signature)
        .map_err(|_| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_request", "checkpoint signature is not hex"))?;
    let cp = Checkpoint { store_id: req.store_id.clone(), size: req.checkpoint.size, head };
    let entries: Vec<(u64, Vec<u8>)> = req.entries.into_iter().map(|e| (e.seq, e.entry.into_bytes())).collect();
    if let Some(problem) = req.problem.clone() {
        let sid = req.store_id.clone();
        blocking(&hq, move |hq| hq.store_problem(&sid, &problem)).await?;
    }
    let want = req.want_tree_head;
    let ack = blocking(&hq, move |hq| {
        let mut ack = hq.push(&req.store_id, &entries, &cp, &sig, req.store_size)?;
        if want {
            ack.tree_head = Some(hq.tree_head()?);
        }
        Ok(ack)
    })
    .await?;
    Ok(Json(ack))
}

/// A store reads back its own journal (restore). The store is found by the signing key: only
/// that key can read it.
async fn journal(State(s): State<HqState>, method: Method, uri: Uri, headers: HeaderMap) -> Result<Json<JournalPage>, ApiError> {
    let hq = s.hq.clone();
    let pk = header(&headers, HEADER_KEY)?.to_string();
    let key = stockade_journal::verifying_key_from_hex(&pk)
        .ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, "bad_request_signature", "malformed key header"))?;
    check_signature(&s, &key, &method, &uri, &headers, &[])?;
    let store_id = blocking(&hq, move |hq| hq.store_id_of_key(&pk))
        .await?
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "not_found", "no enrolled store has this key"))?;
    let from = from_param(&uri)?;
    let (entries, cps) = blocking(&hq, move |hq| hq.journal(&store_id, from, 5000)).await?;
    let mut wire = Vec::with_capacity(entries.len());
    for (seq, bytes) in entries {
        let entry = String::from_utf8(bytes)
            .map_err(|_| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "a stored entry is not UTF-8: run `stockade hq verify`"))?;
        wire.push(WireEntry { seq, entry });
    }
    Ok(Json(JournalPage { entries: wire, checkpoints: cps }))
}

/// `?from=N` (default 1).
fn from_param(uri: &Uri) -> Result<u64, ApiError> {
    Ok(query_u64(uri, "from")?.unwrap_or(1))
}

/// A number from the raw query string, which is also what the request signature covers.
fn query_u64(uri: &Uri, name: &str) -> Result<Option<u64>, ApiError> {
    let prefix = format!("{name}=");
    match uri.query().unwrap_or("").split('&').find_map(|kv| kv.strip_prefix(prefix.as_str())) {
        None => Ok(None),
        Some(v) => v.parse().map(Some).map_err(|_| ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", format!("{name} must be a sequence number"))),
    }
}

/// A store pulls the catalog updates HQ published for its retailer, each signed by HQ.
async fn catalog(State(s): State<HqState>, method: Method, uri: Uri, headers: HeaderMap) -> Result<Json<stockade_sync::CatalogPage>, ApiError> {
    publications(&s, &method, &uri, &headers, |hq, pk, after| hq.catalog_for(pk, after)).await
}

/// A store pulls the purchase orders approved for it, each signed by HQ.
async fn my_orders(State(s): State<HqState>, method: Method, uri: Uri, headers: HeaderMap) -> Result<Json<stockade_sync::CatalogPage>, ApiError> {
    publications(&s, &method, &uri, &headers, |hq, pk, after| hq.orders_for(pk, after)).await
}

/// The part of HQ's journal the store vouches for (so HQ can be rebuilt from its stores),
/// after `?after=N`, each entry signed by HQ.
async fn my_registry(State(s): State<HqState>, method: Method, uri: Uri, headers: HeaderMap) -> Result<Json<stockade_sync::RegistryPage>, ApiError> {
    let pk = header(&headers, HEADER_KEY)?.to_string();
    let key = stockade_journal::verifying_key_from_hex(&pk)
        .ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, "bad_request_signature", "malformed key header"))?;
    check_signature(&s, &key, &method, &uri, &headers, &[])?;
    let after = query_u64(&uri, "after")?.unwrap_or(0);
    let (rows, next_after, rebuilt_at) = blocking(&s.hq, move |hq| hq.registry_for(&pk, after)).await?;
    let mut entries = Vec::with_capacity(rows.len());
    for (hq_seq, seq, bytes, signature) in rows {
        let entry = String::from_utf8(bytes)
            .map_err(|_| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "a stored entry is not UTF-8: run `stockade hq verify`"))?;
        entries.push(stockade_sync::Publication { hq_seq, seq, entry, signature });
    }
    Ok(Json(stockade_sync::RegistryPage { entries, next_after, rebuilt_at }))
}

/// HQ journal entries for the store whose key signed the request, after `?after=N`.
async fn publications(
    s: &HqState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    read: fn(&Hq, &str, u64) -> Result<Vec<stockade_hq::SignedPublication>, HqError>,
) -> Result<Json<stockade_sync::CatalogPage>, ApiError> {
    let pk = header(headers, HEADER_KEY)?.to_string();
    let key = stockade_journal::verifying_key_from_hex(&pk)
        .ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, "bad_request_signature", "malformed key header"))?;
    check_signature(s, &key, method, uri, headers, &[])?;
    let after = query_u64(uri, "after")?.unwrap_or(0);
    let rows = blocking(&s.hq, move |hq| read(hq, &pk, after)).await?;
    let mut entries = Vec::with_capacity(rows.len());
    for (hq_seq, seq, bytes, signature) in rows {
        let entry = String::from_utf8(bytes)
            .map_err(|_| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "a stored entry is not UTF-8: run `stockade hq verify`"))?;
        entries.push(stockade_sync::Publication { hq_seq, seq, entry, signature });
    }
    Ok(Json(stockade_sync::CatalogPage { entries }))
}

/// The HQ user making a request: their token as `Authorization: Bearer …` or, from the
/// dashboard, in its HttpOnly cookie. Users are made with `stockade hq add-user`.
async fn principal(hq: &Arc<Hq>, headers: &HeaderMap) -> Result<Principal, ApiError> {
    let token = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string)
        .or_else(|| hq_cookie(headers))
        .ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "send your HQ token as Authorization: Bearer …"))?;
    if token.len() > 128 {
        return Err(ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "unknown or revoked token"));
    }
    blocking(hq, move |hq| hq.authenticate(&token)).await
}

/// Alerts `p` may see: an owner's own retailer's, everyone else's all.
fn alerts_for(hq: &Hq, p: &Principal, limit: u64) -> Result<Vec<stockade_hq::Alert>, HqError> {
    let mut alerts = hq.alerts(limit)?;
    if let Some(r) = &p.retailer_id {
        alerts.retain(|a| &a.retailer_id == r);
    }
    Ok(alerts)
}

async fn status(State(s): State<HqState>, headers: HeaderMap) -> Result<Json<serde_json::Value>, ApiError> {
    let hq = s.hq.clone();
    let p = principal(&hq, &headers).await?;
    let (stores, alerts) = blocking(&hq, move |hq| Ok((hq.status_for(&p)?, alerts_for(hq, &p, 50)?))).await?;
    Ok(Json(serde_json::json!({ "hq_id": hq.hq_id(), "stores": stores, "alerts": alerts })))
}

#[derive(Deserialize)]
struct ReportQuery {
    date: String,
    retailer: Option<String>,
    /// `json` (default) or `csv`.
    format: Option<String>,
    /// Who the file is for (default: the requesting user). Every download is fingerprinted
    /// for its recipient and logged; `stockade hq trace-leak` names the recipient of a copy.
    recipient: Option<String>,
}

async fn report_daily(
    State(s): State<HqState>,
    headers: HeaderMap,
    q: Result<axum::extract::Query<ReportQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    use stockade_hq::export::Format;
    let hq = s.hq.clone();
    let p = principal(&hq, &headers).await?;
    let q = q.map_err(ApiError::from)?.0;
    let format = match q.format.as_deref() {
        None | Some("json") => Format::Json,
        Some("csv") => Format::Csv,
        Some(other) => return Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_format", format!("format '{other}' is not json or csv"))),
    };
    let date = q.date.clone();
    let recipient = q.recipient.clone().unwrap_or_else(|| format!("{} ({})", p.name, p.user_id));
    let export = blocking(&hq, move |hq| hq.export_daily(&p, &q.date, q.retailer.as_deref(), &recipient, format)).await?;
    let (content_type, ext) = match format {
        Format::Csv => ("text/csv; charset=utf-8", "csv"),
        Format::Json => ("application/json", "json"),
    };
    let disposition = format!("attachment; filename=\"stockade-daily-{date}.{ext}\"");
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, content_type.to_string()),
            (axum::http::header::CONTENT_DISPOSITION, disposition),
            (axum::http::HeaderName::from_static("x-stockade-export"), export.export_id.clone()),
        ],
        export.text,
    )
        .into_response())
}

#[derive(Deserialize)]
struct ProposalQuery {
    retailer: Option<String>,
    /// `true`: only proposals still to approve.
    open: Option<bool>,
}

/// The latest forecast run's proposals the caller may see (audited).
async fn proposals(
    State(s): State<HqState>,
    headers: HeaderMap,
    q: Result<axum::extract::Query<ProposalQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Vec<stockade_hq::replenish::ProposalRow>>, ApiError> {
    let p = principal(&s.hq, &headers).await?;
    let q = q.map_err(ApiError::from)?.0;
    Ok(Json(blocking(&s.hq, move |hq| hq.proposals_for(&p, q.retailer.as_deref(), q.open.unwrap_or(false))).await?))
}

#[derive(Deserialize)]
struct ApproveRequest {
    retailer_id: String,
    store_id: String,
    /// Product ids to approve; empty or absent: every open proposal of the store.
    #[serde(default)]
    products: Vec<String>,
}

/// Approves a store's open proposals into a purchase order (an HQ journal entry).
async fn approve(State(s): State<HqState>, headers: HeaderMap, body: Bytes) -> Result<(StatusCode, Json<stockade_hq::replenish::PurchaseOrder>), ApiError> {
    let p = principal(&s.hq, &headers).await?;
    let req: ApproveRequest = parse(&body)?;
    let po = blocking(&s.hq, move |hq| hq.approve(&p, &req.retailer_id, &req.store_id, &req.products)).await?;
    Ok((StatusCode::CREATED, Json(po)))
}

/// Who may call an HQ route. The router is built from [`ROUTES`] alone, so no route exists
/// without a guard, and the authorization matrix test enumerates this same table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guard {
    /// Anyone: enrolment (it needs a one-time code) and the dashboard's sign-in form.
    Public,
    /// A store, by the Ed25519 signature of its enrolled key on the request.
    Store,
    /// An HQ user's token (header or dashboard cookie); the answer is scoped by role and retailer.
    User,
}

/// Every HQ route: method, path, guard.
pub const ROUTES: &[(&str, &str, Guard)] = &[
    ("POST", "/hq/api/v1/enroll", Guard::Public),
    ("POST", "/hq/api/v1/push", Guard::Store),
    ("GET", "/hq/api/v1/my/journal", Guard::Store),
    ("GET", "/hq/api/v1/my/catalog", Guard::Store),
    ("GET", "/hq/api/v1/my/orders", Guard::Store),
    ("GET", "/hq/api/v1/my/registry", Guard::Store),
    ("GET", "/hq/api/v1/proposals", Guard::User),
    ("POST", "/hq/api/v1/purchase-orders", Guard::User),
    ("GET", "/hq/api/v1/status", Guard::User),
    ("GET", "/hq/api/v1/reports/daily", Guard::User),
    ("GET", "/hq", Guard::User),
    ("GET", "/hq/report", Guard::User),
    ("GET", "/hq/proposals", Guard::User),
    ("POST", "/hq/proposals/approve", Guard::User),
    ("POST", "/hq/login", Guard::Public),
];

fn endpoint(path: &str) -> Option<axum::routing::MethodRouter<HqState>> {
    Some(match path {
        "/hq/api/v1/enroll" => post(enroll),
        "/hq/api/v1/push" => post(push),
        "/hq/api/v1/my/journal" => get(journal),
        "/hq/api/v1/my/catalog" => get(catalog),
        "/hq/api/v1/my/orders" => get(my_orders),
        "/hq/api/v1/my/registry" => get(my_registry),
        "/hq/api/v1/proposals" => get(proposals),
        "/hq/api/v1/purchase-orders" => post(approve),
        "/hq/api/v1/status" => get(status),
        "/hq/api/v1/reports/daily" => get(report_daily),
        "/hq" => get(dashboard),
        "/hq/report" => get(report_page),
        "/hq/proposals" => get(proposals_page),
        "/hq/proposals/approve" => post(approve_form),
        "/hq/login" => post(dashboard_login),
        _ => return None,
    })
}

/// Every answer carries HQ's clock (`x-stockade-time`, UTC ms), so a store compares its own
/// clock with HQ's at every contact, even when its request was refused.
async fn with_hq_time(State(s): State<HqState>, mut res: axum::response::Response) -> axum::response::Response {
    if let Ok(v) = axum::http::HeaderValue::from_str(&s.hq.now_ms().to_string()) {
        res.headers_mut().insert(HEADER_TIME, v);
    }
    res
}

pub fn router(hq: Arc<Hq>, max_skew_ms: i64) -> Router {
    let state = HqState { hq: hq.clone(), max_skew_ms };
    let mut router = Router::new();
    for (_, path, _) in ROUTES {
        if let Some(e) = endpoint(path) {
            router = router.route(path, e);
        }
    }
    router
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route") })
        .layer(axum::extract::DefaultBodyLimit::max(MAX_PUSH_BYTES))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(MAX_PUSH_BYTES))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, std::time::Duration::from_secs(60)))
        .layer(axum::middleware::from_fn(crate::error::json_errors))
        .layer(tower_http::catch_panic::CatchPanicLayer::new())
        .layer(axum::middleware::map_response_with_state(state.clone(), with_hq_time))
        .layer(tower_http::trace::TraceLayer::new_for_http().make_span_with(crate::request_span))
        .with_state(state)
}

/// Serves HQ until `shutdown` resolves.
pub async fn serve_hq(
    hq: Arc<Hq>,
    max_skew_ms: i64,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    crate::conn::serve(listener, router(hq, max_skew_ms), shutdown).await
}

// ---------------------------------------------------------------------------------------------
// The HQ dashboard: server-rendered, refreshes itself every 5 seconds, no script at all.

const HQ_COOKIE: &str = "stockade_hq";

fn hq_cookie(headers: &HeaderMap) -> Option<String> {
    headers.get_all(axum::http::header::COOKIE).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(';')).find_map(|c| {
        let (k, v) = c.trim().split_once('=')?;
        (k == HQ_COOKIE).then(|| v.to_string())
    })
}

#[derive(Deserialize)]
struct TokenForm {
    token: String,
}

async fn dashboard_login(State(s): State<HqState>, form: Result<axum::Form<TokenForm>, axum::extract::rejection::FormRejection>) -> axum::response::Response {
    use axum::response::IntoResponse;
    let Ok(axum::Form(f)) = form else { return axum::response::Redirect::to("/hq").into_response() };
    let token = f.token.trim().to_string();
    let t2 = token.clone();
    match blocking(&s.hq, move |hq| hq.authenticate(&t2)).await {
        Ok(_) => {
            let cookie = format!("{HQ_COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/hq; Max-Age=43200");
            ([(axum::http::header::SET_COOKIE, cookie)], axum::response::Redirect::to("/hq")).into_response()
        }
        _ => dashboard_page(
            "Sign in",
            maud::html! { main.single { section {
                h1 { "Head office" }
                p.error role="alert" { "Unknown or revoked token." }
                (login_form())
            } } },
        )
        .into_response(),
    }
}

fn login_form() -> maud::Markup {
    maud::html! {
        form method="post" action="/hq/login" {
            label for="token" { "Your HQ token" }
            input #token type="password" name="token" autocomplete="off" autofocus required;
            button type="submit" { "Sign in" }
        }
    }
}

fn dashboard_page(title: &str, content: maud::Markup) -> axum::response::Html<String> {
    axum::response::Html(
        maud::html! {
            (maud::DOCTYPE)
            html lang="en" {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    title { (title) " — Stockade HQ" }
                    style { (maud::PreEscaped(crate::ui::APP_CSS)) }
                }
                body { header { strong { "Stockade head office" } } (content) }
            }
        }
        .into_string(),
    )
}

fn money(minor: i64) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    format!("{sign}${}.{:02}", minor.abs() / 100, minor.abs() % 100)
}

/// Bars of net sales per day (all stores), as inline SVG.
fn sales_chart(days: &[stockade_hq::report::DaySales]) -> maud::Markup {
    let mut totals: Vec<(String, i64)> = Vec::new();
    for d in days {
        match totals.last_mut() {
            Some((day, v)) if *day == d.day => *v += d.net_sales_minor,
            _ => totals.push((d.day.clone(), d.net_sales_minor)),
        }
    }
    let max = totals.iter().map(|t| t.1).max().unwrap_or(0).max(1);
    let (w, h, bar) = (640i64, 200i64, (640 / (totals.len().max(1) as i64)).min(80));
    maud::html! {
        svg #sales-chart viewBox=(format!("0 0 {w} {}", h + 40)) width="100%" role="img" aria-label="Net sales per day, all stores" {
            @for (i, (day, v)) in totals.iter().enumerate() {
                @let bh = (v.max(&0) * h) / max;
                rect x=(i as i64 * bar + 4) y=(h - bh) width=(bar - 8) height=(bh) fill="#1f6feb" { title { (day) ": " (money(*v)) } }
                text x=(i as i64 * bar + bar / 2) y=(h + 16) text-anchor="middle" font-size="11" { (day.get(5..).unwrap_or(day)) }
                text x=(i as i64 * bar + bar / 2) y=(h + 32) text-anchor="middle" font-size="11" { (money(*v)) }
            }
        }
    }
}

/// The HQ user whose token the dashboard cookie carries.
async fn dashboard_principal(s: &HqState, headers: &HeaderMap) -> Option<Principal> {
    let t = hq_cookie(headers)?;
    blocking(&s.hq, move |hq| hq.authenticate(&t)).await.ok()
}

fn sign_in_page() -> axum::response::Response {
    use axum::response::IntoResponse;
    dashboard_page("Sign in", maud::html! { main.single { section { h1 { "Head office" } (login_form()) } } }).into_response()
}

/// Horizontal bars of net sales per product class, as inline SVG.
fn category_chart(cats: &[stockade_hq::report::CategorySales]) -> maud::Markup {
    let max = cats.iter().map(|c| c.net_sales_minor).max().unwrap_or(0).max(1);
    let (w, row) = (640i64, 26i64);
    maud::html! {
        svg #category-chart viewBox=(format!("0 0 {w} {}", row * cats.len().max(1) as i64)) width="100%" role="img" aria-label="Net sales per category, all stores" {
            @for (i, c) in cats.iter().enumerate() {
                @let y = i as i64 * row;
                @let bw = (c.net_sales_minor.max(0) * 380) / max;
                text x="0" y=(y + 17) font-size="12" { (c.class.replace('_', " ")) }
                rect x="150" y=(y + 4) width=(bw) height=(row - 8) fill="#8250df" { title { (c.class) ": " (money(c.net_sales_minor)) } }
                text x=(150 + bw + 6) y=(y + 17) font-size="12" { (money(c.net_sales_minor)) " · " (c.units_sold) " units" }
            }
        }
    }
}

async fn dashboard(State(s): State<HqState>, headers: HeaderMap) -> axum::response::Response {
    use axum::response::IntoResponse;
    let Some(p) = dashboard_principal(&s, &headers).await else {
        return sign_in_page();
    };
    let who = format!("{} ({})", p.name, p.role.as_str());
    let data = blocking(&s.hq, move |hq| {
        let days = hq.sales_by_day_for(&p, 14)?;
        let since = days.first().map(|d| d.day.clone()).unwrap_or_default();
        Ok((hq.status_for(&p)?, alerts_for(hq, &p, 20)?, hq.sales_by_category_for(&p, &since)?, days))
    })
    .await;
    let (stores, alerts, categories, days) = match data {
        Ok(d) => d,
        Err(e) => return e.into_response(),
    };
    let now = s.hq.now_ms();
    dashboard_page(
        "Dashboard",
        maud::html! {
            meta http-equiv="refresh" content="5";
            main {
                section aria-labelledby="stores-h" {
                    h1 #stores-h { "Stores" }
                    p #who { "Signed in: " (who) }
                    table #stores {
                        thead { tr { th { "Retailer" } th { "Store" } th.num { "Entries" } th.num { "Lag" } th { "Last contact" } th { "Integrity" } } }
                        tbody {
                            @for st in &stores {
                                tr {
                                    td { (st.retailer_id) }
                                    td { (st.name) }
                                    td.num { (st.size) }
                                    td.num { (st.lag) }
                                    td { @match st.last_contact_ms { Some(ms) => { ((now - ms).max(0) / 1000) " s ago" }, None => { "never" } } }
                                    td { (st.integrity) }
                                }
                            }
                        }
                    }
                    h2 { "Net sales per day" }
                    (sales_chart(&days))
                    table #sales {
                        thead { tr { th { "Day" } th { "Store" } th.num { "Units" } th.num { "Net sales" } } }
                        tbody { @for d in days.iter().rev() { tr { td { (d.day) } td { (d.store_name) } td.num { (d.units_sold) } td.num { (money(d.net_sales_minor)) } } } }
                    }
                    h2 { "Net sales per category" @if let Some(d) = days.first() { " since " (d.day) } }
                    @if categories.is_empty() { p { "No sales yet." } } @else { (category_chart(&categories)) }
                }
                section aria-labelledby="alerts-h" {
                    h2 #alerts-h { "Alerts" }
                    @if alerts.is_empty() { p { "None." } }
                    ul { @for a in &alerts { li { (a.kind) " — store " (a.store_id) ": " (a.message) } } }
                    h2 { "Daily wholesaler report" }
                    p { a #report-link href="/hq/report" { "Open the daily report" } " (CSV and JSON downloads; also " code { "stockade hq report daily" } ")." }
                }
            }
        },
    )
    .into_response()
}

#[derive(Deserialize)]
struct ReportPageQuery {
    date: Option<String>,
}

/// The daily wholesaler report as a page: one row per store × product, totals, downloads.
async fn report_page(
    State(s): State<HqState>,
    headers: HeaderMap,
    q: Result<axum::extract::Query<ReportPageQuery>, axum::extract::rejection::QueryRejection>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let Some(p) = dashboard_principal(&s, &headers).await else {
        return sign_in_page();
    };
    let latest = blocking(&s.hq, |hq| hq.sales_by_day(1)).await.ok().and_then(|d| d.last().map(|d| d.day.clone()));
    let date = q
        .ok()
        .and_then(|q| q.0.date)
        .filter(|d| !d.is_empty())
        .or(latest)
        .unwrap_or_else(|| chrono::DateTime::from_timestamp_millis(s.hq.now_ms()).map(|t| t.format("%Y-%m-%d").to_string()).unwrap_or_default());
    let d2 = date.clone();
    let rows = blocking(&s.hq, move |hq| hq.report_daily_for(&p, &d2, None)).await;
    let body = match &rows {
        Ok(rows) => {
            let sum = |f: fn(&stockade_hq::report::DailyRow) -> i64| rows.iter().map(f).sum::<i64>();
            maud::html! {
                p {
                    a #csv-link href=(format!("/hq/api/v1/reports/daily?date={date}&format=csv")) { "Download CSV" } " · "
                    a href=(format!("/hq/api/v1/reports/daily?date={date}")) { "JSON" }
                }
                table #report {
                    thead { tr { th { "Store" } th { "SKU" } th { "Product" } th.num { "Sold" } th.num { "Returned" } th.num { "Weight (g)" } th.num { "Net sales" } th.num { "Tax" } th.num { "Refunds" } th.num { "Closing units" } } }
                    tbody {
                        @for r in rows {
                            tr {
                                td { (r.store_name) } td { (r.sku) } td { (r.product_name) } td.num { (r.units_sold) } td.num { (r.units_returned) }
                                td.num { (r.weight_sold_mg / 1000) "." (format!("{:03}", r.weight_sold_mg % 1000)) }
                                td.num { (money(r.net_sales_minor)) } td.num { (money(r.tax_minor)) } td.num { (money(r.refunds_minor)) } td.num { (r.closing_units) }
                            }
                        }
                    }
                    tfoot {
                        tr {
                            th colspan="3" { "Total (" (rows.len()) " rows)" }
                            td.num { (sum(|r| r.units_sold)) } td.num { (sum(|r| r.units_returned)) } td.num {}
                            td.num { (money(sum(|r| r.net_sales_minor))) } td.num { (money(sum(|r| r.tax_minor))) } td.num { (money(sum(|r| r.refunds_minor))) } td.num { (sum(|r| r.closing_units)) }
                        }
                    }
                }
            }
        }
        Err(e) => maud::html! { p.error role="alert" { (e.message) } },
    };
    dashboard_page(
        "Daily report",
        maud::html! {
            main.wide {
                section aria-labelledby="report-h" {
                    h1 #report-h { "Daily wholesaler report — " (date) }
                    form method="get" action="/hq/report" {
                        label for="date" { "Day (each store's local day)" }
                        input #date type="date" name="date" value=(date) required;
                        " " button type="submit" { "Show" }
                    }
                    (body)
                    p { a href="/hq" { "Back to the dashboard" } }
                }
            }
        },
    )
    .into_response()
}

#[derive(Deserialize)]
struct ProposalsPageQuery {
    /// The purchase order just issued, or the refusal, to show once.
    issued: Option<String>,
    error: Option<String>,
}

fn units_milli(v: i64) -> String {
    format!("{}.{:02}", v / 1000, (v % 1000) / 10)
}

/// Replenishment proposals per store, with one "approve" button per store.
async fn proposals_page(
    State(s): State<HqState>,
    headers: HeaderMap,
    q: Result<axum::extract::Query<ProposalsPageQuery>, axum::extract::rejection::QueryRejection>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let Some(p) = dashboard_principal(&s, &headers).await else {
        return sign_in_page();
    };
    let q = q.map(|q| q.0).unwrap_or(ProposalsPageQuery { issued: None, error: None });
    let rows = match blocking(&s.hq, move |hq| hq.proposals_for(&p, None, true)).await {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let mut stores: Vec<(&str, &str, &str, Vec<&stockade_hq::replenish::ProposalRow>)> = Vec::new();
    for r in &rows {
        match stores.last_mut() {
            Some((ret, st, _, v)) if *ret == r.retailer_id && *st == r.store_id => v.push(r),
            _ => stores.push((&r.retailer_id, &r.store_id, &r.store_name, vec![r])),
        }
    }
    dashboard_page(
        "Replenishment",
        maud::html! {
            main.wide {
                section aria-labelledby="proposals-h" {
                    h1 #proposals-h { "Replenishment proposals" }
                    @if let Some(po) = &q.issued { p #issued role="status" { "Purchase order " strong { (po) } " issued; the store receives it at its next sync." } }
                    @if let Some(e) = &q.error { p.error role="alert" { (e) } }
                    @if stores.is_empty() { p #no-proposals { "Nothing to approve. Run " code { "stockade forecast run" } " at HQ after sales arrive." } }
                    @for (retailer, store, name, lines) in &stores {
                        h2 { (name) " (" (retailer) ")" }
                        table.proposals {
                            thead { tr { th { "SKU" } th { "Product" } th { "Demand" } th.num { "Per day" } th.num { "Cover period" } th.num { "Order up to" } th.num { "On hand" } th.num { "In transit" } th.num { "Pack" } th.num { "Order" } } }
                            tbody {
                                @for r in lines {
                                    tr {
                                        td { (r.sku) } td { (r.product_name) } td { (r.class) } td.num { (units_milli(r.per_day_milli)) } td.num { (units_milli(r.cover_milli)) }
                                        td.num { (r.order_up_to) } td.num { (r.on_hand) } td.num { (r.in_transit) } td.num { (r.pack) } td.num { strong { (r.units) } }
                                    }
                                }
                            }
                        }
                        form method="post" action="/hq/proposals/approve" {
                            input type="hidden" name="retailer_id" value=(retailer);
                            input type="hidden" name="store_id" value=(store);
                            button type="submit" { "Approve " (lines.len()) " lines for " (name) }
                        }
                    }
                    p { a href="/hq" { "Back to the dashboard" } }
                }
            }
        },
    )
    .into_response()
}

#[derive(Deserialize)]
struct ApproveForm {
    retailer_id: String,
    store_id: String,
}

/// The page's "approve" button: every open proposal of one store.
async fn approve_form(
    State(s): State<HqState>,
    headers: HeaderMap,
    form: Result<axum::Form<ApproveForm>, axum::extract::rejection::FormRejection>,
) -> axum::response::Response {
    use axum::response::{IntoResponse, Redirect};
    let Some(p) = dashboard_principal(&s, &headers).await else {
        return sign_in_page();
    };
    let Ok(axum::Form(f)) = form else { return Redirect::to("/hq/proposals?error=the%20form%20was%20incomplete").into_response() };
    let encode = |v: &str| form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>();
    match blocking(&s.hq, move |hq| hq.approve(&p, &f.retailer_id, &f.store_id, &[])).await {
        Ok(po) => Redirect::to(&format!("/hq/proposals?issued={}", encode(&po.po_id))).into_response(),
        Err(e) => Redirect::to(&format!("/hq/proposals?error={}", encode(&e.message))).into_response(),
    }
}
