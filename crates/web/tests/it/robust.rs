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

/// Every integer a request carries, at the edges of i64 (and just outside its range): refused
/// with 422 naming the field (400 for a query string), never a 5xx, nothing recorded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_integer_field_at_the_i64_edges_is_refused_naming_it_and_records_nothing() {
    let app = spawn_app("CA-ON").await;
    let p = app.product("SKU-1", "dried", 3500, 2500, 10).await;
    let till = app.open_till("R1", 0).await;
    let (s, sale) = app
        .post("/api/sales", json!({"till_id": till, "lines": [{"product_id": p, "quantity": 1}], "customer": {"age_confirmed": true}, "tenders": [{"kind": "cash", "amount_minor": 2825}]}))
        .await;
    assert_eq!(s, 200, "{sale}");
    let sale_id = sale["sale_id"].as_str().unwrap().to_string();
    let product = |field: &str, v: i64| {
        let mut spec = json!({"sku": "SKU-X", "name": "X", "brand": "B", "category": "C", "class": "dried", "net_weight_mg": 1000, "thc_mg": 100,
            "price_minor": 1000, "tax_class": "cannabis"});
        spec[field] = json!(v);
        spec
    };
    type Case = (&'static str, String, Box<dyn Fn(i64) -> serde_json::Value>, &'static str);
    let (pp, tt, ss) = (p.clone(), till.clone(), p.clone());
    let cases: Vec<Case> = vec![
        ("POST", "/api/products".into(), Box::new(move |v| product("net_weight_mg", v)), "net_weight_mg"),
        ("POST", "/api/products".into(), Box::new(move |v| product("thc_mg", v)), "thc_mg"),
        ("POST", "/api/products".into(), Box::new(move |v| product("cbd_mg", v)), "cbd_mg"),
        ("POST", "/api/products".into(), Box::new(move |v| product("price_minor", v)), "price_minor"),
        ("POST", format!("/api/products/{p}/price"), Box::new(|v| json!({"price_minor": v})), "price_minor"),
        (
            "POST",
            "/api/stock/receive".into(),
            Box::new({
                let p = pp.clone();
                move |v| json!({"supplier": "S", "document": "D", "lines": [{"product_id": p, "quantity": v}]})
            }),
            "quantity",
        ),
        (
            "POST",
            "/api/stock/receive".into(),
            Box::new({
                let p = pp.clone();
                move |v| json!({"supplier": "S", "document": "D", "lines": [{"product_id": p, "quantity": 1, "unit_cost_minor": v}]})
            }),
            "unit_cost_minor",
        ),
        (
            "POST",
            "/api/stock/receive".into(),
            Box::new({
                let p = pp.clone();
                move |v| json!({"supplier": "S", "document": "D", "lines": [{"product_id": p, "quantity": 1, "lab_thc_mg": v}]})
            }),
            "lab_thc_mg",
        ),
        (
            "POST",
            "/api/stock/adjust".into(),
            Box::new({
                let p = pp.clone();
                move |v| json!({"product_id": p, "delta": v, "reason": "found", "note": ""})
            }),
            "delta",
        ),
        (
            "POST",
            "/api/stock/count".into(),
            Box::new({
                let p = pp.clone();
                move |v| json!({"lines": [{"product_id": p, "counted": v}]})
            }),
            "counted",
        ),
        (
            "POST",
            "/api/sales".into(),
            Box::new({
                let (p, t) = (ss.clone(), tt.clone());
                move |v| json!({"till_id": t, "lines": [{"product_id": p, "quantity": v}], "customer": {"age_confirmed": true}, "tenders": [{"kind": "cash", "amount_minor": 2825}]})
            }),
            "quantity",
        ),
        (
            "POST",
            "/api/sales".into(),
            Box::new({
                let (p, t) = (ss.clone(), tt.clone());
                move |v| json!({"till_id": t, "lines": [{"product_id": p, "quantity": 1}], "customer": {"age_confirmed": true}, "tenders": [{"kind": "cash", "amount_minor": v}]})
            }),
            "amount_minor",
        ),
        (
            "POST",
            "/api/cart/quote".into(),
            Box::new({
                let p = ss.clone();
                move |v| json!({"lines": [{"product_id": p, "quantity": v}]})
            }),
            "quantity",
        ),
        (
            "POST",
            format!("/api/sales/{sale_id}/returns"),
            Box::new({
                let t = tt.clone();
                move |v| json!({"till_id": t, "lines": [{"line": 0, "quantity": v}], "reason": "r"})
            }),
            "quantity",
        ),
        (
            "POST",
            format!("/api/sales/{sale_id}/returns"),
            Box::new({
                let t = tt.clone();
                move |v| json!({"till_id": t, "lines": [{"line": v, "quantity": 1}], "reason": "r"})
            }),
            "line",
        ),
        ("POST", "/api/tills".into(), Box::new(|v| json!({"register": "R2", "float_minor": v})), "float_minor"),
        ("POST", format!("/api/tills/{till}/close"), Box::new(|v| json!({"counted_minor": v})), "counted_minor"),
        (
            "POST",
            "/api/orders".into(),
            Box::new({
                let p = ss.clone();
                move |v| {
                    json!({"kind": "pickup", "lines": [{"product_id": p, "quantity": v}],
            "customer": {"name": "A B", "birth_date": "1990-01-01", "age_confirmed": true, "phone": "555-0100"}})
                }
            }),
            "quantity",
        ),
        (
            "POST",
            "/api/orders".into(),
            Box::new({
                let p = ss.clone();
                move |v| {
                    json!({"kind": "pickup", "lines": [{"product_id": p, "quantity": 1}], "window_start_ms": v,
            "customer": {"name": "A B", "birth_date": "1990-01-01", "age_confirmed": true, "phone": "555-0100"}})
                }
            }),
            "window",
        ),
    ];
    let size = app.journal_size().await;
    for (method, path, body, field) in &cases {
        for v in [i64::MIN, i64::MIN + 1, i64::MAX, i64::MAX - 1] {
            let b = body(v);
            let r = app.client.request(method.parse().unwrap(), format!("{}{path}", app.base)).bearer_auth(&app.token).json(&b).send().await.unwrap();
            let status = r.status().as_u16();
            let answer: serde_json::Value = r.json().await.unwrap_or_default();
            // A window is refused by the time now (409); every other field by its range (422).
            let expected = if *field == "window" { 409 } else { 422 };
            assert_eq!(status, expected, "{method} {path} {field} = {v}: {answer}");
            let message = answer["error"]["message"].as_str().unwrap_or_default();
            let named = message.contains(field) || answer["error"]["fields"].to_string().contains(field);
            assert!(named, "{method} {path} {field} = {v}: the answer names the field: {answer}");
        }
    }
    for q in [format!("/api/products?limit={}", u64::MAX), "/api/products?offset=-1".into(), format!("/api/products?limit={}", i64::MIN)] {
        let (s, answer) = app.get(&q).await;
        assert_eq!(s, 400, "{q}: {answer}");
    }
    assert_eq!(app.journal_size().await, size, "nothing was recorded");
}

/// Dates of birth outside living memory (year 0, 1899, 2101) are refused where they are read,
/// naming the field; one in the future cannot be kept on a customer record; a unit cannot hold
/// more THC than it weighs.
#[tokio::test]
async fn impossible_birth_dates_and_potencies_are_refused_naming_the_field() {
    let app = spawn_app("CA-ON").await;
    let p = app.product("SKU-1", "dried", 3500, 2500, 10).await;
    let till = app.open_till("R1", 0).await;
    let size = app.journal_size().await;
    for born in ["0000-01-01", "1899-12-31", "2101-01-01"] {
        let order = json!({"kind": "pickup", "lines": [{"product_id": p, "quantity": 1}],
            "customer": {"name": "A B", "birth_date": born, "age_confirmed": true, "phone": "555-0100"}});
        let sale = json!({"till_id": till, "lines": [{"product_id": p, "quantity": 1}], "customer": {"age_confirmed": true, "birth_date": born},
            "tenders": [{"kind": "cash", "amount_minor": 2825}]});
        let customer = json!({"name": "A B", "birth_date": born});
        for (path, body) in [("/api/orders", order), ("/api/sales", sale), ("/api/customers", customer)] {
            let (s, answer) = app.post(path, body).await;
            assert_eq!(s, 422, "{path} born {born}: {answer}");
            assert!(answer["error"]["message"].as_str().unwrap().contains("birth_date"), "{path}: names the field: {answer}");
        }
    }
    let tomorrow = chrono::DateTime::from_timestamp_millis(START_MS + 86_400_000).unwrap().date_naive().to_string();
    let (s, answer) = app.post("/api/customers", json!({"name": "A B", "birth_date": tomorrow})).await;
    assert_eq!((s, answer["error"]["code"].as_str()), (422, Some("invalid_birth_date")), "{answer}");
    let (s, answer) = app
        .post(
            "/api/products",
            json!({"sku": "SKU-2", "name": "Pre-roll", "brand": "B", "category": "C", "class": "dried", "net_weight_mg": 1000,
            "thc_mg": 1001, "price_minor": 1000, "tax_class": "cannabis"}),
        )
        .await;
    assert_eq!(s, 422, "{answer}");
    assert!(answer["error"]["fields"].to_string().contains("thc_mg"), "{answer}");
    assert_eq!(app.journal_size().await, size, "nothing was recorded");
}
