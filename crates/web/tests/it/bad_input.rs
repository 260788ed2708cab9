//! Bad input gets a JSON error with a stable code, never a 500, and writes nothing.

use crate::spawn_app;
use serde_json::{json, Value};

#[tokio::test]
async fn bad_requests_get_stable_codes_and_leave_the_journal_untouched() {
    let app = spawn_app("CA-ON").await;
    let p = app.product("F1", "dried", 1_000, 1_000, 10).await;
    let till = app.open_till("R1", 0).await;
    let good = json!({"till_id": till, "lines": [{"product_id": p, "quantity": 1}], "customer": {"age_confirmed": true},
        "tenders": [{"kind": "cash", "amount_minor": 2_000}]});
    let with = |f: &dyn Fn(&mut Value)| {
        let mut v = good.clone();
        f(&mut v);
        v.to_string()
    };
    let huge = format!("{{\"till_id\": \"{}\", \"lines\": [], \"pad\": \"{}\"}}", till, "x".repeat(stockade_web::MAX_BODY_BYTES + 10));
    let cases: Vec<(&str, String, u16, &str)> = vec![
        ("malformed JSON", "{\"till_id\": ".into(), 400, "invalid_json"),
        ("not an object", "[1,2,3]".into(), 422, "invalid_request"),
        ("wrong type", with(&|v| v["lines"][0]["quantity"] = json!("two")), 422, "invalid_request"),
        ("fractional quantity", with(&|v| v["lines"][0]["quantity"] = json!(1.5)), 422, "invalid_request"),
        (
            "missing field",
            with(&|v| {
                v.as_object_mut().unwrap().remove("customer");
            }),
            422,
            "invalid_request",
        ),
        ("huge body", huge, 413, "body_too_large"),
        ("zero quantity", with(&|v| v["lines"][0]["quantity"] = json!(0)), 422, "invalid_quantity"),
        ("negative quantity", with(&|v| v["lines"][0]["quantity"] = json!(-3)), 422, "invalid_quantity"),
        ("absurd quantity", with(&|v| v["lines"][0]["quantity"] = json!(1_000_001)), 422, "invalid_quantity"),
        ("quantity overflow", with(&|v| v["lines"][0]["quantity"] = json!(u64::MAX)), 422, "invalid_request"),
        ("no lines", with(&|v| v["lines"] = json!([])), 422, "invalid_request"),
        ("unknown product", with(&|v| v["lines"][0]["product_id"] = json!("nope")), 404, "unknown_product"),
        ("unknown tender", with(&|v| v["tenders"][0]["kind"] = json!("bitcoin")), 422, "unknown_tender"),
        ("negative tender", with(&|v| v["tenders"][0]["amount_minor"] = json!(-5)), 422, "invalid_tender"),
        ("short tender", with(&|v| v["tenders"][0]["amount_minor"] = json!(1)), 422, "invalid_tender"),
        ("no tender", with(&|v| v["tenders"] = json!([])), 422, "invalid_tender"),
        ("unknown till", with(&|v| v["till_id"] = json!("t0")), 404, "unknown_till"),
        ("bad customer id", with(&|v| v["customer"]["id_number"] = json!("1")), 422, "invalid_customer_id"),
        ("insufficient stock", with(&|v| v["lines"][0]["quantity"] = json!(11)), 409, "insufficient_stock"),
    ];
    let before = app.journal_size().await;
    for (name, body, status, code) in cases {
        let r = app
            .client
            .post(format!("{}/api/sales", app.base))
            .bearer_auth(&app.token)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let got = r.status().as_u16();
        let v: Value = r.json().await.unwrap_or_else(|e| panic!("{name}: body is not JSON: {e}"));
        assert_eq!((got, v["error"]["code"].as_str().unwrap_or("")), (status, code), "{name}: {v}");
        assert!(!v["error"]["message"].as_str().unwrap_or("").is_empty(), "{name}: a message is required");
    }
    assert_eq!(app.journal_size().await, before, "no rejected request wrote anything");
    let (_, prod) = app.get(&format!("/api/products/{p}")).await;
    assert_eq!(prod["on_hand"], 10);
}

#[tokio::test]
async fn other_routes_reject_bad_input_with_json_errors_too() {
    let app = spawn_app("CA-ON").await;
    let p = app.product("F1", "dried", 1_000, 1_000, 10).await;
    let before = app.journal_size().await;
    let cases: Vec<(&str, Value, u16, &str)> = vec![
        ("/api/products", json!({"sku": "", "name": "", "class": "dried", "tax_class": "cannabis"}), 422, "invalid_product"),
        ("/api/products", json!({"sku": "F1", "name": "dup", "class": "non_cannabis", "tax_class": "general"}), 409, "duplicate_sku"),
        ("/api/products", json!({"sku": "X", "name": "x", "class": "moon_rock", "tax_class": "cannabis"}), 422, "invalid_request"),
        (
            "/api/products",
            json!({"sku": "X", "name": "x 1g", "class": "dried", "net_weight_mg": 1000, "tax_class": "cannabis", "gtin": "123"}),
            422,
            "invalid_product",
        ),
        ("/api/stock/receive", json!({"supplier": "s", "document": "d", "lines": [{"product_id": p, "quantity": -1}]}), 422, "invalid_quantity"),
        ("/api/stock/receive", json!({"supplier": "s", "document": "d", "lines": [{"product_id": "nope", "quantity": 1}]}), 404, "unknown_product"),
        ("/api/stock/receive", json!({"supplier": "", "document": "d", "lines": [{"product_id": p, "quantity": 1}]}), 422, "invalid_request"),
        ("/api/stock/adjust", json!({"product_id": p, "delta": 0, "reason": "damage"}), 422, "invalid_quantity"),
        ("/api/stock/adjust", json!({"product_id": p, "delta": -1, "reason": "because"}), 422, "invalid_request"),
        ("/api/stock/count", json!({"lines": [{"product_id": p, "counted": -1}]}), 422, "invalid_quantity"),
        ("/api/tills", json!({"register": "R1", "float_minor": -100}), 422, "invalid_amount"),
        ("/api/tills/nope/close", json!({"counted_minor": 0}), 404, "not_found"),
        ("/api/sales/nope/void", json!({"reason": "x"}), 404, "not_found"),
        ("/api/staff", json!({"username": "A B", "display_name": "x", "role": "budtender", "password": "long enough pw"}), 422, "invalid_username"),
        ("/api/staff", json!({"username": "ab_c", "display_name": "x", "role": "owner", "password": "long enough pw"}), 422, "invalid_role"),
        ("/api/staff", json!({"username": "abc", "display_name": "x", "role": "budtender", "password": "short"}), 422, "weak_password"),
        ("/api/nowhere", json!({}), 404, "not_found"),
    ];
    for (path, body, status, code) in cases {
        let (s, v) = app.post(path, body.clone()).await;
        assert_eq!((s, v["error"]["code"].as_str().unwrap_or("")), (status, code), "{path} {body}: {v}");
    }
    let (s, v) = app.get("/api/products?limit=lots").await;
    assert_eq!((s, v["error"]["code"].as_str()), (400, Some("invalid_query")));
    let (s, v) = app.get("/api/reports/end-of-day?date=yesterday").await;
    assert_eq!((s, v["error"]["code"].as_str()), (422, Some("invalid_date")));
    let r = app.client.get(format!("{}/api/me", app.base)).bearer_auth("0".repeat(64)).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = app.client.get(format!("{}/api/me", app.base)).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(app.journal_size().await, before);
}
