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
const RECEIPT_JS: &str = include_str!("../assets/receipt.js");
const SHOP_JS: &str = include_str!("../assets/shop.js");
const ORDERS_JS: &str = include_str!("../assets/orders.js");
/// Products at or under this many units are listed as low stock.
const LOW_STOCK_UNITS: i64 = 10;

/// A script compiled into the binary, served as such.
fn script(body: &'static str) -> axum::routing::MethodRouter<AppState> {
    get(move || async move { ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8")], body) })
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/register") }))
        .route("/login", get(login_page))
        .route("/register", get(register_page))
        .route("/receipt/{sale_id}", get(receipt_page))
        .route("/backoffice", get(backoffice_page))
        .route("/track/{token}", get(track_page))
        .route("/shop", get(shop_page))
        .route("/orders", get(orders_page))
        .route("/assets/shop.js", script(SHOP_JS))
        .route("/assets/orders.js", script(ORDERS_JS))
        .route("/assets/app.css", get(|| async { ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], APP_CSS) }))
        .route("/assets/register.js", script(REGISTER_JS))
        .route("/assets/backoffice.js", script(BACKOFFICE_JS))
        .route("/assets/receipt.js", script(RECEIPT_JS))
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
                            a href="/orders" { "Online orders" }
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
    let switchable = match state.store.staff_with_pins().await {
        Ok(s) => s,
        Err(e) => return crate::error::ApiError::from(e).into_response(),
    };
    let Some(till) = till else {
        return page(
            "No open till",
            None,
            Some(&actor),
            html! { main.single { section {
                h1 { "No till is open" }
                p { "A manager opens a till with its counted float in the " a href="/backoffice" { "back office" } " before selling." }
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
                    details #switch-box {
                        summary { "Switch budtender" }
                        form #switch {
                            label for="switch-name" { "Who is selling" }
                            select #switch-name {
                                @for (username, display) in &switchable {
                                    option value=(username) selected[*username == actor.username] { (display) }
                                }
                            }
                            label for="switch-pin" { "PIN" }
                            input #switch-pin type="password" inputmode="numeric" autocomplete="off" required;
                            p.error #switch-error role="alert" {}
                            button type="submit" { "Switch" }
                        }
                    }
                    details #pin-box {
                        summary { "Set my PIN" }
                        form #my-pin {
                            label for="pin-password" { "My password" }
                            input #pin-password type="password" autocomplete="current-password" required;
                            label for="pin-new" { "New PIN (4 to 8 digits)" }
                            input #pin-new type="password" inputmode="numeric" autocomplete="off" required;
                            p #pin-result role="status" {}
                            button type="submit" { "Save PIN" }
                        }
                    }
                }
            }
            script src="/assets/register.js" {}
        },
    )
    .into_response()
}

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
    let loaded = state
        .store
        .read_async(move |c| {
            let receipt = stockade_store::queries::load_receipt(c, &sale_id, &store)?;
            // Refunds come out of the sale's till when it is still open, else any open register.
            let open = stockade_store::queries::list_tills(c, true)?;
            let till = open.iter().find(|t| t.till_id == receipt.till_id).or_else(|| open.iter().find(|t| t.register != "SIM")).map(|t| t.till_id.clone());
            Ok((receipt, till))
        })
        .await;
    let (receipt, refund_till) = match loaded {
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
                        tr {
                            td { (l.quantity) " × " (l.name) @if l.returned_quantity > 0 { " (" (l.returned_quantity) " returned)" } }
                            td.num { (money(l.net_minor)) }
                        }
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
                    @if receipt.refunded_minor > 0 {
                        tr { td { "Refunded" } td.num #refunded { (money(receipt.refunded_minor)) } }
                    }
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
                div.noprint.manager-actions {
                    @if let Some(till) = &refund_till {
                        @if receipt.lines.iter().any(|l| l.returned_quantity < l.quantity) {
                            section aria-labelledby="return-h" {
                                h2 #return-h { "Return items" }
                                p { "A manager authorizes a return; the refund is paid in cash from the open till." }
                                form #return data-sale=(receipt.sale_id) data-till=(till) {
                                    table {
                                        thead { tr { th { "Item" } th.num { "Units back" } th { "Restock" } } }
                                        tbody {
                                            @for l in receipt.lines.iter().filter(|l| l.returned_quantity < l.quantity) {
                                                tr {
                                                    td { label.inline for={"return-qty-" (l.line)} { (l.name) " (" (l.quantity - l.returned_quantity) " returnable)" } }
                                                    td.num { input.return-qty #{"return-qty-" (l.line)} data-line=(l.line) type="number" min="0" max=(l.quantity - l.returned_quantity) value="0"; }
                                                    td { input #{"restock-" (l.line)} type="checkbox" aria-label={"Restock " (l.name) " (unopened)"}; }
                                                }
                                            }
                                        }
                                    }
                                    label for="return-reason" { "Reason" }
                                    input #return-reason type="text" required;
                                    label for="return-user" { "Manager username" }
                                    input #return-user type="text" autocomplete="off" required;
                                    label for="return-password" { "Manager password" }
                                    input #return-password type="password" autocomplete="off" required;
                                    p.error #return-error role="alert" {}
                                    button type="submit" { "Refund" }
                                }
                            }
                        }
                    }
                    section aria-labelledby="void-h" {
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
                }
                script src="/assets/receipt.js" {}
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
            let low = stockade_store::queries::low_stock(c, LOW_STOCK_UNITS, 200)?;
            let staff = stockade_store::queries::list_staff(c)?;
            let today = stockade_store::apply::local_date(store.info().timezone, store.clock().now_ms());
            let eod = stockade_store::queries::end_of_day(c, &store, &today)?;
            let orders = stockade_store::queries::list_purchase_orders(c)?;
            Ok((tills, low, staff, eod, orders))
        })
        .await;
    let (tills, low, staff, eod, orders) = match data {
        Ok(d) => d,
        Err(e) => return crate::error::ApiError::from(e).into_response(),
    };
    let product_field = |id: &str| {
        html! {
            label for={(id) "-product"} { "Product (barcode, SKU or name)" }
            input #{(id) "-product"} type="text" autocomplete="off" required;
        }
    };
    page(
        "Back office",
        None,
        Some(&actor),
        html! {
            main {
                div.col {
                    section aria-labelledby="rcv-h" {
                        h1 #rcv-h { "Receive stock" }
                        form #receive {
                            label for="rcv-supplier" { "Supplier" }
                            input #rcv-supplier type="text" required;
                            label for="rcv-document" { "Supplier document (invoice, manifest)" }
                            input #rcv-document type="text" required;
                            (product_field("rcv"))
                            label for="rcv-qty" { "Units" }
                            input #rcv-qty type="number" min="1" required;
                            label for="rcv-lot" { "Lot" }
                            input #rcv-lot type="text";
                            label for="rcv-cost" { "Unit cost" }
                            input #rcv-cost type="text" inputmode="decimal";
                            p #receive-result role="status" {}
                            button type="submit" { "Receive" }
                        }
                    }
                    section aria-labelledby="po-h" {
                        h2 #po-h { "Purchase orders from HQ" }
                        @let open: Vec<_> = orders.iter().filter(|o| o.status == "in_transit").collect();
                        @if open.is_empty() { p { "None in transit." } }
                        @for o in open {
                            table.po {
                                caption { (o.po_id) " — receive with this number as the document" }
                                tbody { @for l in &o.lines { tr { td { (l.sku) } td { (l.name) } td.num { (l.units) } } } }
                            }
                        }
                    }
                    section aria-labelledby="adj-h" {
                        h2 #adj-h { "Adjust stock" }
                        form #adjust {
                            (product_field("adj"))
                            label for="adj-delta" { "Change in units (negative removes)" }
                            input #adj-delta type="number" required;
                            label for="adj-reason" { "Reason" }
                            select #adj-reason required {
                                @for r in stockade_domain::inventory::AdjustReason::ALL { option value=(r.as_str()) { (r.label()) } }
                            }
                            label for="adj-note" { "Note" }
                            input #adj-note type="text";
                            p #adjust-result role="status" {}
                            button type="submit" { "Adjust" }
                        }
                    }
                    section aria-labelledby="cnt-h" {
                        h2 #cnt-h { "Count" }
                        form #count {
                            (product_field("cnt"))
                            label for="cnt-counted" { "Units counted on the shelf" }
                            input #cnt-counted type="number" min="0" required;
                            p #count-result role="status" {}
                            button type="submit" { "Record count" }
                        }
                    }
                    section aria-labelledby="price-h" {
                        h2 #price-h { "Change a price" }
                        form #price {
                            (product_field("price"))
                            label for="price-new" { "New shelf price" }
                            input #price-new type="text" inputmode="decimal" required;
                            p #price-result role="status" {}
                            button type="submit" { "Change price" }
                        }
                    }
                }
                div.col {
                    section aria-labelledby="till-h" {
                        h2 #till-h { "Tills" }
                        @for t in tills.iter().filter(|t| t.register != "SIM") {
                            form.close-till data-till=(t.till_id) data-register=(t.register) {
                                p { "Register " (t.register) ": float " (money(t.float_minor)) ", cash sales " (money(t.cash_sales_minor)) ", refunds " (money(t.cash_refunds_minor)) }
                                label for={"counted-" (t.register)} { "Counted cash in " (t.register) }
                                input #{"counted-" (t.register)} type="text" inputmode="decimal" required;
                                p.close-result #{"close-result-" (t.register)} role="status" {}
                                button type="submit" { "Close till " (t.register) }
                            }
                        }
                        form #open-till {
                            h3 { "Open a till" }
                            label for="open-register" { "Register" }
                            input #open-register type="text" required placeholder="R1";
                            label for="open-float" { "Counted float" }
                            input #open-float type="text" inputmode="decimal" required;
                            p #open-result role="status" {}
                            button type="submit" { "Open till" }
                        }
                    }
                    section aria-labelledby="low-h" {
                        h2 #low-h { "Low stock (" (LOW_STOCK_UNITS) " units or fewer)" }
                        table #low-stock {
                            thead { tr { th { "Product" } th { "SKU" } th.num { "On hand" } } }
                            tbody { @for p in &low { tr { td { (p.spec.name) } td { (p.spec.sku) } td.num { (p.on_hand) } } } }
                        }
                    }
                    section aria-labelledby="eod-h" {
                        h2 #eod-h { "Today (" (eod.date) ")" }
                        table #eod {
                            tr { th { "Sales" } td.num { (eod.sales_count) } }
                            tr { th { "Voided" } td.num { (eod.voided_count) } }
                            tr { th { "Net of tax" } td.num { (money(eod.subtotal_minor)) } }
                            @for t in &eod.taxes { tr { th { (t.key) } td.num { (money(t.amount_minor)) } } }
                            tr { th { "Refunds" } td.num { (money(eod.refunds_minor)) } }
                            tr { th { "Total" } td.num { (money(eod.total_minor)) } }
                        }
                    }
                    section aria-labelledby="staff-h" {
                        h2 #staff-h { "Staff" }
                        table #staff {
                            thead { tr { th { "Name" } th { "Username" } th { "Role" } } }
                            tbody { @for m in &staff { tr { td { (m.display_name) } td { (m.username) } td { (m.role) @if !m.active { " (disabled)" } } } } }
                        }
                        form #add-staff {
                            h3 { "Add a person" }
                            label for="staff-name" { "Display name" }
                            input #staff-name type="text" required;
                            label for="staff-username" { "Username" }
                            input #staff-username type="text" autocomplete="off" required;
                            label for="staff-role" { "Role" }
                            select #staff-role { option value="budtender" { "Budtender" } option value="manager" { "Manager" } }
                            label for="staff-password" { "First password (8 characters or more)" }
                            input #staff-password type="password" autocomplete="new-password" required;
                            p #staff-result role="status" {}
                            button type="submit" { "Add" }
                        }
                    }
                }
            }
            script src="/assets/backoffice.js" {}
        },
    )
    .into_response()
}

/// The public tracking page: status and time window in the shop's local time, nothing else.
async fn track_page(State(state): State<AppState>, ip: crate::ClientIp, Path(token): Path<String>) -> Response {
    let tz = state.store.info().timezone;
    let local = |ms: i64| chrono::DateTime::from_timestamp_millis(ms).map(|t| t.with_timezone(&tz).format("%a %-d %b, %H:%M").to_string()).unwrap_or_default();
    match crate::orders::lookup(&state, ip.0, &token).await {
        Ok(t) => page(
            "Your order",
            None,
            None,
            html! { main.single { section aria-labelledby="track-h" {
                h1 #track-h { "Your order" }
                p #status { strong { (t.status_label) } }
                p #window { "Window: " (local(t.window_start_ms)) " – " (local(t.window_end_ms)) }
                p { "Updated " (local(t.updated_at_ms)) }
            } } },
        )
        .into_response(),
        Err(e) => {
            let status = e.status;
            let text =
                if status == StatusCode::TOO_MANY_REQUESTS { "Too many attempts from this address. Try again later." } else { "No order matches this link." };
            (status, page("Order tracking", None, None, html! { main.single { section { h1 { "Order tracking" } p #status { (text) } } } })).into_response()
        }
    }
}

/// The public shop: today's menu from live stock, and checkout for pickup or delivery.
async fn shop_page(State(state): State<AppState>) -> Response {
    let store = state.store.clone();
    let menu = match state.store.read_async(move |_| store.menu()).await {
        Ok(m) => m,
        Err(e) => return crate::error::ApiError::from(e).into_response(),
    };
    let name = state.store.info().name.clone();
    page(
        "Order online",
        None,
        None,
        html! {
            main {
                section aria-labelledby="menu-h" {
                    h1 #menu-h { (name) " — order online" }
                    p { "Prices include taxes. You must be of legal age; your ID is checked when you receive the order." }
                    form #order {
                        table #menu {
                            thead { tr { th { "Product" } th.num { "Price" } th.num { "Available" } th.num { "Quantity" } } }
                            tbody {
                                @for m in &menu {
                                    tr {
                                        td { label.inline for={"qty-" (m.product_id)} { (m.name) } " · " (m.brand) }
                                        td.num { (money(m.price_with_taxes_minor)) }
                                        td.num { (m.available) }
                                        td.num { input.qty #{"qty-" (m.product_id)} data-product=(m.product_id) type="number" min="0" max=(m.available) value="0"; }
                                    }
                                }
                            }
                        }
                        fieldset {
                            legend { "Pickup or delivery" }
                            label.inline { input type="radio" name="kind" value="pickup" checked; " Pickup at the store" } " "
                            label.inline { input type="radio" name="kind" value="delivery"; " Delivery" }
                        }
                        label for="c-name" { "Name" }
                        input #c-name type="text" autocomplete="name" required;
                        label for="c-birth" { "Date of birth" }
                        input #c-birth type="date" required;
                        label { input #c-age type="checkbox"; " I am of legal age and will show ID" }
                        label for="c-phone" { "Phone" }
                        input #c-phone type="text" autocomplete="tel";
                        label for="c-email" { "Email" }
                        input #c-email type="text" autocomplete="email";
                        label for="c-postal" { "Postal code (for delivery)" }
                        input #c-postal type="text" autocomplete="postal-code";
                        p.error #order-error role="alert" {}
                        button type="submit" { "Place order" }
                    }
                    div #placed hidden role="status" {
                        h2 { "Order placed" }
                        p { "Total " strong #placed-total {} " — you pay when you receive it." }
                        p { "Track it here (keep this link private): " a #placed-link href="#" {} }
                        p { "Code for the order's details: " strong #placed-code {} " (shown once)" }
                    }
                }
            }
            script src="/assets/shop.js" {}
        },
    )
    .into_response()
}

/// Staff: incoming online orders and their next steps.
async fn orders_page(State(state): State<AppState>, parts: Parts) -> Response {
    let actor = match signed_in(&state, &parts).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let store = state.store.clone();
    let data = state
        .store
        .read_async(move |c| {
            let orders = store.list_orders(None)?;
            let tills = stockade_store::queries::list_tills(c, true)?;
            Ok((orders, tills.into_iter().find(|t| t.register != "SIM").map(|t| t.till_id)))
        })
        .await;
    let (orders, till) = match data {
        Ok(d) => d,
        Err(e) => return crate::error::ApiError::from(e).into_response(),
    };
    let tz = state.store.info().timezone;
    let local = |ms: i64| chrono::DateTime::from_timestamp_millis(ms).map(|t| t.with_timezone(&tz).format("%H:%M").to_string()).unwrap_or_default();
    let steps = |kind: &str, status: &str| -> Vec<(&'static str, &'static str)> {
        match (kind, status) {
            (_, "placed") => vec![("accept", "Accept")],
            (_, "accepted") => vec![("pick", "Picked")],
            ("pickup", "picked") => vec![("ready", "Packed, ready for pickup")],
            ("delivery", "picked") => vec![("dispatch", "Out with the driver")],
            _ => vec![],
        }
    };
    page(
        "Online orders",
        None,
        Some(&actor),
        html! {
            main.wide {
                section aria-labelledby="orders-h" {
                    h1 #orders-h { "Online orders (" (orders.len()) " open)" }
                    @if orders.is_empty() { p { "No open orders." } }
                    @for o in &orders {
                        article.order #{"order-" (o.order_no)} {
                            h2 { "Order " (o.order_no) " · " (o.kind) " · " (o.status.replace('_', " ")) }
                            p { "Window " (local(o.window_start_ms)) "–" (local(o.window_end_ms)) " · total " (money(o.total_minor)) }
                            ul { @for l in &o.lines { li { (l.quantity) " × " (l.name) } } }
                            @for (action, label) in steps(&o.kind, &o.status) {
                                button type="button" data-order=(o.order_id) data-action=(action) { (label) } " "
                            }
                            @if o.status != "ready" && o.status != "out_for_delivery" {
                                button type="button" data-order=(o.order_id) data-action="cancel" { "Cancel" }
                            }
                            @if o.status == "ready" || o.status == "out_for_delivery" {
                                @if let Some(till) = &till {
                                    form.handover data-order=(o.order_id) data-till=(till) data-total=(o.total_minor) {
                                        label { input #{"age-" (o.order_id)} type="checkbox"; " Age checked on ID" }
                                        label for={"tender-" (o.order_id)} { "Paid by" }
                                        select #{"tender-" (o.order_id)} { option value="debit" { "Debit" } option value="cash" { "Cash (exact)" } option value="credit" { "Credit" } }
                                        " " button type="submit" { "Hand over" } " "
                                        button type="button" data-order=(o.order_id) data-action="refuse" { "Refuse (failed ID check)" }
                                    }
                                } @else {
                                    p.error { "Open a till to hand orders over." }
                                }
                            }
                            p.error #{"err-" (o.order_id)} role="alert" {}
                        }
                    }
                }
            }
            script src="/assets/orders.js" {}
        },
    )
    .into_response()
}
