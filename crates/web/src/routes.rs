//! Handlers. Each one: extract, call one store use case, answer. DTOs specific to HTTP live here.

use crate::error::{ApiError, ErrorBody};
use crate::{ApiJson, ApiQuery, AppState, Auth, Manager};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use stockade_domain::catalog::ProductSpec;
use stockade_journal::event::Role;
use stockade_store::commands::*;
use stockade_store::queries::{self, EndOfDay, Product, ProductQuery, Receipt, StaffMember, Status, Till};
use stockade_store::Actor;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

type ApiResult<T> = Result<Json<T>, ApiError>;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(logout))
        .routes(routes!(pin_login))
        .routes(routes!(set_pin))
        .routes(routes!(me))
        .routes(routes!(status))
        .routes(routes!(list_products, create_product))
        .routes(routes!(get_product, update_product))
        .routes(routes!(change_price))
        .routes(routes!(by_barcode))
        .routes(routes!(receive))
        .routes(routes!(adjust))
        .routes(routes!(count))
        .routes(routes!(sell))
        .routes(routes!(get_sale))
        .routes(routes!(void_sale))
        .routes(routes!(return_items))
        .routes(routes!(list_tills, open_till))
        .routes(routes!(purchase_orders))
        .routes(routes!(close_till))
        .routes(routes!(end_of_day))
        .routes(routes!(list_staff, add_staff))
        .routes(routes!(journal))
        .routes(routes!(hq_evidence))
        .routes(routes!(quote_cart))
        .routes(routes!(add_customer))
        .routes(routes!(get_customer))
}

/// Prices a cart and meters every purchase limit without recording anything: the register calls
/// it as items are scanned.
#[utoipa::path(post, path = "/api/cart/quote", request_body = stockade_store::cart::CartQuoteRequest,
    responses((status = 200, body = stockade_store::cart::CartQuote), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn quote_cart(
    State(s): State<AppState>,
    Auth(_): Auth,
    ApiJson(req): ApiJson<stockade_store::cart::CartQuoteRequest>,
) -> ApiResult<stockade_store::cart::CartQuote> {
    let store = s.store.clone();
    Ok(Json(s.store.read_async(move |_| store.quote_cart(&req)).await?))
}

/// Head office pulls this store's journal to rebuild itself. Authenticated by HQ's signature
/// (the HQ key the store enrolled with), not by a staff session.
#[utoipa::path(get, path = "/api/journal",
    params(("from" = Option<u64>, Query, description = "First sequence number (default 1)")),
    responses((status = 200, description = "Entries (exact bytes) and the signed checkpoints they reach", body = Object),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn journal(
    State(s): State<AppState>,
    method: axum::http::Method,
    uri: axum::http::Uri,
    headers: axum::http::HeaderMap,
) -> ApiResult<stockade_sync::JournalPage> {
    use axum::http::StatusCode;
    hq_signed(&s, &method, &uri, &headers).await?;
    let from = match uri.query().unwrap_or("").split('&').find_map(|kv| kv.strip_prefix("from=")) {
        None => 1,
        Some(v) => v.parse().map_err(|_| ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", "from must be a sequence number"))?,
    };
    let store = s.store.clone();
    let (entries, checkpoints) = s.store.read_async(move |_| store.journal_page(from, 5000)).await?;
    let mut wire = Vec::with_capacity(entries.len());
    for (seq, bytes) in entries {
        let entry = String::from_utf8(bytes)
            .map_err(|_| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "a journal entry is not UTF-8: run `stockade store verify`"))?;
        wire.push(stockade_sync::WireEntry { seq, entry });
    }
    Ok(Json(stockade_sync::JournalPage { entries: wire, checkpoints }))
}

/// A request signed by the head office this store enrolled with (HQ's key in force).
async fn hq_signed(s: &AppState, method: &axum::http::Method, uri: &axum::http::Uri, headers: &axum::http::HeaderMap) -> Result<(), ApiError> {
    use axum::http::StatusCode;
    let unauthorized = |m: &str| ApiError::new(StatusCode::UNAUTHORIZED, "bad_request_signature", m.to_string());
    let store = s.store.clone();
    let cfg = s.store.read_async(move |_| store.sync_config()).await?;
    let hq_key = cfg
        .and_then(|c| stockade_journal::verifying_key_from_hex(&c.hq_public_key))
        .ok_or_else(|| ApiError::new(StatusCode::FORBIDDEN, "not_enrolled", "this store is not enrolled with a head office"))?;
    let h = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    if h(stockade_sync::HEADER_KEY) != hex::encode(hq_key.to_bytes()) {
        return Err(unauthorized("only the head office this store enrolled with may read its journal"));
    }
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or(uri.path());
    stockade_sync::verify_request(
        &hq_key,
        method.as_str(),
        path,
        &h(stockade_sync::HEADER_TIME),
        &h(stockade_sync::HEADER_SIGNATURE),
        &[],
        s.store.clock().now_ms(),
        stockade_sync::DEFAULT_MAX_SKEW_MS,
    )
    .map_err(|e| unauthorized(&e.to_string()))
}

/// What this store holds to vouch for its head office (the part of HQ's journal addressed to
/// it, the HQ keys it trusts, HQ's latest tree heads): HQ rebuilding itself from its stores
/// reads it. Authenticated by HQ's signature, like `/api/journal`.
#[utoipa::path(get, path = "/api/hq-evidence",
    responses((status = 200, description = "HQ entries, keys and tree heads, each signed by HQ", body = Object),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn hq_evidence(
    State(s): State<AppState>,
    method: axum::http::Method,
    uri: axum::http::Uri,
    headers: axum::http::HeaderMap,
) -> ApiResult<stockade_journal::backup::HqEvidence> {
    hq_signed(&s, &method, &uri, &headers).await?;
    let store = s.store.clone();
    Ok(Json(s.store.read_async(move |_| store.hq_evidence()).await?))
}

pub async fn openapi_json(State(state): State<AppState>) -> impl IntoResponse {
    Json(state.openapi.as_ref().clone())
}

#[derive(Deserialize, ToSchema)]
pub struct LoginRequest {
    username: String,
    password: String,
    /// false: answer the token only, leaving the browser's session as it is (a manager
    /// authorizing a void or return at a budtender's register).
    #[serde(default = "yes")]
    set_cookie: bool,
}

fn yes() -> bool {
    true
}

#[derive(Serialize, ToSchema)]
pub struct LoginResponse {
    /// Bearer token for `Authorization: Bearer …`; also set as an HttpOnly cookie.
    token: String,
    user: Actor,
}

/// Sign in; returns a session token.
#[utoipa::path(post, path = "/api/login", request_body = LoginRequest,
    responses((status = 200, body = LoginResponse), (status = 401, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn login(State(s): State<AppState>, ip: crate::ClientIp, ApiJson(req): ApiJson<LoginRequest>) -> Result<impl IntoResponse, ApiError> {
    let oversize = req.username.len() > 64 || req.password.chars().count() > 128;
    let from = s.limiter.address_tag(ip.0, s.store.clock().now_ms());
    let (store, username, password) = (s.store.clone(), req.username.clone(), req.password.clone());
    let attempt = async move { store.login_from(&username, &password, &from).await };
    let (token, user) = sign_in(&s, ip, "wrong username or password", oversize, attempt).await?;
    Ok(session_response(token, user, req.set_cookie))
}

/// Password and PIN sign-in alike: refused before any work when the address is throttled or
/// already has its sign-ins being checked, input too long to be real is a wrong credential, and
/// every wrong one counts against the address. Wrong, unknown and waiting all get one answer.
async fn sign_in(
    s: &AppState,
    ip: crate::ClientIp,
    wrong: &'static str,
    oversize: bool,
    attempt: impl std::future::Future<Output = Result<(String, Actor), stockade_store::StoreError>> + Send + 'static,
) -> Result<(String, Actor), ApiError> {
    if !s.limiter.admit(ip.0, crate::limits::Bucket::SignIn) {
        return Err(crate::orders::throttled());
    }
    let Some(place) = crate::limits::Limiter::sign_in_place(&s.limiter, ip.0) else {
        return Err(crate::orders::throttled());
    };
    // The check runs to its end in a task of its own, holding the address's place and counted
    // as a miss if wrong, even when the client hangs up midway: closing the connection must not
    // free the place while the hash still runs, nor skip the count.
    let state = s.clone();
    let checked = tokio::spawn(async move {
        let _place = place;
        let result = if oversize { Err(stockade_store::StoreError::Unauthorized) } else { attempt.await };
        if matches!(result, Err(stockade_store::StoreError::Unauthorized)) {
            crate::orders::missed(&state, ip.0, crate::limits::Bucket::SignIn).await;
        }
        result
    });
    match checked.await.map_err(|e| ApiError::from(stockade_store::StoreError::Io(e.to_string())))? {
        Ok(ok) => Ok(ok),
        Err(stockade_store::StoreError::Unauthorized) => Err(ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", wrong)),
        Err(other) => Err(other.into()),
    }
}

fn session_response(token: String, user: Actor, set_cookie: bool) -> Response {
    if !set_cookie {
        return Json(LoginResponse { token, user }).into_response();
    }
    let cookie = format!("{}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}", crate::SESSION_COOKIE, stockade_store::auth::SESSION_ABSOLUTE_MS / 1000);
    ([(axum::http::header::SET_COOKIE, cookie)], Json(LoginResponse { token, user })).into_response()
}

#[derive(Deserialize, ToSchema)]
pub struct PinLoginRequest {
    username: String,
    /// 4 to 8 digits, set by its owner with `PUT /api/me/pin`.
    pin: String,
}

/// Quick switch between budtenders at a shared till: username and PIN open a session and the
/// browser's previous session (if any) is signed out. Five wrong PINs in a row lock the PIN
/// until its owner signs in with their password.
#[utoipa::path(post, path = "/api/login/pin", request_body = PinLoginRequest,
    responses((status = 200, body = LoginResponse), (status = 401, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn pin_login(
    State(s): State<AppState>,
    ip: crate::ClientIp,
    parts: axum::http::request::Parts,
    ApiJson(req): ApiJson<PinLoginRequest>,
) -> Result<Response, ApiError> {
    let oversize = req.username.len() > 64 || req.pin.len() > 16;
    let from = s.limiter.address_tag(ip.0, s.store.clock().now_ms());
    let (store, username, pin) = (s.store.clone(), req.username.clone(), req.pin.clone());
    let attempt = async move { store.pin_login_from(&username, &pin, &from).await };
    let (token, user) = sign_in(&s, ip, "wrong username or PIN", oversize, attempt).await?;
    if let Some(previous) = crate::bearer_token(&parts) {
        if previous != token {
            s.store.logout(&previous).await?;
        }
    }
    Ok(session_response(token, user, true))
}

#[derive(Deserialize, ToSchema)]
pub struct SetPinRequest {
    /// The signed-in person's password, confirming it is them.
    #[schema(min_length = 1, max_length = 256)]
    password: String,
    /// 4 to 8 digits, not one digit repeated.
    #[schema(pattern = r"^[0-9]{4,8}$")]
    pin: String,
}

/// Set your own quick-switch PIN (4 to 8 digits).
#[utoipa::path(put, path = "/api/me/pin", request_body = SetPinRequest,
    responses((status = 204), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
async fn set_pin(State(s): State<AppState>, Auth(a): Auth, ApiJson(req): ApiJson<SetPinRequest>) -> Result<StatusCode, ApiError> {
    if req.password.len() > 256 {
        return Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "wrong_password", "the password is not right; the PIN was not changed"));
    }
    s.store.set_pin(&a, &req.password, &req.pin).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// End the current session.
#[utoipa::path(post, path = "/api/logout", responses((status = 204), (status = 401, body = ErrorBody)), security(("bearer" = [])))]
async fn logout(State(s): State<AppState>, req: axum::http::Request<axum::body::Body>) -> Result<StatusCode, ApiError> {
    let (parts, _) = req.into_parts();
    let token = crate::bearer_token(&parts).ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "not signed in"))?;
    s.store.authenticate(&token).await?;
    s.store.logout(&token).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Who am I.
#[utoipa::path(get, path = "/api/me", responses((status = 200, body = Actor), (status = 401, body = ErrorBody)), security(("bearer" = [])))]
async fn me(Auth(actor): Auth) -> Json<Actor> {
    Json(actor)
}

/// Journal head, checkpoints and replication state.
#[utoipa::path(get, path = "/api/status", responses((status = 200, body = Status), (status = 401, body = ErrorBody)), security(("bearer" = [])))]
async fn status(State(s): State<AppState>, Auth(_): Auth) -> ApiResult<Status> {
    let store = s.store.clone();
    Ok(Json(s.store.read_async(move |c| queries::status(c, &store)).await?))
}

/// Search the catalog by name, brand, category or SKU (or an exact barcode).
#[utoipa::path(get, path = "/api/products", params(ProductQuery),
    responses((status = 200, body = Vec<Product>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)), security(("bearer" = [])))]
async fn list_products(State(s): State<AppState>, Auth(_): Auth, ApiQuery(q): ApiQuery<ProductQuery>) -> ApiResult<Vec<Product>> {
    if q.limit.is_some_and(|l| !(1..=queries::MAX_PAGE).contains(&l)) || q.offset.is_some_and(|o| o > 1_000_000) {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", format!("limit is 1 to {}, offset 0 to 1,000,000", queries::MAX_PAGE)));
    }
    Ok(Json(s.store.read_async(move |c| queries::search_products(c, &q)).await?))
}

#[derive(Serialize, ToSchema)]
pub struct Created {
    id: String,
}

/// Create a product (manager).
#[utoipa::path(post, path = "/api/products", request_body = ProductSpec,
    responses((status = 201, body = Created), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
async fn create_product(State(s): State<AppState>, Manager(a): Manager, ApiJson(spec): ApiJson<ProductSpec>) -> Result<(StatusCode, Json<Created>), ApiError> {
    let id = s.store.create_product(&a, spec).await?;
    Ok((StatusCode::CREATED, Json(Created { id })))
}

/// One product with its stock on hand.
#[utoipa::path(get, path = "/api/products/{product_id}", params(("product_id" = String, Path)),
    responses((status = 200, body = Product), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
async fn get_product(State(s): State<AppState>, Auth(_): Auth, Path(id): Path<String>) -> ApiResult<Product> {
    Ok(Json(s.store.read_async(move |c| queries::load_product(c, &id)).await?))
}

/// Replace a product's record (manager).
#[utoipa::path(put, path = "/api/products/{product_id}", params(("product_id" = String, Path)), request_body = ProductSpec,
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
async fn update_product(
    State(s): State<AppState>,
    Manager(a): Manager,
    Path(id): Path<String>,
    ApiJson(spec): ApiJson<ProductSpec>,
) -> Result<StatusCode, ApiError> {
    s.store.update_product(&a, id, spec).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
pub struct PriceRequest {
    #[schema(minimum = 0, maximum = 100_000_000)]
    price_minor: i64,
}

/// Change a product's shelf price (manager).
#[utoipa::path(post, path = "/api/products/{product_id}/price", params(("product_id" = String, Path)), request_body = PriceRequest,
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
async fn change_price(
    State(s): State<AppState>,
    Manager(a): Manager,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<PriceRequest>,
) -> Result<StatusCode, ApiError> {
    s.store.change_price(&a, id, req.price_minor).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Look up a scanned barcode.
#[utoipa::path(get, path = "/api/barcodes/{gtin}", params(("gtin" = String, Path)),
    responses((status = 200, body = Product), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
async fn by_barcode(State(s): State<AppState>, Auth(_): Auth, Path(gtin): Path<String>) -> ApiResult<Product> {
    Ok(Json(s.store.read_async(move |c| queries::product_by_barcode(c, &gtin)).await?))
}

/// Receive stock against a supplier document (manager).
#[utoipa::path(post, path = "/api/stock/receive", request_body = ReceiveRequest,
    responses((status = 200, body = ReceiveResult), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
async fn receive(State(s): State<AppState>, Manager(a): Manager, ApiJson(req): ApiJson<ReceiveRequest>) -> ApiResult<ReceiveResult> {
    Ok(Json(s.store.receive(&a, req).await?))
}

#[derive(Serialize, ToSchema)]
pub struct AdjustResult {
    on_hand: i64,
}

/// Adjust stock with a reason code (manager).
#[utoipa::path(post, path = "/api/stock/adjust", request_body = AdjustRequest,
    responses((status = 200, body = AdjustResult), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
async fn adjust(State(s): State<AppState>, Manager(a): Manager, ApiJson(req): ApiJson<AdjustRequest>) -> ApiResult<AdjustResult> {
    Ok(Json(AdjustResult { on_hand: s.store.adjust(&a, req).await? }))
}

/// Record a physical count; stock is set to the counted quantities and variances are returned (manager).
#[utoipa::path(post, path = "/api/stock/count", request_body = CountRequest,
    responses((status = 200, body = CountResult), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
async fn count(State(s): State<AppState>, Manager(a): Manager, ApiJson(req): ApiJson<CountRequest>) -> ApiResult<CountResult> {
    Ok(Json(s.store.count(&a, req).await?))
}

/// Record a sale. Checks age and every purchase limit; a refusal lists each violated rule.
/// Send an `Idempotency-Key` header so that a retried request records one sale.
#[utoipa::path(post, path = "/api/sales", request_body = SaleRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retried sale one sale", pattern = r"^[\x21-\x7e]{1,128}$")),
    responses((status = 200, body = Receipt), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
async fn sell(State(s): State<AppState>, Auth(a): Auth, headers: HeaderMap, ApiJson(req): ApiJson<SaleRequest>) -> ApiResult<Receipt> {
    let key = match headers.get("idempotency-key") {
        Some(v) => Some(
            v.to_str()
                .map_err(|_| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_idempotency_key", "Idempotency-Key must be visible ASCII"))?
                .to_string(),
        ),
        None => None,
    };
    Ok(Json(s.store.sell(&a, req, key).await?))
}

/// A sale's receipt.
#[utoipa::path(get, path = "/api/sales/{sale_id}", params(("sale_id" = String, Path)),
    responses((status = 200, body = Receipt), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
async fn get_sale(State(s): State<AppState>, Auth(_): Auth, Path(id): Path<String>) -> ApiResult<Receipt> {
    let store = s.store.clone();
    Ok(Json(s.store.read_async(move |c| queries::load_receipt(c, &id, &store)).await?))
}

/// Void a whole sale while its till is open (manager).
#[utoipa::path(post, path = "/api/sales/{sale_id}/void", params(("sale_id" = String, Path)), request_body = VoidRequest,
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)), security(("bearer" = [])))]
async fn void_sale(State(s): State<AppState>, Manager(a): Manager, Path(id): Path<String>, ApiJson(req): ApiJson<VoidRequest>) -> Result<StatusCode, ApiError> {
    s.store.void_sale(&a, id, req).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Return items of a sale, refunded from an open till (manager).
#[utoipa::path(post, path = "/api/sales/{sale_id}/returns", params(("sale_id" = String, Path)), request_body = ReturnRequest,
    responses((status = 200, body = ReturnResult), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
async fn return_items(State(s): State<AppState>, Manager(a): Manager, Path(id): Path<String>, ApiJson(req): ApiJson<ReturnRequest>) -> ApiResult<ReturnResult> {
    Ok(Json(s.store.return_items(&a, id, req).await?))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TillQuery {
    /// Only open tills.
    open: Option<bool>,
}

/// Purchase orders approved at HQ, newest first: in transit until stock is received with the
/// order's id as the receipt's document (`POST /api/stock/receive`), then received (manager).
#[utoipa::path(get, path = "/api/purchase-orders", responses((status = 200, body = Vec<queries::PurchaseOrderView>), (status = 403, body = ErrorBody)), security(("bearer" = [])))]
async fn purchase_orders(State(s): State<AppState>, Manager(_): Manager) -> ApiResult<Vec<queries::PurchaseOrderView>> {
    Ok(Json(s.store.read_async(queries::list_purchase_orders).await?))
}

/// Tills, newest first.
#[utoipa::path(get, path = "/api/tills", params(TillQuery), responses((status = 200, body = Vec<Till>)), security(("bearer" = [])))]
async fn list_tills(State(s): State<AppState>, Auth(_): Auth, ApiQuery(q): ApiQuery<TillQuery>) -> ApiResult<Vec<Till>> {
    let open = q.open.unwrap_or(false);
    Ok(Json(s.store.read_async(move |c| queries::list_tills(c, open)).await?))
}

/// Open a till on a register with a cash float.
#[utoipa::path(post, path = "/api/tills", request_body = OpenTillRequest,
    responses((status = 200, body = TillResult), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
async fn open_till(State(s): State<AppState>, Auth(a): Auth, ApiJson(req): ApiJson<OpenTillRequest>) -> ApiResult<TillResult> {
    Ok(Json(s.store.open_till(&a, req).await?))
}

/// Close a till with the counted cash; returns expected cash and the variance.
#[utoipa::path(post, path = "/api/tills/{till_id}/close", params(("till_id" = String, Path)), request_body = CloseTillRequest,
    responses((status = 200, body = TillResult), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)), security(("bearer" = [])))]
async fn close_till(State(s): State<AppState>, Auth(a): Auth, Path(id): Path<String>, ApiJson(req): ApiJson<CloseTillRequest>) -> ApiResult<TillResult> {
    Ok(Json(s.store.close_till(&a, id, req).await?))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DayQuery {
    /// Local date, YYYY-MM-DD; today when omitted.
    #[param(format = Date)]
    date: Option<String>,
}

/// End-of-day report for a local date (manager).
#[utoipa::path(get, path = "/api/reports/end-of-day", params(DayQuery),
    responses((status = 200, body = EndOfDay), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
async fn end_of_day(State(s): State<AppState>, Manager(_): Manager, ApiQuery(q): ApiQuery<DayQuery>) -> ApiResult<EndOfDay> {
    let store = s.store.clone();
    let date = q.date.unwrap_or_else(|| stockade_store::apply::local_date(store.info().timezone, store.clock().now_ms()));
    Ok(Json(s.store.read_async(move |c| queries::end_of_day(c, &store, &date)).await?))
}

/// Staff accounts (manager).
#[utoipa::path(get, path = "/api/staff", responses((status = 200, body = Vec<StaffMember>), (status = 403, body = ErrorBody)), security(("bearer" = [])))]
async fn list_staff(State(s): State<AppState>, Manager(_): Manager) -> ApiResult<Vec<StaffMember>> {
    Ok(Json(s.store.read_async(queries::list_staff).await?))
}

#[derive(Deserialize, ToSchema)]
pub struct AddStaffRequest {
    #[schema(pattern = r"^[a-z0-9._-]{3,32}$")]
    username: String,
    #[schema(min_length = 1, max_length = 80, pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$")]
    display_name: String,
    /// budtender or manager
    #[schema(pattern = r"^(budtender|manager)$")]
    role: String,
    #[schema(min_length = 8, max_length = 128)]
    password: String,
}

/// Add a staff account (manager).
#[utoipa::path(post, path = "/api/staff", request_body = AddStaffRequest,
    responses((status = 201, body = Actor), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
async fn add_staff(State(s): State<AppState>, Manager(a): Manager, ApiJson(req): ApiJson<AddStaffRequest>) -> Result<(StatusCode, Json<Actor>), ApiError> {
    let role = Role::parse(&req.role).ok_or_else(|| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_role", "role is 'budtender' or 'manager'"))?;
    let actor = s.store.add_staff(&a, req.username, req.display_name, role, req.password).await?;
    Ok((StatusCode::CREATED, Json(actor)))
}

#[derive(Serialize, ToSchema)]
pub struct CustomerCreated {
    customer_id: String,
}

/// Record a customer (for orders and delivery). Sealed with the retailer's key; the ID number
/// is kept only as a keyed hash; deleted after the configured retention.
#[utoipa::path(post, path = "/api/customers", request_body = stockade_store::customers::CustomerInput,
    responses((status = 201, body = CustomerCreated), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
async fn add_customer(
    State(s): State<AppState>,
    Auth(a): Auth,
    ApiJson(req): ApiJson<stockade_store::customers::CustomerInput>,
) -> Result<(StatusCode, Json<CustomerCreated>), ApiError> {
    let customer_id = s.store.add_customer(&a, req).await?;
    Ok((StatusCode::CREATED, Json(CustomerCreated { customer_id })))
}

/// A customer's record (manager); each read is logged with who read it.
#[utoipa::path(get, path = "/api/customers/{customer_id}", params(("customer_id" = String, Path)),
    responses((status = 200, body = stockade_store::customers::CustomerRecord), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn get_customer(State(s): State<AppState>, Manager(a): Manager, Path(id): Path<String>) -> ApiResult<stockade_store::customers::CustomerRecord> {
    Ok(Json(s.store.customer(&a, &id).await?))
}
