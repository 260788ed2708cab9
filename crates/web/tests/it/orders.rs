//! Online orders: reservation under concurrency, the state machine, expiry, and public tracking
//! that cannot be enumerated and shows no personal data.

use crate::{spawn_app, TestApp};
use serde_json::{json, Value};
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

const NAME: &str = "Jane Q. Sample";
const PHONE: &str = "+1 416 555 0199";
const EMAIL: &str = "jane.sample@example.org";
const POSTAL: &str = "M5V 2T6";
const BIRTH: &str = "1987-03-14";

/// An order from a customer of its own (a new phone number each time, so the per-customer
/// limits stay out of tests about something else).
fn order_body(product: &str, quantity: i64, kind: &str) -> Value {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    order_from(product, quantity, kind, &format!("{PHONE}{n:04}"))
}

fn order_from(product: &str, quantity: i64, kind: &str, phone: &str) -> Value {
    json!({"kind": kind, "lines": [{"product_id": product, "quantity": quantity}],
        "customer": {"name": NAME, "birth_date": BIRTH, "age_confirmed": true, "phone": phone, "email": EMAIL, "postal_code": POSTAL}})
}

/// Lets online orders take every unit, for tests of the state machine and of races (the
/// checkout limits have tests of their own).
fn open_checkout(app: &TestApp) {
    let all = stockade_store::checkout::CheckoutPolicy { counter_reserve_percent: 0, order_share_percent: 100, day_share_percent: 1000, ..Default::default() };
    app.store.set_checkout_policy(all).unwrap();
}

/// A client whose requests come from `ip` (any 127.x.y.z reaches the loopback server).
fn client_from(ip: Ipv4Addr) -> reqwest::Client {
    reqwest::Client::builder().local_address(IpAddr::V4(ip)).build().unwrap()
}

async fn place(app: &TestApp, client: &reqwest::Client, body: &Value) -> (u16, Value) {
    let r = client.post(format!("{}/api/orders", app.base)).json(body).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

async fn track(app: &TestApp, client: &reqwest::Client, token: &str) -> (u16, String) {
    let r = client.get(format!("{}/api/track/{token}", app.base)).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_customers_race_for_ten_units_and_exactly_ten_orders_hold_them() {
    let app = spawn_app("CA-ON").await;
    open_checkout(&app);
    let product = app.product("F1", "dried", 1_000, 1_299, 10).await;
    let till = app.open_till("R1", 0).await;
    let mut tasks = Vec::new();
    for i in 0..50u8 {
        let (base, body) = (app.base.clone(), order_body(&product, 1, "pickup"));
        let client = client_from(Ipv4Addr::new(127, 0, 1, i + 1));
        tasks.push(tokio::spawn(async move {
            let r = client.post(format!("{base}/api/orders")).json(&body).send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }));
    }
    let mut won = Vec::new();
    for t in tasks {
        let (s, body) = t.await.unwrap();
        match s {
            201 => won.push(body),
            409 => assert_eq!(body["error"]["code"], "insufficient_stock", "{body}"),
            _ => panic!("unexpected {s}: {body}"),
        }
    }
    assert_eq!(won.len(), 10, "exactly the ten units were ordered");
    let (_, p) = app.get(&format!("/api/products/{product}")).await;
    assert_eq!(p["on_hand"], 10, "reserved, not sold: stock is never negative");
    // The register cannot sell reserved units, and its quote says so.
    let sale = json!({"till_id": till, "lines": [{"product_id": product, "quantity": 1}], "customer": {"age_confirmed": true},
        "tenders": [{"kind": "cash", "amount_minor": 10_000}]});
    let (s, refused) = app.post("/api/sales", sale.clone()).await;
    assert_eq!((s, refused["error"]["code"].as_str()), (409, Some("insufficient_stock")), "{refused}");
    assert!(refused["error"]["message"].as_str().unwrap().contains("reserved for online orders"));
    let (_, menu) = app.client.get(format!("{}/api/menu", app.base)).send().await.unwrap().json::<Value>().await.map(|m| (0, m)).unwrap();
    assert!(menu.as_array().unwrap().iter().all(|m| m["product_id"] != product.as_str()), "sold out online: {menu}");
    // A cancelled order frees its unit for the counter.
    let (s, cancelled) = app.post(&format!("/api/orders/{}/cancel", won[0]["order_id"].as_str().unwrap()), json!({"reason": "customer called"})).await;
    assert_eq!((s, cancelled["status"].as_str()), (200, Some("cancelled")), "{cancelled}");
    let (s, sold) = app.post("/api/sales", sale).await;
    assert_eq!(s, 200, "{sold}");
}

#[tokio::test]
async fn orders_follow_the_state_machine_and_expiry_releases_their_stock() {
    let app = spawn_app("CA-ON").await;
    open_checkout(&app);
    let product = app.product("F1", "dried", 1_000, 1_299, 5).await;
    let till = app.open_till("R1", 0).await;
    let public = reqwest::Client::new();
    let (s, order) = place(&app, &public, &order_body(&product, 2, "pickup")).await;
    assert_eq!(s, 201, "{order}");
    let id = order["order_id"].as_str().unwrap();
    // Not every step is allowed from every state.
    let (s, err) = app.post(&format!("/api/orders/{id}/ready"), json!({})).await;
    assert_eq!((s, err["error"]["code"].as_str()), (409, Some("invalid_transition")), "{err}");
    let (s, err) = app.post(&format!("/api/orders/{id}/dispatch"), json!({})).await;
    assert_eq!(s, 409, "a pickup order is not dispatched: {err}");
    for step in ["accept", "pick", "ready"] {
        let (s, v) = app.post(&format!("/api/orders/{id}/{step}"), json!({})).await;
        assert_eq!(s, 200, "{step}: {v}");
    }
    // Hand-over: the age check on ID is required.
    let handover = |age: bool| json!({"till_id": till, "age_confirmed": age, "tenders": [{"kind": "cash", "amount_minor": 5_000}]});
    let (s, err) = app.post(&format!("/api/orders/{id}/handover"), handover(false)).await;
    assert_eq!((s, err["error"]["code"].as_str()), (422, Some("sale_refused")), "{err}");
    let (s, done) = app.post(&format!("/api/orders/{id}/handover"), handover(true)).await;
    assert_eq!((s, done["status"].as_str()), (200, Some("completed")), "{done}");
    let sale_id = done["sale_id"].as_str().unwrap();
    let (s, receipt) = app.get(&format!("/api/sales/{sale_id}")).await;
    assert_eq!((s, receipt["total_minor"].clone()), (200, order["total_minor"].clone()), "the quoted total is what is paid");
    let (_, p) = app.get(&format!("/api/products/{product}")).await;
    assert_eq!(p["on_hand"], 3);

    // An order nobody collects expires when its window passes, and its units come back.
    let (s, late) = place(&app, &public, &order_body(&product, 3, "pickup")).await;
    assert_eq!(s, 201, "{late}");
    let (s, _) = place(&app, &public, &order_body(&product, 1, "pickup")).await;
    assert_eq!(s, 409, "all three remaining units are held");
    app.clock.advance(3 * 3600 * 1000);
    assert_eq!(app.store.expire_orders().await.unwrap(), 1);
    let (_, t) = track(&app, &public, late["tracking_token"].as_str().unwrap()).await;
    assert!(t.contains("\"expired\""), "{t}");
    let (s, again) = place(&app, &public, &order_body(&product, 3, "pickup")).await;
    assert_eq!(s, 201, "released by expiry: {again}");
    // Every step is a journal entry; the store verifies.
    let kinds: Vec<String> = app
        .store
        .read(|c| Ok(c.prepare("SELECT kind FROM journal WHERE kind LIKE 'order%' ORDER BY seq")?.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?))
        .unwrap();
    assert_eq!(kinds.iter().filter(|k| *k == "order_status_changed").count(), 4, "{kinds:?}");
    assert_eq!(kinds.iter().filter(|k| *k == "order_completed").count(), 1);
    let report = stockade_store::verify::verify_store(app.store.dir());
    assert!(report.as_ref().is_ok_and(|r| r.projection_rows > 0), "the replayed journal equals the stored state: {:?}", report.err());
}

/// Everything a public tracking answer may hold; the values of none of them is personal.
const TRACKING_FIELDS: [&str; 5] = ["status", "status_label", "updated_at_ms", "window_end_ms", "window_start_ms"];

/// No personal data, and on the public answers not even the order number.
fn assert_no_personal_data(text: &str, order: &Value, what: &str) {
    let order_no = order["order_no"].to_string();
    let public = what != "the details";
    for secret in
        [NAME, "Jane", "Sample", PHONE, "555", EMAIL, "example.org", POSTAL, "M5V", BIRTH, "1987"].into_iter().chain(public.then_some(order_no.as_str()))
    {
        assert!(!text.contains(secret), "{what} shows '{secret}': {text}");
    }
}

#[tokio::test]
async fn tracking_shows_status_and_window_only_in_every_state() {
    let app = spawn_app("CA-ON").await;
    open_checkout(&app);
    let product = app.product("F1", "dried", 1_000, 1_299, 50).await;
    let till = app.open_till("R1", 0).await;
    let public = reqwest::Client::new();
    // One order per path through the state machine.
    let paths: [(&str, &[&str]); 6] = [
        ("pickup", &["accept", "pick", "ready", "handover"]),
        ("delivery", &["accept", "pick", "dispatch", "handover"]),
        ("pickup", &["cancel"]),
        ("delivery", &["accept", "pick", "dispatch", "refuse"]),
        ("pickup", &["accept", "expire"]),
        ("pickup", &[]),
    ];
    let mut seen = std::collections::BTreeSet::new();
    for (kind, steps) in paths {
        let (s, order) = place(&app, &public, &order_body(&product, 1, kind)).await;
        assert_eq!(s, 201, "{order}");
        let (id, token) = (order["order_id"].as_str().unwrap().to_string(), order["tracking_token"].as_str().unwrap().to_string());
        assert!(token.len() >= 32 && !token.contains(&order["order_no"].to_string()), "an unguessable token, apart from the order number");
        let mut check = |t: &str, stage: &str| {
            let v: Value = serde_json::from_str(t).unwrap();
            let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
            assert_eq!(keys, TRACKING_FIELDS, "{stage}: only status and window");
            assert_no_personal_data(t, &order, stage);
            seen.insert(v["status"].as_str().unwrap().to_string());
        };
        let (_, t) = track(&app, &public, &token).await;
        check(&t, "placed");
        for step in steps {
            match *step {
                "handover" => {
                    let body = json!({"till_id": till, "age_confirmed": true, "tenders": [{"kind": "cash", "amount_minor": 5_000}]});
                    assert_eq!(app.post(&format!("/api/orders/{id}/handover"), body).await.0, 200);
                }
                "expire" => {
                    app.clock.advance(3 * 3600 * 1000);
                    app.store.expire_orders().await.unwrap();
                }
                _ => assert_eq!(app.post(&format!("/api/orders/{id}/{step}"), json!({"reason": "test"})).await.0, 200, "{step}"),
            }
            let (s, t) = track(&app, &public, &token).await;
            assert_eq!(s, 200);
            check(&t, step);
            // The page too.
            let page = public.get(format!("{}/track/{token}", app.base)).send().await.unwrap().text().await.unwrap();
            assert_no_personal_data(&page, &order, "the tracking page");
        }
        // With the one-time code: the order's lines and total, still no personal data.
        let r = public.get(format!("{}/api/track/{token}/details", app.base)).header("x-order-code", order["code"].as_str().unwrap()).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_no_personal_data(&r.text().await.unwrap(), &order, "the details");
    }
    let all: std::collections::BTreeSet<String> =
        ["placed", "accepted", "picked", "ready", "out_for_delivery", "completed", "cancelled", "refused", "expired"].iter().map(|s| s.to_string()).collect();
    assert_eq!(seen, all, "every state was inspected");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hundred_thousand_guesses_find_nothing_are_throttled_and_raise_an_alert_while_a_customer_tracks_their_order() {
    let app = spawn_app("CA-ON").await;
    let product = app.product("F1", "dried", 1_000, 1_299, 5).await;
    let customer = client_from(Ipv4Addr::new(127, 0, 0, 2));
    let (s, order) = place(&app, &customer, &order_body(&product, 1, "pickup")).await;
    assert_eq!(s, 201);
    let token = order["tracking_token"].as_str().unwrap().to_string();
    let order_no = order["order_no"].as_u64().unwrap();

    // The attacker: order numbers around the real one, then random tokens, then tokens one
    // digit away from a random start, from one address, 8 requests at a time.
    let attacker = client_from(Ipv4Addr::new(127, 0, 0, 3));
    let mut guesses: Vec<String> = (order_no.saturating_sub(500)..order_no + 500).map(|n| n.to_string()).collect();
    use rand::Rng;
    let mut rng = rand::thread_rng();
    while guesses.len() < 50_000 {
        guesses.push((0..32).map(|_| format!("{:02x}", rng.gen::<u8>())).collect());
    }
    let start: u128 = rng.gen();
    guesses.extend((0..50_000u128).map(|i| format!("{:064x}", start.wrapping_add(i))));
    assert_eq!(guesses.len(), 100_000);
    let guesses = std::sync::Arc::new(guesses);
    let customer_checks = {
        let (customer, base, token) = (customer.clone(), app.base.clone(), token.clone());
        tokio::spawn(async move {
            let mut ok = 0;
            for _ in 0..50 {
                let r = customer.get(format!("{base}/api/track/{token}")).send().await.unwrap();
                assert_eq!(r.status(), 200, "the customer is never throttled by someone else's guessing");
                ok += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            ok
        })
    };
    let mut workers = Vec::new();
    for w in 0..8 {
        let (attacker, base, guesses) = (attacker.clone(), app.base.clone(), guesses.clone());
        workers.push(tokio::spawn(async move {
            let (mut hits, mut misses, mut throttled) = (0, 0, 0);
            for g in guesses.iter().skip(w).step_by(8) {
                match attacker.get(format!("{base}/api/track/{g}")).send().await.unwrap().status().as_u16() {
                    200 => hits += 1,
                    404 => misses += 1,
                    429 => throttled += 1,
                    s => panic!("unexpected status {s}"),
                }
            }
            (hits, misses, throttled)
        }));
    }
    let (mut hits, mut misses, mut throttled) = (0, 0, 0);
    for w in workers {
        let (h, m, t) = w.await.unwrap();
        (hits, misses, throttled) = (hits + h, misses + m, throttled + t);
    }
    assert_eq!(hits, 0, "no guess found an order");
    assert!(misses <= stockade_web::limits::CLIENT_MISSES + 8, "throttled after a handful of misses: {misses}");
    assert_eq!(hits + misses + throttled, 100_000);
    assert_eq!(customer_checks.await.unwrap(), 50);
    // The alert is in the store's journal (so it reaches HQ) and in the API.
    let (s, alerts) = app.get("/api/alerts").await;
    assert_eq!(s, 200);
    let alerts = alerts.as_array().unwrap();
    // The address is named by a keyed daily hash: the journal never holds the address itself.
    assert!(alerts.iter().any(|a| a["kind"] == "enumeration" && a["message"].as_str().unwrap().contains("(addr-")), "{alerts:?}");
    assert!(alerts.iter().all(|a| !a["message"].as_str().unwrap().contains("127.0.0.3")), "{alerts:?}");
    // Even the right token is refused to the blocked address; the customer's own still works.
    assert_eq!(track(&app, &attacker, &token).await.0, 429);
    assert_eq!(track(&app, &customer, &token).await.0, 200);
}

#[tokio::test]
async fn an_unknown_token_and_a_wrong_code_get_the_same_answer_in_the_same_time() {
    let app = spawn_app("CA-ON").await;
    let product = app.product("F1", "dried", 1_000, 1_299, 5).await;
    let (s, order) = place(&app, &reqwest::Client::new(), &order_body(&product, 1, "pickup")).await;
    assert_eq!(s, 201);
    let token = order["tracking_token"].as_str().unwrap().to_string();
    let unknown = "ab".repeat(32);
    // Each address may miss a few times only: spread the 2,000 requests over many addresses.
    let clients: Vec<reqwest::Client> = (0..250u32).map(|i| client_from(Ipv4Addr::new(127, 2, (i / 250) as u8, (i % 250) as u8 + 1))).collect();
    let mut times: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    let mut bodies: [Option<(u16, String)>; 2] = [None, None];
    for i in 0..1000 {
        let client = &clients[i % 250];
        for (k, t) in [&unknown, &token].into_iter().enumerate() {
            let since = Instant::now();
            let r = client.get(format!("{}/api/track/{t}/details", app.base)).header("x-order-code", "00000000").send().await.unwrap();
            let answer = (r.status().as_u16(), r.text().await.unwrap());
            times[k].push(since.elapsed().as_secs_f64() * 1000.0);
            match &bodies[k] {
                None => bodies[k] = Some(answer),
                Some(first) => assert_eq!(first, &answer, "the answer never changes"),
            }
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert_eq!(bodies[0], bodies[1], "unknown token and wrong code: same status, same body");
    assert_eq!(bodies[0].as_ref().unwrap().0, 404);
    let p95 = |v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.total_cmp(b));
        v[v.len() * 95 / 100]
    };
    let (a, b) = (p95(&mut times[0]), p95(&mut times[1]));
    println!("p95: unknown token {a:.3} ms, wrong code {b:.3} ms");
    assert!((a - b).abs() < 5.0, "p95 differ by {:.3} ms", (a - b).abs());
}

/// The finding: one anonymous order reserved a product's whole stock for a week, and the
/// register's next sale of it was refused; one address placed ~250 orders a second. Now,
/// with the default limits: no window a week ahead, no order for the whole shelf, one
/// customer holds at most three open orders, one address makes 20 attempts an hour, online
/// orders together never hold the counter's 30 %, a flood raises an alert — and the counter
/// sells throughout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_anonymous_flood_of_orders_cannot_empty_the_shelf_and_raises_an_alert() {
    let app = spawn_app("CA-ON").await;
    // Rolling papers: no purchase limit stands in the way of a hoarder.
    let product = app.product("A1", "non_cannabis", 1_000, 299, 200).await;
    let till = app.open_till("R1", 0).await;
    let public = client_from(Ipv4Addr::new(127, 0, 2, 1));

    // A week ahead, or the whole shelf: refused.
    let mut week = order_body(&product, 1, "pickup");
    week["window_start_ms"] = json!(crate::START_MS + 6 * 86_400_000);
    let (s, r) = place(&app, &public, &week).await;
    assert_eq!((s, r["error"]["code"].as_str()), (409, Some("invalid_window")), "{r}");
    let (s, r) = place(&app, &public, &order_body(&product, 200, "pickup")).await;
    assert_eq!((s, r["error"]["code"].as_str()), (409, Some("online_limit")), "{r}");
    assert!(r["error"]["message"].as_str().unwrap().contains("at most 35"), "a quarter of the 140 online orders may hold: {r}");

    // One customer: three open orders, the fourth refused.
    for i in 0..4 {
        let (s, r) = place(&app, &public, &order_from(&product, 1, "pickup", "+1 416 555 7777")).await;
        if i < 3 {
            assert_eq!(s, 201, "{r}");
        } else {
            assert_eq!((s, r["error"]["code"].as_str()), (409, Some("too_many_orders")), "{r}");
        }
    }
    // Many "customers" from one address: the online budget runs out, then the address is cut off.
    let mut answers = Vec::new();
    loop {
        let (s, r) = place(&app, &public, &order_body(&product, 35, "pickup")).await;
        answers.push((s, r["error"]["code"].as_str().unwrap_or("").to_string()));
        if s == 429 {
            break;
        }
        assert!(answers.len() <= 20, "{answers:?}");
    }
    assert_eq!(answers.len() + 6, stockade_web::limits::ORDERS_PER_ADDRESS_PER_HOUR + 1, "{answers:?}");
    assert!(answers.iter().any(|(_, c)| c == "online_limit"), "the online budget ran out: {answers:?}");
    let (_, p) = app.get(&format!("/api/products/{product}")).await;
    let reserved: i64 = 200
        - app.get("/api/menu").await.1.as_array().unwrap().iter().find(|m| m["product_id"] == product.as_str()).map_or(0, |m| m["available"].as_i64().unwrap());
    assert!(reserved <= 140, "online orders hold {reserved} of 200; the counter keeps 60: {p}");

    // A flood from many addresses raises one alert.
    for i in 0..stockade_web::limits::ORDER_FLOOD as u8 {
        let c = client_from(Ipv4Addr::new(127, 0, 3, i + 1));
        let (s, _) = place(&app, &c, &order_body(&product, 1, "pickup")).await;
        assert!(matches!(s, 201 | 409), "{s}");
    }
    let alerts = app.store.alerts(50).unwrap();
    assert_eq!(alerts.iter().filter(|(_, k, _)| k == "order_flood").count(), 1, "{alerts:?}");

    // The counter sells through it all: 50 of the units online orders cannot hold.
    let sale = json!({"till_id": till, "lines": [{"product_id": product, "quantity": 50}], "customer": {"age_confirmed": true},
        "tenders": [{"kind": "cash", "amount_minor": 100_000}]});
    let (s, sold) = app.post("/api/sales", sale).await;
    assert_eq!(s, 200, "{sold}");
}
