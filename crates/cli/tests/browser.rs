//! The register in a real headless Chromium, driven over WebDriver (Debian's `chromium` and
//! `chromium-driver`): sign in, sell by barcode with the keyboard, watch the limit meter, get a
//! refusal for an over-limit cart, tender cash, see the change on the receipt; in the back office,
//! receive stock and close the till with a variance. Screenshots go to
//! `target/screenshots/`. Skips outside CI when chromedriver is not installed.

mod common;
use base64::Engine;
use common::*;
use serde_json::{json, Value};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const ENTER: &str = "\u{E007}";
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

struct Browser {
    http: reqwest::blocking::Client,
    base: String,
    driver: Child,
}

impl Browser {
    fn start() -> Option<Browser> {
        let exe = ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"].into_iter().find(|p| std::path::Path::new(p).exists());
        let Some(exe) = exe else {
            if std::env::var("CI").is_ok() {
                panic!("CI must run the browser tests: install chromium and chromium-driver");
            }
            eprintln!("skipping: chromedriver is not installed (outside CI only)");
            return None;
        };
        let port = free_addr().rsplit(':').next().unwrap().to_string();
        let driver = Command::new(exe).arg(format!("--port={port}")).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        let http = reqwest::blocking::Client::builder().timeout(Duration::from_secs(60)).build().unwrap();
        let root = format!("http://127.0.0.1:{port}");
        let since = Instant::now();
        while http.get(format!("{root}/status")).send().is_err() {
            assert!(since.elapsed() < Duration::from_secs(20), "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        let caps = json!({"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
            "binary": "/usr/bin/chromium", "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1024,768",
                "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"]}}}});
        let s: Value = http.post(format!("{root}/session")).json(&caps).send().unwrap().json().unwrap();
        let id = s["value"]["sessionId"].as_str().unwrap_or_else(|| panic!("no session: {s}")).to_string();
        Some(Browser { http, base: format!("{root}/session/{id}"), driver })
    }
    fn cmd(&self, method: &str, path: &str, body: Value) -> Value {
        let url = format!("{}{path}", self.base);
        let r = match method {
            "GET" => self.http.get(url).send(),
            _ => self.http.post(url).json(&body).send(),
        };
        r.unwrap().json::<Value>().unwrap()["value"].clone()
    }
    fn go(&self, url: &str) {
        self.cmd("POST", "/url", json!({ "url": url }));
    }
    fn find(&self, css: &str) -> Option<String> {
        let v = self.cmd("POST", "/element", json!({"using": "css selector", "value": css}));
        v[ELEMENT].as_str().map(str::to_string)
    }
    fn wait(&self, css: &str) -> String {
        let since = Instant::now();
        loop {
            if let Some(e) = self.find(css) {
                return e;
            }
            assert!(since.elapsed() < Duration::from_secs(10), "{css} never appeared");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    fn text(&self, css: &str) -> String {
        let e = self.wait(css);
        self.cmd("GET", &format!("/element/{e}/text"), Value::Null).as_str().unwrap_or("").to_string()
    }
    fn wait_text(&self, css: &str, cond: impl Fn(&str) -> bool) -> String {
        let since = Instant::now();
        loop {
            let t = self.text(css);
            if cond(&t) {
                return t;
            }
            assert!(since.elapsed() < Duration::from_secs(10), "{css} text never matched; last: {t:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    fn type_into(&self, css: &str, text: &str) {
        let e = self.wait(css);
        self.cmd("POST", &format!("/element/{e}/value"), json!({ "text": text }));
    }
    /// Types into whatever has the focus, as a barcode scanner or a person at the keyboard does.
    fn keys(&self, text: &str) {
        let e = self.cmd("GET", "/element/active", Value::Null)[ELEMENT].as_str().unwrap().to_string();
        self.cmd("POST", &format!("/element/{e}/value"), json!({ "text": text }));
    }
    fn click(&self, css: &str) {
        let e = self.wait(css);
        self.cmd("POST", &format!("/element/{e}/click"), json!({}));
    }
    fn eval(&self, script: &str) -> Value {
        self.cmd("POST", "/execute/sync", json!({ "script": script, "args": [] }))
    }
    /// The page fits the 1024×768 window: nothing needs scrolling sideways.
    fn fits_width(&self, page: &str) {
        let v = self.eval("return [document.documentElement.scrollWidth, window.innerWidth];");
        let (content, window) = (v[0].as_i64().unwrap(), v[1].as_i64().unwrap());
        assert!(window <= 1024, "the window is 1024 wide at most: {window}");
        assert!(content <= window, "{page} is {content} px wide in a {window} px window");
    }
    fn url(&self) -> String {
        self.cmd("GET", "/url", Value::Null).as_str().unwrap_or("").to_string()
    }
    fn screenshot(&self, name: &str) {
        let png = base64::engine::general_purpose::STANDARD.decode(self.cmd("GET", "/screenshot", Value::Null).as_str().unwrap()).unwrap();
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        println!("screenshot: {}", path.display());
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.http.delete(&self.base).send();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

#[test]
fn a_budtender_sells_by_barcode_with_the_keyboard_and_the_limit_meter_refuses_an_over_limit_cart() {
    let Some(browser) = Browser::start() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let store_dir = tmp.path().join("store");
    let s = store_dir.to_str().unwrap();
    stocked_store(&store_dir, "CA-ON", "20", &[]);
    let (mut store, url) = start_store(&store_dir, &[]);
    let client = reqwest::blocking::Client::new();
    let token = login(&client, &url);
    let _ = till_and_product(&client, &url, &token); // opens register R1

    // Sign in.
    browser.go(&format!("{url}/register"));
    browser.wait("#username");
    assert!(browser.url().ends_with("/login"), "the register needs a session");
    browser.type_into("#username", "manager");
    browser.type_into("#password", &format!("{PASSWORD}{ENTER}"));
    browser.wait("#scan");

    // Scan a 28 g jar: the dried-cannabis meter fills to 28 of 30 g.
    browser.keys(&format!("6280000000031{ENTER}"));
    browser.wait_text("#cart-body", |t| t.contains("Gelato 28g"));
    browser.wait_text("#limits", |t| t.contains("28000 / 30000"));
    // A 3.5 g pack on top: over the limit, refused with the excess, before any payment.
    browser.keys(&format!("6280000000017{ENTER}"));
    let err = browser.wait_text("#error", |t| t.contains("over by"));
    assert!(err.contains("1500"), "the refusal names the excess: {err}");
    browser.screenshot("register-over-limit");
    // Paying anyway is refused by the store too.
    browser.click("#age");
    browser.type_into("#cash", &format!("300{ENTER}"));
    browser.wait_text("#error", |t| t.contains("over by"));
    // Remove the extra pack; the error clears and the sale goes through.
    browser.click("#cart-body tr:nth-child(2) button");
    browser.wait_text("#error", |t| t.is_empty());
    browser.wait_text("#total", |t| t == "$225.99");
    browser.screenshot("register-cart");
    browser.fits_width("the register");
    browser.click("#pay");
    let change = browser.wait_text("#change", |t| !t.is_empty());
    assert_eq!(change, "$74.01", "300.00 - 225.99");
    assert!(browser.url().contains("/receipt/"));
    assert!(browser.text("#receipt").contains("HST"), "taxes itemized as Ontario requires");
    browser.screenshot("receipt");

    browser.fits_width("the receipt");

    // Back office: receive stock against a supplier document, adjust, count, change a price,
    // add a person, open a second till, close the first with a variance.
    browser.go(&format!("{url}/backoffice"));
    browser.fits_width("the back office");
    browser.type_into("#rcv-supplier", "Ontario Cannabis Store");
    browser.type_into("#rcv-document", "OCS-INV-7731");
    browser.type_into("#rcv-product", "6280000000031");
    browser.type_into("#rcv-qty", "5");
    browser.type_into("#rcv-lot", "LOT-2026-11");
    browser.type_into("#rcv-cost", &format!("120.00{ENTER}"));
    let received = browser.wait_text("#receive-result", |t| !t.is_empty());
    assert!(received.contains("Received 5 × Gelato 28g on OCS-INV-7731"), "{received}");
    // A damaged jar written off: 24 → 23.
    browser.type_into("#adj-product", "6280000000031");
    browser.type_into("#adj-delta", "-1");
    browser.type_into("#adj-note", &format!("crushed lid{ENTER}"));
    let adjusted = browser.wait_text("#adjust-result", |t| !t.is_empty());
    assert!(adjusted.contains("by -1 (Damaged): 23 on hand"), "{adjusted}");
    // A count finds 21 on the shelf: variance -2.
    browser.type_into("#cnt-product", "6280000000031");
    browser.type_into("#cnt-counted", &format!("21{ENTER}"));
    let counted = browser.wait_text("#count-result", |t| !t.is_empty());
    assert!(counted.contains("expected 23, counted 21, variance -2"), "{counted}");
    // A refused adjustment says why in the page: more units out than there are.
    browser.type_into("#adj-delta", "\u{E009}a\u{E009}\u{E017}-500");
    browser.click("#adjust button");
    let refused = browser.wait_text("#adjust-result", |t| t.contains("in stock"));
    assert!(refused.contains("only 21 of 'Gelato 28g' in stock; 500 requested"), "{refused}");
    assert_eq!(browser.eval("return document.getElementById('adjust-result').className;"), "error");
    // A price change.
    browser.type_into("#price-product", "FLW-003");
    browser.type_into("#price-new", &format!("209.99{ENTER}"));
    let priced = browser.wait_text("#price-result", |t| !t.is_empty());
    assert!(priced.contains("→ $209.99"), "{priced}");
    // A new budtender.
    browser.type_into("#staff-name", "Alex Doe");
    browser.type_into("#staff-username", "alex");
    browser.type_into("#staff-password", &format!("alex password 1{ENTER}"));
    browser.wait_text("#staff", |t| t.contains("Alex Doe"));
    // A second till.
    browser.type_into("#open-register", "R2");
    browser.type_into("#open-float", &format!("150{ENTER}"));
    browser.wait("#counted-R2");
    // Cash kept: 225.99 on a zero float. Counted 220.00: 5.99 short.
    browser.type_into("#counted-R1", &format!("220.00{ENTER}"));
    let closed = browser.wait_text("#close-result-R1", |t| !t.is_empty());
    assert!(closed.contains("Expected $225.99") && closed.contains("variance -$5.99"), "{closed}");
    browser.screenshot("backoffice");

    kill(&mut store);
    let db = rusqlite::Connection::open_with_flags(store_dir.join("store.db"), rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let sales: i64 = db.query_row("SELECT COUNT(*) FROM sales", [], |r| r.get(0)).unwrap();
    assert_eq!(sales, 1, "one sale, nothing from the refused attempt");
    let (on_hand, price): (i64, i64) =
        db.query_row("SELECT on_hand, price_minor FROM products WHERE sku = 'FLW-003'", [], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
    assert_eq!(on_hand, 21, "received 20, sold 1, received 5, damaged 1, counted 21");
    assert_eq!(price, 20999);
    let kinds: Vec<String> =
        db.prepare("SELECT kind FROM journal ORDER BY seq DESC LIMIT 6").unwrap().query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect();
    assert_eq!(kinds, ["till_closed", "till_opened", "staff_added", "price_changed", "stock_counted", "stock_adjusted"], "each action is one journal entry");
    let variance: i64 = db.query_row("SELECT variance_minor FROM tills WHERE register = 'R1'", [], |r| r.get(0)).unwrap();
    assert_eq!(variance, -599);
    run_ok(&["store", "verify", "--data", s], &[]);
}

#[test]
fn the_register_keeps_selling_with_hq_down_and_the_hq_dashboard_shows_the_sale_after_reconnect() {
    let Some(browser) = Browser::start() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let pair = hq_and_store(tmp.path(), "CA-ON", "20", &[]);
    let hq_addr = free_addr();
    let hq_args = ["hq", "serve", "--data", pair.h(), "--listen", &hq_addr];
    let (mut hq, hq_url) = serve(&hq_args, &[]);
    run_ok(&["store", "enroll", "--data", pair.s(), "--hq", &hq_url, "--code", &pair.code], &[]);
    kill(&mut hq); // head office goes down
    let (mut store, url) = start_store(&pair.store_dir, &[]);
    let client = reqwest::blocking::Client::new();
    let token = login(&client, &url);
    let _ = till_and_product(&client, &url, &token);
    let r = client
        .post(format!("{url}/api/staff"))
        .bearer_auth(&token)
        .json(&json!({"username": "sam", "display_name": "Sam", "role": "budtender", "password": "budtender password"}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);

    // A budtender at the register.
    browser.go(&format!("{url}/login"));
    browser.type_into("#username", "sam");
    browser.type_into("#password", &format!("budtender password{ENTER}"));
    browser.wait("#scan");
    let banner = browser.wait_text("#banner", |t| t.contains("unreachable"));
    assert!(banner.contains("selling normally") && banner.contains("waiting to sync"), "{banner}");
    browser.keys(&format!("6280000000222{ENTER}"));
    browser.wait_text("#total", |t| t == "$14.68");
    browser.screenshot("register-hq-down");
    browser.click("#age");
    browser.type_into("#cash", &format!("20{ENTER}"));
    assert_eq!(browser.wait_text("#change", |t| !t.is_empty()), "$5.32", "the sale succeeds with HQ down");
    let first_receipt = browser.url();

    // Quick switch on the shared till: Sam sets a PIN at the register; the manager has one too.
    browser.go(&format!("{url}/register"));
    browser.click("#pin-box summary");
    browser.type_into("#pin-password", "budtender password");
    browser.type_into("#pin-new", &format!("2468{ENTER}"));
    browser.wait_text("#pin-result", |t| t.contains("PIN saved"));
    let r = client.put(format!("{url}/api/me/pin")).bearer_auth(&token).json(&json!({"password": PASSWORD, "pin": "13579"})).send().unwrap();
    assert_eq!(r.status(), 204);
    browser.go(&format!("{url}/register"));
    browser.click("#switch-box summary");
    browser.eval("document.getElementById('switch-name').value = 'manager';");
    browser.type_into("#switch-pin", &format!("0000{ENTER}"));
    let wrong = browser.wait_text("#switch-error", |t| !t.is_empty());
    assert!(wrong.contains("wrong username or PIN"), "{wrong}");
    assert!(browser.text("header").contains("Sam (budtender)"), "a wrong PIN changes nobody");
    browser.type_into("#switch-pin", &format!("13579{ENTER}"));
    browser.wait_text("header", |t| t.contains("(manager)"));
    browser.click("#switch-box summary");
    browser.eval("document.getElementById('switch-name').value = 'sam';");
    browser.type_into("#switch-pin", &format!("2468{ENTER}"));
    browser.wait_text("header", |t| t.contains("Sam (budtender)"));

    // A return of the first sale, authorized by the manager's password at Sam's register.
    browser.go(&first_receipt);
    browser.type_into("#return-qty-0", "\u{E009}a\u{E009}\u{E017}1");
    browser.click("#restock-0");
    browser.type_into("#return-reason", "unopened, wrong strain");
    browser.type_into("#return-user", "manager");
    browser.type_into("#return-password", &format!("{PASSWORD}{ENTER}"));
    assert_eq!(browser.wait_text("#refunded", |t| !t.is_empty()), "$14.68");
    assert!(browser.text("#receipt").contains("(1 returned)"));
    assert!(browser.text("header").contains("Sam (budtender)"), "the manager's credential was used once");

    // A second sale, voided: the budtender's own credentials are not enough, a manager's are,
    // and the budtender stays signed in.
    browser.go(&format!("{url}/register"));
    browser.wait("#scan");
    browser.keys(&format!("6280000000222{ENTER}"));
    browser.wait_text("#total", |t| t == "$14.68");
    browser.click("#age");
    browser.type_into("#cash", &format!("14.68{ENTER}"));
    browser.wait("#void");
    browser.type_into("#void-user", "sam");
    browser.type_into("#void-password", "budtender password");
    browser.type_into("#void-reason", &format!("customer changed their mind{ENTER}"));
    let refused = browser.wait_text("#void-error", |t| !t.is_empty());
    assert!(refused.contains("manager"), "{refused}");
    browser.type_into("#void-user", "\u{E009}a\u{E009}\u{E017}manager");
    browser.type_into("#void-password", &format!("\u{E009}a\u{E009}\u{E017}{PASSWORD}{ENTER}"));
    browser.wait_text("#receipt", |t| t.contains("VOIDED"));
    assert!(browser.text("header").contains("Sam (budtender)"), "the budtender's session is untouched");

    // HQ comes back; the store catches up by itself and the dashboard shows its sale.
    let (mut hq, _) = serve(&hq_args, &[]);
    wait_caught_up(&client, &url, &token, Duration::from_secs(30));
    browser.go(&format!("{hq_url}/hq"));
    browser.type_into("#token", &format!("{}{ENTER}", "0".repeat(64)));
    browser.wait_text("body", |t| t.contains("Unknown or revoked token"));
    browser.type_into("#token", &format!("{}{ENTER}", pair.operator_token));
    let stores = browser.wait_text("#stores", |t| t.contains("Queen St"));
    assert!(stores.contains("ok"), "integrity ok: {stores}");
    let sales = browser.wait_text("#sales", |t| t.contains("Queen St"));
    assert!(sales.contains("$12.99"), "the store's sale at HQ: {sales}");
    browser.wait("#sales-chart");
    let categories = browser.text("#category-chart");
    assert!(categories.contains("dried") && categories.contains("$12.99 · 1 units"), "{categories}");
    browser.screenshot("hq-dashboard");
    // The daily wholesaler report as a page, with its CSV behind the same sign-in.
    browser.click("#report-link");
    let report = browser.wait_text("#report", |t| t.contains("Queen St"));
    // Blue Dream: 1 sold (the voided sale does not count), 1 returned and restocked; 20 at close.
    assert!(report.contains("FLW-005 Blue Dream 1g 1 1 0.000 $12.99 $1.69 $14.68 20"), "{report}");
    assert!(report.contains("Total (24 rows) 1 1 $12.99 $1.69 $14.68"), "{report}");
    browser.screenshot("hq-report");
    let csv_href = browser.eval("return document.getElementById('csv-link').href;");
    let anonymous = client.get(csv_href.as_str().unwrap()).send().unwrap();
    assert_eq!(anonymous.status(), 401, "the report needs the operator's token");
    let csv = client.get(csv_href.as_str().unwrap()).bearer_auth(&pair.operator_token).send().unwrap().text().unwrap();
    assert!(csv.starts_with(stockade_hq::export::EXPORT_CSV_HEADER) && csv.contains("Queen St"), "{csv}");
    kill(&mut store);
    kill(&mut hq);
}

#[test]
fn a_customer_orders_online_the_staff_hand_it_over_and_the_tracking_page_follows() {
    let Some(browser) = Browser::start() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let store_dir = tmp.path().join("store");
    stocked_store(&store_dir, "CA-ON", "20", &[]);
    let (mut store, url) = start_store(&store_dir, &[]);
    let client = reqwest::blocking::Client::new();
    let token = login(&client, &url);
    let (_, product) = till_and_product(&client, &url, &token); // Blue Dream 1g; opens R1

    // The customer, in the shop: two units for pickup.
    browser.go(&format!("{url}/shop"));
    browser.fits_width("the shop");
    browser.type_into(&format!("#qty-{product}"), "\u{E009}a\u{E009}\u{E017}2");
    browser.type_into("#c-name", "Sam Customer");
    browser.eval("document.getElementById('c-birth').value = '1990-05-05';");
    browser.type_into("#c-phone", "416 555 0100");
    browser.click("#order button[type=submit]");
    // Without the age statement the order is refused in the page.
    let refused = browser.wait_text("#order-error", |t| !t.is_empty());
    assert!(refused.contains("at least 19"), "{refused}");
    browser.click("#c-age");
    browser.click("#order button[type=submit]");
    let link = browser.wait_text("#placed-link", |t| t.contains("/track/"));
    let code = browser.text("#placed-code");
    assert_eq!(code.len(), 8, "{code}");
    browser.screenshot("shop-order-placed");

    // The staff: accept, pick, pack, hand over with the age check.
    browser.go(&format!("{url}/login"));
    browser.type_into("#username", "manager");
    browser.type_into("#password", &format!("{PASSWORD}{ENTER}"));
    browser.wait("#scan");
    browser.go(&format!("{url}/orders"));
    for label in ["Accept", "Picked", "Packed, ready for pickup"] {
        let css = format!(
            "button[data-action='{}']",
            match label {
                "Accept" => "accept",
                "Picked" => "pick",
                _ => "ready",
            }
        );
        browser.click(&css);
        let since = Instant::now();
        while browser.find(&css).is_some() && since.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    browser.wait("form.handover");
    browser.screenshot("orders");
    browser.click("form.handover button[type=submit]");
    let err = browser.wait_text("p.error[id^=err-]", |t| !t.is_empty());
    assert!(err.contains("confirm the customer is at least 19"), "no hand-over without the age check: {err}");
    browser.click("form.handover input[type=checkbox]");
    browser.click("form.handover button[type=submit]");
    browser.wait_text("h1", |t| t.contains("(0 open)"));

    // The customer's tracking page: status and window, nothing personal.
    browser.go(&link);
    let status = browser.wait_text("#status", |t| !t.is_empty());
    assert_eq!(status, "Completed");
    let page = browser.text("main");
    assert!(!page.contains("Sam") && !page.contains("555"), "{page}");
    browser.screenshot("tracking");
    kill(&mut store);
    let db = rusqlite::Connection::open_with_flags(store_dir.join("store.db"), rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let on_hand: i64 = db.query_row("SELECT on_hand FROM products WHERE product_id = ?1", [&product], |r| r.get(0)).unwrap();
    assert_eq!(on_hand, 18);
}
