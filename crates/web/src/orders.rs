//! Online orders over HTTP: the public menu, checkout and tracking; the staff's fulfilment.

use crate::error::{ApiError, ErrorBody};
use crate::limits::{Alarm, Bucket};
use crate::{ApiJson, ApiQuery, AppState, Auth, Manager};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;
use stockade_domain::orders::OrderAction;
use stockade_store::orders::{CompleteOrderRequest, MenuItem, OrderRequest, OrderView, PlacedOrder, Tracking};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

type ApiResult<T> = Result<Json<T>, ApiError>;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(menu))
        .routes(routes!(place_order, list_orders))
        .routes(routes!(track))
        .routes(routes!(track_details))
        .routes(routes!(order_action))
        .routes(routes!(handover))
        .routes(routes!(alerts))
}

/// The one answer for every token that does not open an order: byte for byte the same whether
/// the token is unknown, the code wrong or the order locked.
pub(crate) fn no_such_order() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no order matches this link")
}

pub(crate) fn throttled() -> ApiError {
    ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", "too many attempts from this address; try again later")
}

/// Counts a miss and raises the alert it calls for (in the journal, so HQ sees it too).
pub(crate) async fn missed(s: &AppState, ip: IpAddr, bucket: Bucket) {
    let alarm = s.limiter.miss(ip, bucket);
    let what = match bucket {
        Bucket::Tracking => "order tracking",
        Bucket::SignIn => "sign-in",
    };
    let message = match alarm {
        Alarm::None => return,
        Alarm::ClientBlocked => format!(
            "{what}: {} misses from one address ({}) within 10 minutes; that address is blocked for 15 minutes",
            crate::limits::CLIENT_MISSES,
            s.limiter.address_tag(ip, s.store.clock().now_ms())
        ),
        Alarm::Distributed(n) => format!("{what}: {n} misses from many addresses within 10 minutes (distributed guessing)"),
    };
    if let Err(e) = s.store.raise_alert("enumeration", message).await {
        tracing::error!(error = %e, "cannot record an enumeration alert");
    }
}

/// The public menu: what can be ordered now, with prices as the jurisdiction shows them.
#[utoipa::path(get, path = "/api/menu", responses((status = 200, body = Vec<MenuItem>)))]
async fn menu(State(s): State<AppState>) -> ApiResult<Vec<MenuItem>> {
    let store = s.store.clone();
    Ok(Json(s.store.read_async(move |_| store.menu()).await?))
}

/// Checkout (public): limits and age as at the register; stock reserved. The answer holds the
/// tracking token and the one-time code for details, shown this once.
#[utoipa::path(post, path = "/api/orders", request_body = OrderRequest,
    responses((status = 201, body = PlacedOrder), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn place_order(State(s): State<AppState>, ip: crate::ClientIp, ApiJson(req): ApiJson<OrderRequest>) -> Result<(StatusCode, Json<PlacedOrder>), ApiError> {
    match s.limiter.checkout(ip.0) {
        crate::limits::Checkout::Throttled => {
            return Err(ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", "too many orders from this address; try again later or call the store"))
        }
        crate::limits::Checkout::GoAndAlert(n) => {
            let message = format!("checkout: {n} order attempts within 10 minutes from all addresses (a flood?); see the open orders");
            if let Err(e) = s.store.raise_alert("order_flood", message).await {
                tracing::error!(error = %e, "cannot record an order flood alert");
            }
        }
        crate::limits::Checkout::Go => {}
    }
    Ok((StatusCode::CREATED, Json(s.store.place_order(req).await?)))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OrderQuery {
    /// `open` (default) or one status.
    #[param(pattern = r"^(open|placed|accepted|picked|ready|out_for_delivery|completed|cancelled|expired|refused)$")]
    status: Option<String>,
}

/// Orders for the staff to fulfil.
#[utoipa::path(get, path = "/api/orders", params(OrderQuery), responses((status = 200, body = Vec<OrderView>), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_orders(State(s): State<AppState>, Auth(_): Auth, ApiQuery(q): ApiQuery<OrderQuery>) -> ApiResult<Vec<OrderView>> {
    let store = s.store.clone();
    Ok(Json(s.store.read_async(move |_| store.list_orders(q.status.as_deref())).await?))
}

/// Public tracking: status and time window only. Rate limited per address.
#[utoipa::path(get, path = "/api/track/{token}", params(("token" = String, Path)),
    responses((status = 200, body = Tracking), (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn track(State(s): State<AppState>, ip: crate::ClientIp, Path(token): Path<String>) -> ApiResult<Tracking> {
    Ok(Json(lookup(&s, ip.0, &token).await?))
}

/// Shared by the JSON and the HTML tracking pages.
pub(crate) async fn lookup(s: &AppState, ip: IpAddr, token: &str) -> Result<Tracking, ApiError> {
    if !s.limiter.admit(ip, Bucket::Tracking) {
        return Err(throttled());
    }
    let (store, t) = (s.store.clone(), token.chars().take(128).collect::<String>());
    match s.store.read_async(move |_| store.track(&t)).await? {
        Some(t) => Ok(t),
        None => {
            missed(s, ip, Bucket::Tracking).await;
            Err(no_such_order())
        }
    }
}

/// The order's lines and total for whoever holds its one-time code (`X-Order-Code`). No
/// personal data even then.
#[utoipa::path(get, path = "/api/track/{token}/details", params(("token" = String, Path), ("x-order-code" = String, Header)),
    responses((status = 200, body = OrderView), (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn track_details(State(s): State<AppState>, ip: crate::ClientIp, Path(token): Path<String>, headers: HeaderMap) -> ApiResult<OrderView> {
    // Without a code there is nothing to check: a malformed request, answered before the
    // address's budget is spent on it.
    let Some(code) = headers.get("x-order-code").and_then(|v| v.to_str().ok()) else {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "missing_code", "send the order's one-time code in the X-Order-Code header"));
    };
    let code = code.chars().take(32).collect::<String>();
    if !s.limiter.admit(ip.0, Bucket::Tracking) {
        return Err(throttled());
    }
    let token: String = token.chars().take(128).collect();
    match s.store.track_details(&token, &code).await? {
        Some(v) => Ok(Json(v)),
        None => {
            missed(&s, ip.0, Bucket::Tracking).await;
            Err(no_such_order())
        }
    }
}

#[derive(Deserialize, Serialize, ToSchema, Default)]
pub struct ActionRequest {
    #[serde(default)]
    reason: String,
}

/// A fulfilment step: accept, pick, ready (pickup), dispatch (delivery), cancel, refuse.
#[utoipa::path(post, path = "/api/orders/{order_id}/{action}", params(("order_id" = String, Path), ("action" = String, Path)), request_body = ActionRequest,
    responses((status = 200, body = OrderView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn order_action(
    State(s): State<AppState>,
    Auth(a): Auth,
    Path((order_id, action)): Path<(String, String)>,
    ApiJson(req): ApiJson<ActionRequest>,
) -> ApiResult<OrderView> {
    let action = OrderAction::parse(&action).ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such order action"))?;
    Ok(Json(s.store.order_action(&a, order_id, action, req.reason).await?))
}

/// Hand-over at the counter or the door: age checked on ID, paid, recorded as a sale.
#[utoipa::path(post, path = "/api/orders/{order_id}/handover", params(("order_id" = String, Path)), request_body = CompleteOrderRequest,
    responses((status = 200, body = OrderView), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
async fn handover(State(s): State<AppState>, Auth(a): Auth, Path(order_id): Path<String>, ApiJson(req): ApiJson<CompleteOrderRequest>) -> ApiResult<OrderView> {
    Ok(Json(s.store.complete_order(&a, order_id, req).await?))
}

#[derive(Serialize, ToSchema)]
pub struct StoreAlert {
    at_ms: i64,
    kind: String,
    message: String,
}

/// The store's security alerts, newest first (manager).
#[utoipa::path(get, path = "/api/alerts", responses((status = 200, body = Vec<StoreAlert>), (status = 403, body = ErrorBody)), security(("bearer" = [])))]
async fn alerts(State(s): State<AppState>, Manager(_): Manager) -> ApiResult<Vec<StoreAlert>> {
    let store = s.store.clone();
    let rows = s.store.read_async(move |_| store.alerts(200)).await?;
    Ok(Json(rows.into_iter().map(|(at_ms, kind, message)| StoreAlert { at_ms, kind, message }).collect()))
}
