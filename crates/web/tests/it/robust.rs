//! No poisoned state, and a panic is one failed command: values that would make a projection
//! overflow are refused at the API with the field named (nothing recorded); a command that
//! panics answers one 500 carrying an incident id, and the store keeps selling.

use crate::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_that_would_poison_the_projections_are_refused_naming_the_field_and_record_nothing() {
    let app = spawn_app("CA-ON").await;
    let p = app.product("SKU-1", "dried", 3500, 2500, 10).await;
    let size = app.journal_size().await;
    let cases = [
        // r1's poison: a count of i64::MAX units (then any receipt overflowed the stock).
        ("/api/stock/count", json!({"lines": [{"product_id": p, "counted": i64::MAX}]}), "counted"),
        ("/api/stock/count", json!({"lines": [{"product_id": p, "counted": 10_000_001}]}), "counted"),
        (
            "/api/stock/receive",
            json!({"supplier": "OCS", "document": "D", "lines": [{"product_id": p, "quantity": 1, "unit_cost_minor": i64::MAX}]}),
            "unit_cost_minor",
        ),
        (
            "/api/stock/receive",
            json!({"supplier": "OCS", "document": "D", "lines": [{"product_id": p, "quantity": 1, "unit_cost_minor": -1}]}),
            "unit_cost_minor",
        ),
        ("/api/stock/receive", json!({"supplier": "OCS", "document": "D", "lines": [{"product_id": p, "quantity": 1, "lab_thc_mg": -5}]}), "lab_thc_mg"),
        ("/api/stock/adjust", json!({"product_id": p, "delta": i64::MIN, "reason": "found", "note": ""}), "1,000,000"),
        ("/api/stock/receive", json!({"supplier": "OCS", "document": "D", "lines": [{"product_id": p, "quantity": 1_000_001}]}), "1,000,000"),
    ];
    for (path, body, field) in cases {
        let (s, answer) = app.post(path, body.clone()).await;
        assert_eq!(s, 422, "{path} {body}: {answer}");
        assert!(answer["error"]["message"].as_str().unwrap().contains(field), "{path}: the answer names {field}: {answer}");
    }
    assert_eq!(app.journal_size().await, size, "nothing was recorded");
    // Within range, the store keeps working: the count and a receipt after it.
    let (s, body) = app.post("/api/stock/count", json!({"lines": [{"product_id": p, "counted": 10_000_000}]})).await;
    assert_eq!(s, 200, "{body}");
    let (s, body) = app.post("/api/stock/receive", json!({"supplier": "OCS", "document": "D", "lines": [{"product_id": p, "quantity": 1_000_000}]})).await;
    assert_eq!(s, 200, "{body}");
    let (s, product) = app.get(&format!("/api/products/{p}")).await;
    assert_eq!((s, product["on_hand"].as_i64()), (200, Some(11_000_000)), "{product}");
    for path in ["/api/products", "/api/menu"] {
        assert_eq!(app.get(path).await.0, 200, "{path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_injected_panic_is_one_500_with_an_incident_id_and_the_next_100_sales_succeed() {
    let app = spawn_app("CA-ON").await;
    let p = app.product("SKU-1", "dried", 1000, 1000, 1000).await;
    let till = app.open_till("R1", 0).await;
    let sale = |n: i64| {
        json!({"till_id": till, "lines": [{"product_id": p, "quantity": 1}], "customer": {"age_confirmed": true},
        "tenders": [{"kind": "cash", "amount_minor": 1130 + n % 3}]})
    };
    let size = app.journal_size().await;
    let on_hand = || async { app.get(&format!("/api/products/{p}")).await.1["on_hand"].as_i64().unwrap() };
    let stock = on_hand().await;

    // The sale's entry and its stock move are written, then the command panics.
    app.store.inject_panic_in_next_command();
    let (s, body) = app.post("/api/sales", sale(0)).await;
    assert_eq!(s, 500, "{body}");
    let incident = body["error"]["incident"].as_str().unwrap_or_else(|| panic!("the 500 carries an incident id: {body}"));
    assert_eq!(incident.len(), 16, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains(incident), "{body}");
    assert_eq!(app.journal_size().await, size, "the panicking command recorded nothing");
    assert_eq!(on_hand().await, stock, "its stock move was rolled back with it");

    for n in 1..=100 {
        let (s, body) = app.post("/api/sales", sale(n)).await;
        assert_eq!(s, 200, "sale {n} after the panic: {body}");
    }
    assert_eq!(app.journal_size().await, size + 100);
    assert_eq!(on_hand().await, stock - 100);
    let dir = app.store.dir().to_path_buf();
    let report = tokio::task::spawn_blocking(move || stockade_store::verify::verify_store(&dir)).await.unwrap();
    assert!(report.is_ok(), "verify after the panic: {report:?}");
}

/// A burst of sign-ins cannot queue unbounded Argon2id hashes (19 MiB each): beyond two per
/// core they are answered `sign_in_busy` at once, and the right password works afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_sign_ins_is_bounded_by_the_hashing_slots() {
    let app = spawn_app("CA-ON").await;
    let mut tasks = Vec::new();
    for i in 0..100 {
        let store = app.store.clone();
        tasks.push(tokio::spawn(async move { store.login(&format!("nobody{i}"), "wrong password here").await }));
    }
    let (mut busy, mut refused) = (0, 0);
    for t in tasks {
        match t.await.unwrap() {
            Err(stockade_store::error::StoreError::Busy) => busy += 1,
            Err(stockade_store::error::StoreError::Unauthorized) => refused += 1,
            other => panic!("unexpected answer: {other:?}"),
        }
    }
    assert_eq!(busy + refused, 100);
    assert!(busy > 0, "100 concurrent hashes were let through ({refused} refused after hashing)");
    assert!(refused >= 1, "at least the first sign-ins were hashed");
    // The right password works once the burst is over (the API answers `Busy` 429 `sign_in_busy`).
    let _ = app.login("boss", PASSWORD).await;
}
