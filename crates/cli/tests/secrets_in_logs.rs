//! Nothing secret or personal in the logs, even at `trace`, and nobody can forge a log line:
//! the real `stockade store serve` at RUST_LOG=trace, driven through sign-in (a password typed
//! in the username box, with a forged line in it), a PIN, an online order with its tracking
//! token and one-time code, and user text with newlines in every field that may be logged.

mod common;

use common::*;
use serde_json::{json, Value};

const FORGED: &str = "FORGED-LOG-LINE";
const PIN: &str = "8642";
const PHONE: &str = "+1 416 555 0142";

#[test]
fn no_password_token_code_or_contact_in_a_trace_log_and_no_forged_line() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("store");
    stocked_store(&data, "CA-ON", "100", &[]);
    let log_path = tmp.path().join("store.log");
    let (mut server, url) = serve_logging(&["store", "serve", "--data", data.to_str().unwrap(), "--listen", "127.0.0.1:0"], &[], &log_path, "trace");
    let client = reqwest::blocking::Client::new();

    // A password typed in the username box, carrying a line of its own.
    let injected = format!("{PASSWORD}\n2026-12-02T00:00:00.000000Z  INFO {FORGED}");
    let r = client.post(format!("{url}/api/login")).json(&json!({"username": injected, "password": "x"})).send().unwrap();
    assert_eq!(r.status(), 401);
    let r = client.post(format!("{url}/api/login")).json(&json!({"username": "manager", "password": format!("wrong\n{FORGED}")})).send().unwrap();
    assert_eq!(r.status(), 401);
    let token = login(&client, &url);
    let r = client.put(format!("{url}/api/me/pin")).bearer_auth(&token).json(&json!({"password": PASSWORD, "pin": PIN})).send().unwrap();
    assert_eq!(r.status(), 204);
    let r = client.post(format!("{url}/api/login/pin")).json(&json!({"username": "manager", "pin": PIN})).send().unwrap();
    assert_eq!(r.status(), 200);
    let pin_token = r.json::<Value>().unwrap()["token"].as_str().unwrap().to_string();
    let (till, product) = till_and_product(&client, &url, &token);

    // User text with a forged line, wherever a person can type.
    let r = client
        .post(format!("{url}/api/stock/adjust"))
        .bearer_auth(&token)
        .json(&json!({"product_id": product, "delta": -1, "reason": "damage", "note": format!("dropped\n{FORGED}")}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().unwrap());
    let r = client.get(format!("{url}/api/products?q=%0A{FORGED}")).bearer_auth(&token).send().unwrap();
    assert_eq!(r.status(), 200);

    // An online order: tracking token and code, the customer's phone.
    let order = json!({"kind": "pickup", "lines": [{"product_id": product, "quantity": 1}],
        "customer": {"name": "Jane Sample", "birth_date": "1987-03-14", "age_confirmed": true, "phone": PHONE}});
    let r = client.post(format!("{url}/api/orders")).json(&order).send().unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().unwrap());
    let placed: Value = r.json().unwrap();
    let (tracking, code) = (placed["tracking_token"].as_str().unwrap().to_string(), placed["code"].as_str().unwrap().to_string());
    assert_eq!(client.get(format!("{url}/api/track/{tracking}")).send().unwrap().status(), 200);
    assert_eq!(client.get(format!("{url}/track/{tracking}")).send().unwrap().status(), 200);
    let r = client.get(format!("{url}/api/track/{tracking}/details")).header("x-order-code", &code).send().unwrap();
    assert_eq!(r.status(), 200);
    let r = client
        .post(format!("{url}/api/orders/{}/cancel", placed["order_id"].as_str().unwrap()))
        .bearer_auth(&token)
        .json(&json!({"reason": format!("no\n{FORGED}")}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let sale = sale_body(&till, &product, 1);
    assert_eq!(client.post(format!("{url}/api/sales")).bearer_auth(&pin_token).json(&sale).send().unwrap().status(), 200);
    kill(&mut server);

    let log = std::fs::read_to_string(&log_path).unwrap();
    if std::env::var("SHOW_LOG").is_ok() {
        eprintln!("{log}");
    }
    assert!(log.lines().count() > 40, "the store logged at trace level ({} lines)", log.lines().count());
    for (what, secret) in [
        ("the password", PASSWORD),
        ("a session token", &token),
        ("a PIN session token", &pin_token),
        ("the tracking token", &tracking),
        ("the order's code", &code),
        ("the phone", PHONE),
        ("the phone's digits", "4165550142"),
    ] {
        assert!(!log.contains(secret), "{what} is in the log:\n{}", log.lines().filter(|l| l.contains(secret)).take(3).collect::<Vec<_>>().join("\n"));
    }
    assert!(!log.contains(&format!("pin\":\"{PIN}")) && !log.contains("\"pin\""), "a PIN is in the log");
    // Every line is one of the logger's: it starts with the logger's own time stamp (colours
    // aside), so user text never starts one.
    let plain = strip_ansi(&log);
    let forged: Vec<&str> = plain.lines().filter(|l| !l.starts_with("20") || l.starts_with("2026-12-02T00:00:00.000000Z")).collect();
    assert!(forged.is_empty(), "lines the logger did not start:\n{}", forged.join("\n"));
    assert!(plain.lines().any(|l| l.contains("tower_http")), "request lines were logged");
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}
