//! The whole online order, with the real binaries: ordered on the public API, reserved, picked,
//! dispatched, handed over with the age check, recorded as a sale in the journal and replicated
//! to head office; an enumeration attempt reaches HQ as an alert.

mod common;
use common::*;
use serde_json::{json, Value};
use std::time::Duration;

#[test]
fn an_order_is_reserved_picked_delivered_with_an_age_check_and_reaches_hq_as_a_sale() {
    let tmp = tempfile::tempdir().unwrap();
    let pair = hq_and_store(tmp.path(), "CA-ON", "20", &[]);
    let hq_addr = free_addr();
    let (mut hq, hq_url) = serve(&["hq", "serve", "--data", pair.h(), "--listen", &hq_addr], &[]);
    run_ok(&["store", "enroll", "--data", pair.s(), "--hq", &hq_url, "--code", &pair.code], &[]);
    let (mut store, url) = start_store(&pair.store_dir, &[]);
    let client = reqwest::blocking::Client::new();
    let token = login(&client, &url);
    let (till, product) = till_and_product(&client, &url, &token);

    // The customer orders two units for delivery from the public menu.
    let menu: Value = client.get(format!("{url}/api/menu")).send().unwrap().json().unwrap();
    let item = menu.as_array().unwrap().iter().find(|m| m["product_id"] == product.as_str()).unwrap().clone();
    assert_eq!(item["available"], 20);
    let order: Value = client
        .post(format!("{url}/api/orders"))
        .json(&json!({"kind": "delivery", "lines": [{"product_id": product, "quantity": 2}],
            "customer": {"name": "Sam Customer", "birth_date": "1990-05-05", "age_confirmed": true, "postal_code": "M5V 2T6", "phone": "416 555 0100"}}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let (id, tracking) = (order["order_id"].as_str().unwrap(), order["tracking_token"].as_str().unwrap());
    assert_eq!(order["total_minor"], 2 * item["price_with_taxes_minor"].as_i64().unwrap(), "{order}");
    let menu: Value = client.get(format!("{url}/api/menu")).send().unwrap().json().unwrap();
    assert_eq!(menu.as_array().unwrap().iter().find(|m| m["product_id"] == product.as_str()).unwrap()["available"], 18, "reserved");

    // The staff see it, pick and pack it, and hand it to the driver.
    let open: Value = client.get(format!("{url}/api/orders")).bearer_auth(&token).send().unwrap().json().unwrap();
    assert_eq!(open[0]["order_id"], id);
    for step in ["accept", "pick", "dispatch"] {
        let r = client.post(format!("{url}/api/orders/{id}/{step}")).bearer_auth(&token).json(&json!({})).send().unwrap();
        assert_eq!(r.status(), 200, "{step}");
    }
    let tracked: Value = client.get(format!("{url}/api/track/{tracking}")).send().unwrap().json().unwrap();
    assert_eq!(tracked["status"], "out_for_delivery");
    // At the door: no age check, no hand-over; with it, the sale.
    let handover = |age: bool| {
        client
            .post(format!("{url}/api/orders/{id}/handover"))
            .bearer_auth(&token)
            .json(&json!({"till_id": till, "age_confirmed": age, "tenders": [{"kind": "debit", "amount_minor": order["total_minor"]}]}))
            .send()
            .unwrap()
    };
    assert_eq!(handover(false).status(), 422);
    let done: Value = handover(true).json().unwrap();
    assert_eq!(done["status"], "completed", "{done}");

    // Someone walks through tracking links: throttled, and HQ hears of it.
    for i in 0..12 {
        let _ = client.get(format!("{url}/api/track/{:064x}", i)).send().unwrap();
    }
    wait_caught_up(&client, &url, &token, Duration::from_secs(30));
    let day = chrono_today();
    let report: Value = client.get(format!("{hq_url}/hq/api/v1/reports/daily?date={day}")).bearer_auth(&pair.operator_token).send().unwrap().json().unwrap();
    let row = report.as_array().unwrap().iter().find(|r| r["units_sold"] == 2).unwrap_or_else(|| panic!("the delivered order at HQ: {report}"));
    assert_eq!(row["closing_units"], 18);
    let status: Value = client.get(format!("{hq_url}/hq/api/v1/status")).bearer_auth(&pair.operator_token).send().unwrap().json().unwrap();
    let alerts = status["alerts"].as_array().unwrap();
    assert!(alerts.iter().any(|a| a["kind"] == "enumeration" && a["store_id"] != ""), "the store's alert reached HQ: {alerts:?}");
    kill(&mut store);
    kill(&mut hq);
    run_ok(&["store", "verify", "--data", pair.s()], &[]);
    let verified = run_ok(&["hq", "verify", "--data", pair.h()], &[]);
    assert!(verified.starts_with("intact"), "{verified}");
    let db = rusqlite::Connection::open_with_flags(pair.store_dir.join("store.db"), rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let kinds: Vec<String> = db
        .prepare("SELECT kind FROM journal WHERE seq > (SELECT MIN(seq) FROM journal WHERE kind = 'order_placed') ORDER BY seq")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let flow: Vec<&str> = kinds.iter().map(String::as_str).filter(|k| *k != "security_alert").collect();
    assert_eq!(flow, ["order_status_changed", "order_status_changed", "order_status_changed", "sale_recorded", "order_completed"], "{kinds:?}");
}

fn chrono_today() -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    stockade_domain::local_date(chrono_tz::America::Toronto, now)
}
