//! The browser register: server-rendered HTML (maud, escaped by construction) with one small
//! hand-written script. Assets are compiled into the binary: nothing is fetched from outside the
//! shop's LAN. Pages call the same JSON API as any client, with the session cookie.

use crate::{bearer_token, AppState};
use axum::extract::{Path, State};
use axum::http::{header, request::Parts, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use maud::{html, Markup, DOCTYPE};
use stockade_store::Actor;

pub(crate) const APP_CSS: &str = include_str!("../assets/app.css");
const REGISTER_JS: &str = include_str!("../assets/register.js");
const BACKOFFICE_JS: &str = include_str!("../assets/backoffice.js");
/// Products at or under this many units are listed as low stock.
const LOW_STOCK_UNITS: i64 = 10;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/register") }))
        .route("/login", get(login_page))
        .route("/register", get(register_page))
        .route("/receipt/{sale_id}", get(receipt_page))
        .route("/backoffice", get(backoffice_page))
        .route("/assets/app.css", get(|| async { ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], APP_CSS) }))
        .route("/assets/register.js", get(|| async { ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8")], REGISTER_JS) }))
        .route("/assets/backoffice.js", get(|| async { ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8")], BACKOFFICE_JS) }))
}

fn page(title: &str, body_attrs_till: Option<&str>, header_user: Option<&Actor>, content: Markup) -> Html<String> {
    Html(
        html! {
            (DOCTYPE)
            html lang="en" {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    title { (title) " — Stockade" }
                    link rel="stylesheet" href="/assets/app.css";
                }
                body data-till=[body_attrs_till] {
                    header {
                        strong { "Stockade" }
                        @if let Some(u) = header_user {
                            a href="/register" { "Register" }
                            a href="/backoffice" { "Back office" }
                            span { "Signed in: " (u.display_name) " (" (u.role.as_str()) ")" }
                        }
                    }
                    (content)
                }
            }
        }
        .into_string(),
    )
}

/// The signed-in staff member from the session cookie, or a redirect to the login page.
async fn signed_in(state: &AppState, parts: &Parts) -> Result<Actor, Response> {
    let token = bearer_token(parts).ok_or_else(|| Redirect::to("/login").into_response())?;
    state.store.authenticate(&token).await.map_err(|_| Redirect::to("/login").into_response())
}

async fn login_page() -> Html<String> {
    page(
        "Sign in",
        None,
        None,
        html! {
            main.single {
                section {
                    h1 { "Sign in" }
                    form #login {
                        label for="username" { "Username" }
                        input #username type="text" name="username" autocomplete="username" autofocus required;
                        label for="password" { "Password" }
                        input #password type="password" name="password" autocomplete="current-password" required;
                        p.error #error role="alert" {}
                        button type="submit" { "Sign in" }
                    }
                }
            }
            script {
                (maud::PreEscaped(r#"
document.getElementById("login").addEventListener("submit", async (e) => {
  e.preventDefault();
  const r = await fetch("/api/login", { method: "POST", credentials: "same-origin", headers: { "content-type": "application/json" },
    body: JSON.stringify({ username: document.getElementById("username").value, password: document.getElementById("password").value }) });
  if (r.ok) { location.href = "/register"; return; }
  let msg = "Sign-in failed.";
  try { msg = (await r.json()).error.message; } catch (_) {}
  document.getElementById("error").textContent = msg;
});"#))
            }
        },
    )
}

async fn register_page(State(state): State<AppState>, parts: Parts) -> Response {
    let actor = match signed_in(&state, &parts).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let tills = match state.store.read_async(|c| stockade_store::queries::list_tills(c, true)).await {
        Ok(t) => t,
        Err(e) => return crate::error::ApiError::from(e).into_response(),
    };
    let till = tills.into_iter().find(|t| t.register != "SIM");
    let Some(till) = till else {
        return page(
            "No open till",
            None,
            Some(&actor),
            html! { main.single { section {
                h1 { "No till is open" }
                p { "A manager opens a till with its counted float in the back office (POST /api/tills) before selling." }
            } } },
        )
        .into_response();
    };
    page(
        "Register",
        Some(&till.till_id),
        Some(&actor),
        html! {
            div.banner.ok #banner role="status" aria-live="polite" { "Checking head office…" }
            main {
                section aria-labelledby="cart-h" {
                    h1 #cart-h { "Register " (till.register) }
                    label for="scan" { "Scan a barcode or search by name, brand or category, then Enter" }
                    input #scan type="search" autocomplete="off" autofocus;
                    ul.results #results {}
                    table aria-label="Cart" {
                        thead { tr { th { "Item" } th.num { "Qty" } th.num { "Total" } th { span.noprint { "" } } } }
                        tbody #cart-body {}
                    }
                }
                section aria-labelledby="pay-h" {
                    h2 #pay-h { "Purchase limits" }
                    div #limits {}
                    table {
                        tr { th { "Subtotal" } td.num #subtotal { "$0.00" } }
                        tr { th { "Tax" } td.num #tax { "$0.00" } }
                        tr { th { "Total" } td.num.total #total { "$0.00" } }
                    }
                    form #checkout {
                        label { input #age type="checkbox"; " Customer's age checked on ID" }
                        label for="cash" { "Cash received" }
                        input #cash type="text" inputmode="decimal" autocomplete="off";
                        p.error #error role="alert" aria-live="assertive" {}
                        button #pay type="submit" { "Complete sale" }
                    }
                }
            }
            script src="/assets/register.js" {}
        },
    )
    .into_response()
}

/// Voids with a manager's credentials without touching the budtender's session: the manager's
/// token is used for this one request and then signed out.
const VOID_JS: &str = r#"
document.getElementById("void").addEventListener("submit", async (e) => {
  e.preventDefault();
  const f = e.target, err = document.getElementById("void-error");
  err.textContent = "";
  const json = { "content-type": "application/json" };
  const l = await fetch("/api/login", { method: "POST", headers: json, credentials: "omit",
    body: JSON.stringify({ username: document.getElementById("void-user").value, password: document.getElementById("void-password").value, set_cookie: false }) });
  const who = await l.json().catch(() => null);
  if (!l.ok) { err.textContent = who && who.error ? who.error.message : "Sign-in failed."; return; }
  const auth = { ...json, authorization: "Bearer " + who.token };
  const v = await fetch("/api/sales/" + encodeURIComponent(f.dataset.sale) + "/void", { method: "POST", headers: auth, credentials: "omit",
    body: JSON.stringify({ reason: document.getElementById("void-reason").value }) });
  const out = await v.json().catch(() => null);
  fetch("/api/logout", { method: "POST", headers: auth, credentials: "omit" });
  if (!v.ok) { err.textContent = out && out.error ? out.error.message : "The void failed."; return; }
  location.reload();
});"#;

fn money(minor: i64) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    format!("{sign}${}.{:02}", minor.abs() / 100, minor.abs() % 100)
}

async fn receipt_page(State(state): State<AppState>, Path(sale_id): Path<String>, parts: Parts) -> Response {
    let actor = match signed_in(&state, &parts).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let store = state.store.clone();
    let receipt = match state.store.read_async(move |c| stockade_store::queries::load_receipt(c, &sale_id, &store)).await {
        Ok(r) => r,
        Err(stockade_store::StoreError::NotFound { .. }) => return (StatusCode::NOT_FOUND, "no such sale").into_response(),
        Err(e) => return crate::error::ApiError::from(e).into_response(),
    };
    page(
        "Receipt",
        None,
        Some(&actor),
        html! {
            div.receipt #receipt {
                p { strong { (receipt.store_name) } br; "Sale " (receipt.sale_no) " · " (receipt.recorded_at_local) }
                @if receipt.status != "completed" { p { strong { "VOIDED" } } }
                table {
                    @for l in &receipt.lines {
                        tr { td { (l.quantity) " × " (l.name) } td.num { (money(l.net_minor)) } }
                    }
                    tr { td { "Subtotal" } td.num { (money(receipt.subtotal_minor)) } }
                    @for t in &receipt.taxes {
                        tr { td { (t.label) } td.num { (money(t.amount_minor)) } }
                    }
                    tr { td { strong { "Total" } } td.num #receipt-total { strong { (money(receipt.total_minor)) } } }
                    @for t in &receipt.tenders {
                        tr { td { "Paid " (t.kind) } td.num { (money(t.amount_minor)) } }
                    }
                    tr { td { strong { "Change" } } td.num #change { strong { (money(receipt.change_minor)) } } }
                }
                @if !receipt.limits.is_empty() {
                    p { "Purchase limits used:" }
                    ul { @for u in &receipt.limits { li { (u.label) ": " (u.used) " / " (u.max) " " (u.unit) } } }
                }
            }
            p.noprint style="text-align:center" {
                button type="button" onclick="window.print()" { "Print" } " "
                a #next href="/register" { "Next customer" }
            }
            @if receipt.status == "completed" {
                section.noprint style="max-width:24rem;margin:1rem auto" aria-labelledby="void-h" {
                    h2 #void-h { "Void this sale" }
                    p { "A manager authorizes a void with their own credentials." }
                    form #void data-sale=(receipt.sale_id) {
                        label for="void-user" { "Manager username" }
                        input #void-user type="text" autocomplete="off" required;
                        label for="void-password" { "Manager password" }
                        input #void-password type="password" autocomplete="off" required;
                        label for="void-reason" { "Reason" }
                        input #void-reason type="text" required;
                        p.error #void-error role="alert" {}
                        button type="submit" { "Void sale" }
                    }
                }
                script { (maud::PreEscaped(VOID_JS)) }
            }
        },
    )
    .into_response()
}

async fn backoffice_page(State(state): State<AppState>, parts: Parts) -> Response {
    let actor = match signed_in(&state, &parts).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    if actor.require_manager().is_err() {
        return page(
            "Back office",
            None,
            Some(&actor),
            html! { main.single { section { h1 { "Back office" } p.error { "The back office needs a manager." } } } },
        )
        .into_response();
    }
    let store = state.store.clone();
    let data = state
        .store
        .read_async(move |c| {
            let tills = stockade_store::queries::list_tills(c, true)?;
            let q = stockade_store::queries::ProductQuery { limit: Some(200), ..Default::default() };
            let low: Vec<_> = stockade_store::queries::search_products(c, &q)?.into_iter().filter(|p| p.on_hand <= LOW_STOCK_UNITS).collect();
            let today = stockade_store::apply::local_date(store.info().timezone, store.clock().now_ms());
            let eod = stockade_store::queries::end_of_day(c, &store, &today)?;
            Ok((tills, low, eod))
        })
        .await;
    let (tills, low, eod) = match data {
        Ok(d) => d,
        Err(e) => return crate::error::ApiError::from(e).into_response(),
    };
    page(
        "Back office",
        None,
        Some(&actor),
        html! {
            main {
                section aria-labelledby="rcv-h" {
                    h1 #rcv-h { "Receive stock" }
                    form #receive {
                        label for="rcv-supplier" { "Supplier" }
                        input #rcv-supplier type="text" required;
                        label for="rcv-document" { "Supplier document (invoice, manifest)" }
                        input #rcv-document type="text" required;
                        label for="rcv-product" { "Product (barcode, SKU or name)" }
                        input #rcv-product type="text" required;
                        label for="rcv-qty" { "Units" }
                        input #rcv-qty type="number" min="1" required;
                        label for="rcv-lot" { "Lot" }
                        input #rcv-lot type="text";
                        label for="rcv-cost" { "Unit cost" }
                        input #rcv-cost type="text" inputmode="decimal";
                        p #receive-result role="status" {}
                        button type="submit" { "Receive" }
                    }
                    h2 { "Low stock (" (LOW_STOCK_UNITS) " units or fewer)" }
                    table #low-stock {
                        thead { tr { th { "Product" } th { "SKU" } th.num { "On hand" } } }
                        tbody { @for p in &low { tr { td { (p.spec.name) } td { (p.spec.sku) } td.num { (p.on_hand) } } } }
                    }
                }
                section aria-labelledby="till-h" {
                    h2 #till-h { "Tills" }
                    @for t in tills.iter().filter(|t| t.register != "SIM") {
                        form #close-till data-till=(t.till_id) {
                            p { "Register " (t.register) ": float " (money(t.float_minor)) ", cash sales " (money(t.cash_sales_minor)) ", refunds " (money(t.cash_refunds_minor)) }
                            label for="counted" { "Counted cash" }
                            input #counted type="text" inputmode="decimal" required;
                            p #close-result role="status" {}
                            button type="submit" { "Close till" }
                        }
                    }
                    h2 { "Today (" (eod.date) ")" }
                    table #eod {
                        tr { th { "Sales" } td.num { (eod.sales_count) } }
                        tr { th { "Voided" } td.num { (eod.voided_count) } }
                        tr { th { "Net of tax" } td.num { (money(eod.subtotal_minor)) } }
                        @for t in &eod.taxes { tr { th { (t.key) } td.num { (money(t.amount_minor)) } } }
                        tr { th { "Refunds" } td.num { (money(eod.refunds_minor)) } }
                        tr { th { "Total" } td.num { (money(eod.total_minor)) } }
                    }
                }
            }
            script src="/assets/backoffice.js" {}
        },
    )
    .into_response()
}
