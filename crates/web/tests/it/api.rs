use crate::{spawn_app, PASSWORD};
use serde_json::{json, Value};

#[tokio::test]
async fn a_cash_sale_gives_change_itemizes_hst_and_updates_stock_and_till() {
    let app = spawn_app("CA-ON").await;
    let flower = app.product("F1", "dried", 3_500, 3_999, 10).await;
    let till = app.open_till("R1", 20_000).await;
    let (s, r) = app
        .post(
            "/api/sales",
            json!({"till_id": till, "lines": [{"product_id": flower, "quantity": 2}],
            "customer": {"age_confirmed": true}, "tenders": [{"kind": "cash", "amount_minor": 10_000}]}),
        )
        .await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["subtotal_minor"], 7_998);
    assert_eq!(r["taxes"][0]["label"], "HST 13%");
    assert_eq!(r["taxes"][0]["amount_minor"], 1_040);
    assert_eq!(r["total_minor"], 9_038);
    assert_eq!(r["change_minor"], 962);
    assert_eq!(r["limits"][0]["used"], 7_000);
    assert!(r["recorded_at_local"].as_str().unwrap().starts_with("2026-11-22 10:00:00"), "{}", r["recorded_at_local"]);
    let (_, p) = app.get(&format!("/api/products/{flower}")).await;
    assert_eq!(p["on_hand"], 8);
    let (s, receipt) = app.get(&format!("/api/sales/{}", r["sale_id"].as_str().unwrap())).await;
    assert_eq!(s, 200);
    assert_eq!(receipt["total_minor"], 9_038);

    // Close the till counting 1 cent short: expected = float + cash kept.
    let (s, closed) = app.post(&format!("/api/tills/{till}/close"), json!({"counted_minor": 20_000 + 9_038 - 1})).await;
    assert_eq!(s, 200, "{closed}");
    assert_eq!(closed["expected_minor"], 29_038);
    assert_eq!(closed["variance_minor"], -1);
    let (s, eod) = app.get("/api/reports/end-of-day?date=2026-11-22").await;
    assert_eq!(s, 200, "{eod}");
    assert_eq!(eod["sales_count"], 1);
    assert_eq!(eod["total_minor"], 9_038);
    assert_eq!(eod["tenders"][0], json!({"key": "cash", "amount_minor": 9_038}));
    assert_eq!(eod["tills"][0]["variance_minor"], -1);
}

#[tokio::test]
async fn sale_over_the_ontario_limit_is_refused_with_each_limit_and_its_excess_and_records_nothing() {
    let app = spawn_app("CA-ON").await;
    let flower = app.product("F1", "dried", 7_000, 5_000, 10).await;
    let till = app.open_till("R1", 0).await;
    let before = app.journal_size().await;
    let (s, r) = app
        .post(
            "/api/sales",
            json!({"till_id": till, "lines": [{"product_id": flower, "quantity": 5}],
            "customer": {"age_confirmed": false}, "tenders": [{"kind": "debit", "amount_minor": 1}]}),
        )
        .await;
    assert_eq!(s, 422, "{r}");
    assert_eq!(r["error"]["code"], "sale_refused");
    let v = r["error"]["violations"].as_array().unwrap();
    assert_eq!(v.len(), 2, "{r}");
    assert_eq!(v[0]["rule"], "age_not_confirmed");
    assert_eq!(v[1]["rule"], "limit_exceeded");
    assert_eq!(v[1]["limit_id"], "dried_equivalent");
    assert_eq!(v[1]["excess"], 5_000);
    assert!(v[1]["message"].as_str().unwrap().contains("over by 5000 mg"));
    assert_eq!(app.journal_size().await, before, "a refused sale writes nothing");
}

#[tokio::test]
async fn a_retried_sale_with_the_same_idempotency_key_is_one_sale() {
    let app = spawn_app("CA-ON").await;
    let p = app.product("F1", "dried", 1_000, 1_000, 10).await;
    let till = app.open_till("R1", 0).await;
    let body = json!({"till_id": till, "lines": [{"product_id": p, "quantity": 1}], "customer": {"age_confirmed": true},
        "tenders": [{"kind": "credit", "amount_minor": 1_130}]});
    let send = |b: Value, key: &'static str| {
        let app = &app;
        async move {
            let r = app.client.post(format!("{}/api/sales", app.base)).bearer_auth(&app.token).header("Idempotency-Key", key).json(&b).send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let (s1, r1) = send(body.clone(), "k-1").await;
    let (s2, r2) = send(body.clone(), "k-1").await;
    assert_eq!((s1, s2), (200, 200));
    assert_eq!(r1["sale_id"], r2["sale_id"]);
    let (_, prod) = app.get(&format!("/api/products/{p}")).await;
    assert_eq!(prod["on_hand"], 9, "stock moved once");
    let mut other = body.clone();
    other["lines"][0]["quantity"] = json!(2);
    let (s3, r3) = send(other, "k-1").await;
    assert_eq!(s3, 409);
    assert_eq!(r3["error"]["code"], "idempotency_conflict");
}

#[tokio::test]
async fn budtenders_sell_but_cannot_void_adjust_return_or_reprice() {
    let app = spawn_app("CA-ON").await;
    let (s, b) = app.post("/api/staff", json!({"username": "bud", "display_name": "Bud", "role": "budtender", "password": PASSWORD})).await;
    assert_eq!(s, 201, "{b}");
    let bud = app.login("bud", PASSWORD).await;
    let p = app.product("F1", "dried", 1_000, 1_000, 10).await;
    let till = app.open_till("R1", 0).await;
    let (s, sale) = app
        .post_as(
            &bud,
            "/api/sales",
            json!({"till_id": till, "lines": [{"product_id": p, "quantity": 1}], "customer": {"age_confirmed": true},
            "tenders": [{"kind": "cash", "amount_minor": 2_000}]}),
        )
        .await;
    assert_eq!(s, 200, "{sale}");
    let sale_id = sale["sale_id"].as_str().unwrap();
    for (path, body) in [
        (format!("/api/sales/{sale_id}/void"), json!({"reason": "x"})),
        (format!("/api/sales/{sale_id}/returns"), json!({"till_id": till, "lines": [{"line": 0, "quantity": 1}], "reason": "x"})),
        ("/api/stock/adjust".to_string(), json!({"product_id": p, "delta": -1, "reason": "damage"})),
        (format!("/api/products/{p}/price"), json!({"price_minor": 1})),
        ("/api/stock/receive".to_string(), json!({"supplier": "s", "document": "d", "lines": [{"product_id": p, "quantity": 1}]})),
    ] {
        let (s, r) = app.post_as(&bud, &path, body).await;
        assert_eq!(s, 403, "{path}: {r}");
        assert_eq!(r["error"]["code"], "forbidden");
    }
    // The manager can void it; stock and till go back.
    let (s, r) = app.post(&format!("/api/sales/{sale_id}/void"), json!({"reason": "customer changed mind"})).await;
    assert_eq!(s, 204, "{r}");
    let (_, prod) = app.get(&format!("/api/products/{p}")).await;
    assert_eq!(prod["on_hand"], 10);
    let (_, r) = app.post(&format!("/api/sales/{sale_id}/void"), json!({"reason": "again"})).await;
    assert_eq!(r["error"]["code"], "already_voided");
}

#[tokio::test]
async fn returns_refund_in_proportion_and_restock_only_when_asked() {
    let app = spawn_app("CA-ON").await;
    let p = app.product("F1", "dried", 1_000, 1_000, 10).await;
    let till = app.open_till("R1", 10_000).await;
    let (_, sale) = app
        .post(
            "/api/sales",
            json!({"till_id": till, "lines": [{"product_id": p, "quantity": 3}], "customer": {"age_confirmed": true},
            "tenders": [{"kind": "cash", "amount_minor": 3_390}]}),
        )
        .await;
    let sale_id = sale["sale_id"].as_str().unwrap();
    let (s, r) = app
        .post(
            &format!("/api/sales/{sale_id}/returns"),
            json!({"till_id": till, "lines": [{"line": 0, "quantity": 1, "restock": true}], "reason": "sealed, unwanted"}),
        )
        .await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["refund_minor"], 1_130);
    let (_, r) =
        app.post(&format!("/api/sales/{sale_id}/returns"), json!({"till_id": till, "lines": [{"line": 0, "quantity": 2}], "reason": "defective"})).await;
    assert_eq!(r["refund_minor"], 2_260);
    let (_, prod) = app.get(&format!("/api/products/{p}")).await;
    assert_eq!(prod["on_hand"], 8, "one restocked, two destroyed");
    let (s, r) = app.post(&format!("/api/sales/{sale_id}/returns"), json!({"till_id": till, "lines": [{"line": 0, "quantity": 1}], "reason": "x"})).await;
    assert_eq!((s, r["error"]["code"].as_str()), (409, Some("over_return")));
    let (_, closed) = app.post(&format!("/api/tills/{till}/close"), json!({"counted_minor": 10_000})).await;
    assert_eq!(closed["expected_minor"], 10_000, "cash in 3390, refunds out 3390");
}

#[tokio::test]
async fn receiving_counting_and_adjusting_keep_stock_and_variance_exact() {
    let app = spawn_app("US-WA").await;
    let p = app.product("C1", "concentrate", 1_000, 3_000, 5).await;
    let (s, r) = app.post("/api/stock/receive", json!({"supplier": "Acme", "document": "MAN-7", "lines": [{"product_id": p, "quantity": 7, "lot_code": "L2", "package_tag": "1A4FF0300000029000000002"}]})).await;
    assert_eq!(s, 200, "{r}");
    let (s, r) = app
        .post(
            "/api/stock/receive",
            json!({"supplier": "Acme", "document": "MAN-8", "lines": [{"product_id": p, "quantity": 1, "package_tag": "1A4FF0300000029000000002"}]}),
        )
        .await;
    assert_eq!((s, r["error"]["code"].as_str()), (409, Some("duplicate_package_tag")));
    let (s, r) = app.post("/api/stock/count", json!({"lines": [{"product_id": p, "counted": 10}]})).await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["lines"][0], json!({"product_id": p, "expected": 12, "counted": 10, "variance": -2}));
    let (s, r) = app.post("/api/stock/adjust", json!({"product_id": p, "delta": -11, "reason": "theft"})).await;
    assert_eq!((s, r["error"]["code"].as_str()), (409, Some("insufficient_stock")));
    let (s, r) = app.post("/api/stock/adjust", json!({"product_id": p, "delta": -3, "reason": "damage", "note": "dropped"})).await;
    assert_eq!((s, r["on_hand"].as_i64()), (200, Some(7)));
    // Washington itemizes its excise separately.
    let till = app.open_till("R1", 0).await;
    let (s, sale) = app
        .post(
            "/api/sales",
            json!({"till_id": till, "lines": [{"product_id": p, "quantity": 1}], "customer": {"age_confirmed": true},
            "tenders": [{"kind": "cash", "amount_minor": 5_000}]}),
        )
        .await;
    assert_eq!(s, 200, "{sale}");
    assert_eq!(sale["taxes"][0]["tax_id"], "excise");
    assert_eq!(sale["taxes"][0]["amount_minor"], 1_110);
    assert_eq!(sale["taxes"][0]["separate_on_receipt"], true);
}

#[tokio::test]
async fn california_needs_the_customer_id_and_counts_the_whole_day() {
    let app = spawn_app("US-CA").await;
    let c = app.product("C1", "concentrate", 3_000, 2_000, 20).await;
    let till = app.open_till("R1", 0).await;
    let sale = |id: Option<&str>, qty: i64| {
        let mut customer = json!({"age_confirmed": true});
        if let Some(id) = id {
            customer["id_number"] = json!(id);
        }
        json!({"till_id": till, "lines": [{"product_id": c, "quantity": qty}], "customer": customer, "tenders": [{"kind": "cash", "amount_minor": 100_000}]})
    };
    let (s, r) = app.post("/api/sales", sale(None, 1)).await;
    assert_eq!(s, 422);
    assert_eq!(r["error"]["violations"][0]["rule"], "customer_id_required");
    let (s, _) = app.post("/api/sales", sale(Some("D1234567"), 2)).await;
    assert_eq!(s, 200);
    let (s, r) = app.post("/api/sales", sale(Some("d-1234-567"), 1)).await;
    assert_eq!(s, 422, "same ID, differently typed: 9 g concentrate today");
    assert_eq!(r["error"]["violations"][0]["excess"], 1_000);
    app.clock.advance(24 * 3600 * 1000);
    let token = app.login("boss", crate::PASSWORD).await; // the old session idled out
    let (s, _) = app.post_as(&token, "/api/sales", sale(Some("D1234567"), 2)).await;
    assert_eq!(s, 200, "a new local day");
}

#[tokio::test]
async fn sessions_expire() {
    let app = spawn_app("CA-ON").await;
    let (s, _) = app.get("/api/me").await;
    assert_eq!(s, 200);
    app.clock.advance(stockade_store::auth::SESSION_IDLE_MS + 1);
    let (s, r) = app.get("/api/me").await;
    assert_eq!((s, r["error"]["code"].as_str()), (401, Some("unauthorized")));
}

/// Five wrong passwords from one address make that address wait (doubling), never lock the
/// account: the manager signs in from the register's address meanwhile. Waiting, unknown and
/// wrong are one answer, byte for byte, and the managers get an alert naming a hash of the
/// address, never the address.
#[tokio::test]
async fn wrong_passwords_slow_the_guessing_address_and_never_lock_the_account_out() {
    let app = spawn_app("CA-ON").await;
    let attempt = |client: reqwest::Client, user: &str, password: &str| {
        let (url, body) = (format!("{}/api/login", app.base), json!({"username": user, "password": password}));
        async move {
            let r = client.post(url).json(&body).send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let guesser = app.client.clone();
    let register = reqwest::Client::builder().local_address(std::net::IpAddr::from([127, 0, 0, 2])).build().unwrap();
    let (s, unknown) = attempt(guesser.clone(), "nobody", "wrong password").await;
    assert_eq!(s, 401);
    for i in 0..stockade_store::signin::FREE_TRIES {
        let (s, wrong) = attempt(guesser.clone(), "boss", "wrong password").await;
        assert_eq!((s, &wrong), (401, &unknown), "wrong password {i} answers as an unknown name does");
    }
    let (s, waiting) = attempt(guesser.clone(), "boss", PASSWORD).await;
    assert_eq!((s, &waiting), (401, &unknown), "the right password while that address waits: the same answer");
    // Another address (the register) is not slowed: the account is not locked.
    let (s, body) = attempt(register.clone(), "boss", PASSWORD).await;
    assert_eq!(s, 200, "{body}");
    // The managers were told, with a hash of the address.
    let alerts = app.store.alerts(10).unwrap();
    let (_, _, message) = alerts.iter().find(|(_, kind, _)| kind == "sign_in_guessing").expect("a sign-in alert");
    assert!(message.contains("staff account 'boss'") && message.contains("addr-") && !message.contains("127.0.0"), "{message}");
    // Once the wait is over the guessing address may try again, and the right password works.
    app.clock.advance(stockade_store::signin::wait_ms(stockade_store::signin::FREE_TRIES) + 1);
    let (s, _) = attempt(guesser.clone(), "boss", PASSWORD).await;
    assert_eq!(s, 200, "after the wait");
}

#[tokio::test]
async fn the_openapi_document_describes_every_route_the_router_serves() {
    let app = spawn_app("CA-ON").await;
    let r = app.client.get(format!("{}/api/openapi.json", app.base)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let doc: Value = r.json().await.unwrap();
    assert_eq!(doc["openapi"].as_str().unwrap().chars().next(), Some('3'));
    let paths = doc["paths"].as_object().unwrap();
    // Every documented operation is served: calling it never hits the router's fallback.
    let mut operations = 0;
    for (path, item) in paths {
        for method in ["get", "post", "put", "delete"] {
            if item.get(method).is_none() {
                continue;
            }
            operations += 1;
            let url = format!("{}{}", app.base, path.replace('{', "x").replace('}', ""));
            let req =
                app.client.request(method.to_uppercase().parse().unwrap(), url).bearer_auth(&app.token).header("content-type", "application/json").body("{}");
            let r = req.send().await.unwrap();
            let body: Value = r.json().await.unwrap_or(Value::Null);
            assert_ne!(body["error"]["message"], "no such route", "{method} {path} is documented but not served");
        }
    }
    // And every served route is documented: the router is built from the same registrations.
    let (router_doc_paths, served) = {
        let (_, doc) = stockade_web::api_router();
        let n: usize =
            doc.paths.paths.values().map(|i| [i.get.is_some(), i.post.is_some(), i.put.is_some(), i.delete.is_some()].iter().filter(|b| **b).count()).sum();
        (doc.paths.paths.len(), n)
    };
    assert_eq!(router_doc_paths, paths.len());
    assert_eq!(served, operations);
    assert!(operations >= 23, "{operations}");
}

#[tokio::test]
async fn a_cart_quote_meters_each_limit_and_names_the_excess_without_recording_anything() {
    let app = spawn_app("CA-ON").await;
    let flower = app.product("F1", "dried", 7_000, 5_000, 10).await;
    let before = app.journal_size().await;
    let (s, q) = app.post("/api/cart/quote", json!({"lines": [{"product_id": flower, "quantity": 2}]})).await;
    assert_eq!(s, 200, "{q}");
    // Two 7 g units at 50.00 each.
    assert_eq!(q["subtotal_minor"], 10_000);
    assert_eq!(q["tax_minor"], 1_300, "13 % HST");
    let dried = q["limits"].as_array().unwrap().iter().find(|l| l["limit_id"] == "dried_equivalent").unwrap().clone();
    assert_eq!((dried["used"].as_i64(), dried["max"].as_i64()), (Some(14_000), Some(30_000)), "{q}");
    assert!(q["violations"].as_array().unwrap().is_empty());

    let (_, over) = app.post("/api/cart/quote", json!({"lines": [{"product_id": flower, "quantity": 11}]})).await;
    let v = over["violations"].as_array().unwrap();
    assert_eq!(v.len(), 1, "{over}");
    assert_eq!((v[0]["limit_id"].as_str(), v[0]["excess"].as_i64()), (Some("dried_equivalent"), Some(47_000)), "77 g against 30 g");
    assert_eq!(over["short"], json!([flower]), "11 wanted, 10 on hand: {over}");

    let (s, bad) = app.post("/api/cart/quote", json!({"lines": [{"product_id": "nope", "quantity": 1}]})).await;
    assert_eq!((s, bad["error"]["code"].as_str()), (404, Some("unknown_product")));
    assert_eq!(app.journal_size().await, before, "a quote records nothing");
}

#[tokio::test]
async fn a_pin_switches_budtenders_and_five_wrong_pins_lock_it_until_a_password_sign_in_without_saying_so() {
    let app = spawn_app("CA-ON").await;
    let (s, _) = app.post("/api/staff", json!({"username": "sam", "display_name": "Sam", "role": "budtender", "password": "sam password"})).await;
    assert_eq!(s, 201);
    let sam = app.login("sam", "sam password").await;
    let put_pin = |token: String, body: Value| {
        let (client, url) = (app.client.clone(), format!("{}/api/me/pin", app.base));
        async move {
            let r = client.put(url).bearer_auth(token).json(&body).send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    // PIN rules, and the password must confirm the owner.
    for bad in ["123", "123456789", "12a4", "7777"] {
        let (s, r) = put_pin(sam.clone(), json!({"password": "sam password", "pin": bad})).await;
        assert_eq!((s, r["error"]["code"].as_str()), (422, Some("invalid_pin")), "{bad}");
    }
    let (s, r) = put_pin(sam.clone(), json!({"password": "not sam's", "pin": "2468"})).await;
    assert_eq!((s, r["error"]["code"].as_str()), (422, Some("wrong_password")));
    let pin_login = |user: &str, pin: &str| {
        let (client, url, body) = (app.client.clone(), format!("{}/api/login/pin", app.base), json!({"username": user, "pin": pin}));
        async move {
            let r = client.post(url).json(&body).send().await.unwrap();
            let cookie = r.headers().get("set-cookie").is_some();
            (r.status().as_u16(), cookie, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    assert_eq!(pin_login("sam", "2468").await.0, 401, "no PIN was set by the refused requests");
    assert_eq!(put_pin(sam.clone(), json!({"password": "sam password", "pin": "2468"})).await.0, 204);

    // The PIN opens a session as Sam, with the cookie a browser keeps.
    let (s, cookie, r) = pin_login("sam", "2468").await;
    assert_eq!((s, cookie, r["user"]["username"].as_str()), (200, true, Some("sam")));
    let (s, me) = app.get_as(r["token"].as_str().unwrap(), "/api/me").await;
    assert_eq!((s, me["role"].as_str()), (200, Some("budtender")));
    // Switching signs the previous session of that browser out.
    let r = app
        .client
        .post(format!("{}/api/login/pin", app.base))
        .header("cookie", format!("stockade_session={sam}"))
        .json(&json!({"username": "sam", "pin": "2468"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(app.get_as(&sam, "/api/me").await.0, 401, "the switched-from session is over");

    // Unknown users, wrong PINs and a locked PIN all look the same; the fifth wrong PIN in a
    // row locks it and tells the managers.
    let (s, _, unknown) = pin_login("nobody", "2468").await;
    assert_eq!(s, 401);
    for i in 0..stockade_store::auth::MAX_PIN_FAILURES {
        let (s, _, r) = pin_login("sam", "1357").await;
        assert_eq!((s, &r), (401, &unknown), "wrong PIN {i}");
    }
    let alerts = app.store.alerts(10).unwrap();
    assert!(alerts.iter().any(|(_, k, m)| k == "sign_in_guessing" && m.contains("PIN of staff account 'sam' is locked")), "{alerts:?}");
    // Past this address's wait, the right PIN is still refused, with the same answer.
    app.clock.advance(60_000);
    let (s, _, r) = pin_login("sam", "2468").await;
    assert_eq!((s, &r), (401, &unknown), "locked even with the right PIN");
    // Time does not unlock it; the password does.
    app.clock.advance(24 * 3600 * 1000);
    assert_eq!(pin_login("sam", "2468").await.0, 401);
    app.login("sam", "sam password").await;
    app.clock.advance(60 * 60 * 1000);
    assert_eq!(pin_login("sam", "2468").await.0, 200);
}

#[tokio::test]
async fn customer_records_are_sealed_minimized_readable_by_managers_and_deleted_at_expiry() {
    let app = spawn_app("CA-ON").await;
    let (s, _) = app.post("/api/staff", json!({"username": "sam", "display_name": "Sam", "role": "budtender", "password": "sam password"})).await;
    assert_eq!(s, 201);
    let sam = app.login("sam", "sam password").await;
    let person = json!({"name": "Jane Q. Sample", "birth_date": "1987-03-14", "id_number": "D4829173", "phone": "+1 416 555 0199",
        "email": "jane.sample@example.org", "postal_code": "M5V 2T6"});
    let (s, created) = app.post_as(&sam, "/api/customers", person).await;
    assert_eq!(s, 201, "{created}");
    let id = created["customer_id"].as_str().unwrap().to_string();
    assert_eq!(app.get_as(&sam, &format!("/api/customers/{id}")).await.0, 403, "budtenders record, managers read");
    let (s, rec) = app.get(&format!("/api/customers/{id}")).await;
    assert_eq!(s, 200, "{rec}");
    assert_eq!((rec["name"].as_str(), rec["postal_code"].as_str(), rec["birth_date"].as_str()), (Some("Jane Q. Sample"), Some("M5V 2T6"), Some("1987-03-14")));
    assert!(rec.get("id_number").is_none(), "the ID number is not kept: {rec}");
    // Bad input is refused without repeating it.
    let (s, err) = app.post("/api/customers", json!({"name": "Jane", "phone": "x".repeat(60)})).await;
    assert_eq!((s, err["error"]["code"].as_str()), (422, Some("invalid_customer")));
    assert!(!err.to_string().contains("xxxxxxxx"), "{err}");
    // Sealed at rest: nothing readable in the row, and another key cannot open it.
    let sealed: Vec<u8> = app.store.read(|c| Ok(c.query_row("SELECT sealed FROM customers", [], |r| r.get(0))?)).unwrap();
    for plain in ["Jane", "Sample", "416 555", "example.org", "M5V", "1987-03-14", "D4829173"] {
        assert!(!sealed.windows(plain.len()).any(|w| w == plain.as_bytes()), "{plain} is readable in the sealed record");
    }
    // Retention: a year and a day later the record is gone for good.
    app.clock.advance((stockade_store::customers::DEFAULT_RETENTION_DAYS + 1) * 86_400_000);
    assert_eq!(app.store.purge_expired_customers().await.unwrap(), 1);
    let token = app.login("boss", PASSWORD).await;
    assert_eq!(app.get_as(&token, &format!("/api/customers/{id}")).await.0, 404);
}
