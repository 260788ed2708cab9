//! Replenishment through the real binaries: a store's sales reach HQ, `stockade forecast run`
//! proposes, the retailer's owner approves over HQ's API, the store pulls the signed purchase
//! order, the manager receives it, and both journals still verify.

mod common;
use common::*;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

#[test]
fn a_purchase_order_approved_at_hq_reaches_the_store_and_is_received_against_its_number() {
    let tmp = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| run_ok(args, &[]);
    let pair = hq_and_store(tmp.path(), "CA-ON", "10", &[]);
    let (s, h) = (pair.s(), pair.h());
    let Running { mut hq, hq_url, mut store, url, client, token } = pair.run(40, 7);

    // At HQ: forecast every store × product; 10 units each cannot cover two weeks of this pace.
    let out = run(&["forecast", "run", "--data", h, "--lead-time", "3", "--review", "7"]);
    assert!(out.starts_with("forecast run run-") && out.contains("series in 1 stores"), "{out}");
    let owner = run(&["hq", "add-user", "--data", h, "--name", "Ann Acme", "--role", "owner", "--retailer", "acme"]);
    let owner = owner.lines().find_map(|l| l.strip_prefix("token: ")).unwrap().split_whitespace().next().unwrap().to_string();
    let open: Value = client.get(format!("{hq_url}/hq/api/v1/proposals?open=true")).bearer_auth(&owner).send().unwrap().json().unwrap();
    let open = open.as_array().unwrap_or_else(|| panic!("{open}")).clone();
    assert!(!open.is_empty() && open.iter().all(|r| r["units"].as_i64() > Some(0) && r["store_name"] == "Queen St"), "{open:?}");
    let store_id = open[0]["store_id"].as_str().unwrap().to_string();
    let page = client.get(format!("{hq_url}/hq/proposals")).header("cookie", format!("stockade_hq={owner}")).send().unwrap().text().unwrap();
    assert!(page.contains("Replenishment proposals") && page.contains("Approve ") && page.contains(open[0]["sku"].as_str().unwrap()), "{page}");

    let r = client
        .post(format!("{hq_url}/hq/api/v1/purchase-orders"))
        .bearer_auth(&owner)
        .json(&json!({"retailer_id": "acme", "store_id": store_id}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);
    let po: Value = r.json().unwrap();
    let po_id = po["po_id"].as_str().unwrap().to_string();
    assert_eq!(po["lines"].as_array().map(Vec::len), Some(open.len()), "{po}");

    // The store pulls it at its next sync and lists it as in transit.
    let since = Instant::now();
    let orders = loop {
        let orders: Value = client.get(format!("{url}/api/purchase-orders")).bearer_auth(&token).send().unwrap().json().unwrap();
        if orders.as_array().is_some_and(|a| !a.is_empty()) {
            break orders;
        }
        assert!(since.elapsed() < Duration::from_secs(30), "the order never arrived");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!((orders[0]["po_id"].as_str(), orders[0]["status"].as_str()), (Some(po_id.as_str()), Some("in_transit")), "{orders}");
    for (a, b) in orders[0]["lines"].as_array().unwrap().iter().zip(po["lines"].as_array().unwrap()) {
        assert_eq!((&a["product_id"], &a["units"]), (&b["product_id"], &b["units"]));
    }
    let office = client.get(format!("{url}/backoffice")).bearer_auth(&token).send().unwrap().text().unwrap();
    assert!(office.contains(&po_id), "the back office lists the order in transit");

    // The delivery is received against the order's number; the order closes.
    let lines: Vec<Value> = po["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| json!({"product_id": l["product_id"], "quantity": l["units"], "lot_code": po_id, "unit_cost_minor": 450}))
        .collect();
    let before: Value =
        client.get(format!("{url}/api/products/{}", lines[0]["product_id"].as_str().unwrap())).bearer_auth(&token).send().unwrap().json().unwrap();
    let r = client
        .post(format!("{url}/api/stock/receive"))
        .bearer_auth(&token)
        .json(&json!({"supplier": "Wholesaler", "document": po_id, "lines": lines}))
        .send()
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().unwrap());
    let after: Value =
        client.get(format!("{url}/api/products/{}", lines[0]["product_id"].as_str().unwrap())).bearer_auth(&token).send().unwrap().json().unwrap();
    assert_eq!(after["on_hand"].as_i64().unwrap() - before["on_hand"].as_i64().unwrap(), lines[0]["quantity"].as_i64().unwrap());
    let orders: Value = client.get(format!("{url}/api/purchase-orders")).bearer_auth(&token).send().unwrap().json().unwrap();
    assert_eq!(orders[0]["status"], "received", "{orders}");
    wait_caught_up(&client, &url, &token, Duration::from_secs(30));
    kill(&mut store);
    kill(&mut hq);

    // HQ knows it arrived: nothing in transit, stock as the store counts it; journals verify.
    run(&["forecast", "run", "--data", h, "--lead-time", "3", "--review", "7"]);
    let csv = run(&["hq", "proposals", "--data", h]);
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|c| *c == name).unwrap();
    for l in po["lines"].as_array().unwrap() {
        let row: Vec<&str> = csv.lines().find(|r| r.contains(l["product_id"].as_str().unwrap())).unwrap().split(',').collect();
        assert_eq!(row[col("in_transit")], "0", "{csv}");
    }
    assert!(run(&["store", "verify", "--data", s]).contains("verified"), "the store's journal, order included, verifies");
    run(&["hq", "verify", "--data", h]);
}
