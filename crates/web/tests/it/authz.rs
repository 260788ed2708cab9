//! The authorization matrix: every route × every role × own/other retailer × own/other store.
//! Routes come from the routers themselves (the store API's generated OpenAPI document, HQ's
//! route table), so a route added without a rule here fails the test.

use crate::{spawn_app, TestApp, PASSWORD, START_MS};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use stockade_hq::access::{HqRole, Principal};
use stockade_hq::Hq;
use stockade_store::clock::ManualClock;
use stockade_store::{InitOptions, Store};
use stockade_web::hq::{Guard, ROUTES};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Rule {
    /// Anyone (signing in).
    Public,
    /// Any signed-in staff member of this store.
    Staff,
    /// A manager of this store.
    Manager,
    /// Head office only, by its signature (no staff session opens it).
    HqSigned,
}

fn store_rules() -> BTreeMap<(&'static str, &'static str), Rule> {
    use Rule::*;
    BTreeMap::from([
        (("post", "/api/login"), Public),
        (("post", "/api/login/pin"), Public),
        (("post", "/api/logout"), Staff),
        (("get", "/api/me"), Staff),
        (("put", "/api/me/pin"), Staff),
        (("get", "/api/status"), Staff),
        (("get", "/api/products"), Staff),
        (("post", "/api/products"), Manager),
        (("get", "/api/products/{product_id}"), Staff),
        (("put", "/api/products/{product_id}"), Manager),
        (("post", "/api/products/{product_id}/price"), Manager),
        (("get", "/api/barcodes/{gtin}"), Staff),
        (("post", "/api/stock/receive"), Manager),
        (("post", "/api/stock/adjust"), Manager),
        (("post", "/api/stock/count"), Manager),
        (("post", "/api/sales"), Staff),
        (("get", "/api/sales/{sale_id}"), Staff),
        (("post", "/api/sales/{sale_id}/void"), Manager),
        (("post", "/api/sales/{sale_id}/returns"), Manager),
        (("get", "/api/tills"), Staff),
        (("get", "/api/purchase-orders"), Manager),
        (("post", "/api/tills"), Staff),
        (("post", "/api/tills/{till_id}/close"), Staff),
        (("get", "/api/reports/end-of-day"), Manager),
        (("get", "/api/staff"), Manager),
        (("post", "/api/staff"), Manager),
        (("get", "/api/journal"), HqSigned),
        (("get", "/api/hq-evidence"), HqSigned),
        (("post", "/api/cart/quote"), Staff),
        (("post", "/api/customers"), Staff),
        (("get", "/api/customers/{customer_id}"), Manager),
        (("get", "/api/menu"), Public),
        (("post", "/api/orders"), Public),
        (("get", "/api/orders"), Staff),
        (("get", "/api/track/{token}"), Public),
        (("get", "/api/track/{token}/details"), Public),
        (("post", "/api/orders/{order_id}/{action}"), Staff),
        (("post", "/api/orders/{order_id}/handover"), Staff),
        (("get", "/api/alerts"), Manager),
    ])
}

async fn call(app: &TestApp, method: &str, path: &str, token: Option<&str>) -> (u16, String) {
    let url = format!("{}{}", app.base, path.replace('{', "x").replace('}', ""));
    let mut req = app.client.request(method.to_uppercase().parse().unwrap(), url).header("content-type", "application/json").body("{}");
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let r = req.send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test]
async fn every_store_route_admits_exactly_its_roles_and_no_other_stores_session() {
    let own = spawn_app("CA-ON").await;
    let other_store = spawn_app("CA-ON").await;
    let other_retailer = spawn_app("US-WA").await;
    let (s, _) = own.post("/api/staff", json!({"username": "sam", "display_name": "Sam", "role": "budtender", "password": "sam password"})).await;
    assert_eq!(s, 201);
    let mut budtender = own.login("sam", "sam password").await;
    let mut manager = own.token.clone();
    let rules = store_rules();
    let (_, doc) = stockade_web::api_router();
    let mut checked = 0;
    for (path, item) in &doc.paths.paths {
        let ops = [("get", item.get.is_some()), ("post", item.post.is_some()), ("put", item.put.is_some()), ("delete", item.delete.is_some())];
        for (method, present) in ops {
            if !present {
                continue;
            }
            let rule = *rules.get(&(method, path.as_str())).unwrap_or_else(|| panic!("{method} {path} has no rule in the authorization matrix"));
            let callers: [(&str, Option<String>); 5] = [
                ("anonymous", None),
                ("budtender", Some(budtender.clone())),
                ("manager", Some(manager.clone())),
                ("another store's manager", Some(other_store.token.clone())),
                ("another retailer's manager", Some(other_retailer.token.clone())),
            ];
            for (who, token) in callers {
                let (status, body) = call(&own, method, path, token.as_deref()).await;
                if path == "/api/logout" && status == 204 {
                    // Signing out ends that session: sign in again for the next routes.
                    match who {
                        "budtender" => budtender = own.login("sam", "sam password").await,
                        _ => manager = own.login("boss", PASSWORD).await,
                    }
                }
                let allowed = match (rule, who) {
                    (Rule::Public, _) => true,
                    (Rule::HqSigned, _) => false,
                    (Rule::Staff, "budtender" | "manager") => true,
                    (Rule::Manager, "manager") => true,
                    _ => false,
                };
                if allowed {
                    assert!(status != 401 && status != 403, "{who} must be let through {method} {path}: {status} {body}");
                } else {
                    let expect: &[u16] = match (rule, who) {
                        (Rule::Manager, "budtender") => &[403],
                        // Head office's own route: no staff session opens it (401), and a store
                        // with no head office refuses it outright (403).
                        (Rule::HqSigned, _) => &[401, 403],
                        _ => &[401],
                    };
                    assert!(expect.contains(&status), "{who} must be refused {method} {path} with {expect:?}: {status} {body}");
                }
                // Nothing of another store ever comes back: not its name, not its key.
                for foreign in [&other_store, &other_retailer] {
                    let name = &foreign.store.info().store_id;
                    assert!(!body.contains(name.as_str()), "{who} {method} {path} answered another store's data");
                }
                checked += 1;
            }
        }
    }
    assert_eq!(checked, rules.len() * 5, "every rule was exercised");
}

/// A store with the demo catalog and a few sales, its journal pushed to `hq` under `retailer`.
async fn store_at_hq(hq: &Arc<Hq>, dir: &std::path::Path, retailer: &str, name: &str) -> String {
    let clock = Arc::new(ManualClock::new(START_MS));
    let d = dir.join(name);
    let opts = InitOptions { name: name.into(), jurisdiction: "CA-ON".into(), manager_username: "boss".into(), manager_password: PASSWORD.into() };
    let (d2, c2) = (d.clone(), clock.clone());
    tokio::task::spawn_blocking(move || Store::init(&d2, &opts, c2)).await.unwrap().unwrap();
    let store = Store::open(&d, clock, Some(3)).unwrap();
    let boss = store.first_manager().unwrap();
    store.import_products(&boss, include_bytes!("../../../cli/demo/catalog.csv").to_vec(), false).await.unwrap();
    store.receive_all(&boss, 50).await.unwrap();
    store.simulate(&boss, 12, 5, |_| {}).await.unwrap();
    let pk: String = store.public_key().to_bytes().iter().map(|b| format!("{b:02x}")).collect();
    let code = hq.add_store(retailer, &pk, name).unwrap();
    let store_id = store.info().store_id.clone();
    hq.enroll(&code, &store_id, &pk).unwrap();
    let (s2, h2, id) = (store.clone(), hq.clone(), store_id.clone());
    tokio::task::spawn_blocking(move || {
        let mut acked = 0;
        while let Some(b) = s2.batch_after(acked, 1000).unwrap() {
            h2.push(&id, &b.entries, &b.checkpoint, &b.signature, b.head_size).unwrap();
            acked = b.checkpoint.size;
        }
    })
    .await
    .unwrap();
    store_id
}

#[tokio::test]
async fn every_hq_route_admits_exactly_its_roles_and_no_answer_holds_another_retailers_data() {
    let tmp = tempfile::tempdir().unwrap();
    let db = stockade_hq::db::Db::open_sqlite(&tmp.path().join("hq.db")).unwrap();
    let hq = Arc::new(Hq::init(&tmp.path().join("hq"), db, "Matrix HQ", Arc::new(|| START_MS)).unwrap());
    hq.add_retailer("alpha", "Alpha Cannabis").unwrap();
    hq.add_retailer("beta", "Beta Retail").unwrap();
    let mut store_ids = BTreeMap::new();
    for (retailer, name) in [("alpha", "Alpha One"), ("alpha", "Alpha Two"), ("beta", "Beta One")] {
        store_ids.insert(name, (retailer, store_at_hq(&hq, tmp.path(), retailer, name).await));
    }
    // Forecasts and proposals for every store, so the proposal routes have rows to leak.
    let h2 = hq.clone();
    let run = tokio::task::spawn_blocking(move || h2.run_forecasts(&stockade_hq::replenish::RunParams::default(), &|_| {})).await.unwrap().unwrap();
    assert!(run.series > 0, "{run:?}");
    let root = Principal::local_admin();
    let mut tokens: Vec<(&str, HqRole, Option<&str>, String)> = Vec::new();
    for (who, role, retailer) in [
        ("admin", HqRole::Admin, None),
        ("analyst", HqRole::Analyst, None),
        ("alpha owner", HqRole::Owner, Some("alpha")),
        ("beta owner", HqRole::Owner, Some("beta")),
        ("auditor", HqRole::Auditor, None),
    ] {
        let (_, token) = hq.add_user(&root, who, role, retailer).unwrap();
        tokens.push((who, role, retailer, token));
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(stockade_web::hq::serve_hq(hq.clone(), 300_000, listener, std::future::pending()));
    let client = reqwest::Client::new();
    let day = "2026-11-22";

    // The test's own expectations, one per route: a route without one fails here.
    let expected: BTreeMap<&str, Guard> = BTreeMap::from([
        ("/hq/api/v1/enroll", Guard::Public),
        ("/hq/api/v1/push", Guard::Store),
        ("/hq/api/v1/my/journal", Guard::Store),
        ("/hq/api/v1/my/catalog", Guard::Store),
        ("/hq/api/v1/my/orders", Guard::Store),
        ("/hq/api/v1/my/registry", Guard::Store),
        ("/hq/api/v1/proposals", Guard::User),
        ("/hq/api/v1/purchase-orders", Guard::User),
        ("/hq/api/v1/status", Guard::User),
        ("/hq/api/v1/reports/daily", Guard::User),
        ("/hq", Guard::User),
        ("/hq/report", Guard::User),
        ("/hq/proposals", Guard::User),
        ("/hq/proposals/approve", Guard::User),
        ("/hq/login", Guard::Public),
    ]);
    assert_eq!(ROUTES.len(), expected.len());
    let query = |path: &str| match path {
        "/hq/api/v1/reports/daily" | "/hq/report" => format!("?date={day}"),
        _ => String::new(),
    };
    for (method, path, guard) in ROUTES {
        let want = expected.get(path).unwrap_or_else(|| panic!("{method} {path} has no rule in the authorization matrix"));
        assert_eq!(guard, want, "{path}");
        let html = !path.starts_with("/hq/api/");
        let mut callers: Vec<HqCaller> = vec![("anonymous", None, None, None)];
        callers.extend(tokens.iter().map(|(who, role, r, t)| (*who, Some(*role), *r, Some(t.as_str()))));
        for (who, role, retailer, token) in callers {
            let url = format!("{base}{path}{}", query(path));
            let mut req = client.request(method.parse().unwrap(), &url).header("content-type", "application/json").body("{}");
            if let Some(t) = token {
                req = if html { req.header("cookie", format!("stockade_hq={t}")) } else { req.bearer_auth(t) };
            }
            let r = req.send().await.unwrap();
            let status = r.status().as_u16();
            let body = r.text().await.unwrap();
            assert!(!body.contains("no such route"), "{method} {path} is in the table but not served");
            match guard {
                // A signed request from an enrolled store only; a body that is not even a batch is
                // refused before anything is looked up.
                Guard::Store => assert!(status == 401 || (*method == "POST" && status == 422), "{who}: {method} {path} answers stores only: {status} {body}"),
                Guard::Public => assert!(status != 401 && status != 403 || path.ends_with("enroll"), "{who}: {method} {path}: {status}"),
                Guard::User if role.is_none() => {
                    if html {
                        assert!(status == 200 && body.contains("name=\"token\"") && !body.contains("Alpha"), "{who}: {path} shows the sign-in form only");
                    } else {
                        assert_eq!(status, 401, "{who}: {method} {path}");
                    }
                }
                // A JSON body without the order's fields is refused before anything is decided.
                Guard::User if !html && *method == "POST" => assert_eq!(status, 422, "{who}: {method} {path}: {body}"),
                Guard::User => assert_eq!(status, 200, "{who}: {method} {path}: {body}"),
            }
            // What each role may see of the stores.
            let visible: Vec<&str> = match (role, retailer) {
                (Some(HqRole::Admin | HqRole::Auditor), _) => vec!["Alpha One", "Alpha Two", "Beta One"],
                (Some(HqRole::Owner), Some("alpha")) => vec!["Alpha One", "Alpha Two"],
                (Some(HqRole::Owner), Some("beta")) => vec!["Beta One"],
                // Analysts: sync state of every store, but sales only per retailer (no agreement).
                (Some(HqRole::Analyst), _) if path.ends_with("/status") || *path == "/hq" || *path == "/hq/login" => vec!["Alpha One", "Alpha Two", "Beta One"],
                _ => vec![],
            };
            for (name, (_, id)) in &store_ids {
                let shows = body.contains(name) || body.contains(id.as_str());
                let sales_only = path.contains("report") || *path == "/hq/api/v1/proposals";
                if !visible.contains(name) {
                    assert!(!shows, "{who}: {method} {path} shows {name}: {body}");
                } else if guard == &Guard::User && sales_only && role != Some(HqRole::Analyst) {
                    assert!(body.contains(name), "{who}: {path} should show {name}");
                }
            }
            if role == Some(HqRole::Owner) {
                let other = if retailer == Some("alpha") { "beta" } else { "alpha" };
                let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
                if let Some(rows) = v.as_array() {
                    assert!(rows.iter().all(|row| row["retailer_id"] != other), "{who}: {path} holds {other}'s rows");
                }
            }
        }
    }
    // An owner asking for the other retailer by name is refused, and the refusal is audited.
    let beta_owner = &tokens[3].3;
    let r = client.get(format!("{base}/hq/api/v1/reports/daily?date={day}&retailer=alpha")).bearer_auth(beta_owner).send().await.unwrap();
    assert_eq!(r.status(), 403);
    let denied = hq.audit_query(&stockade_hq::audit::AuditFilter { kind: Some("denied".into()), ..Default::default() }).unwrap();
    assert!(denied.iter().any(|d| d.user_name == "beta owner" && d.retailer_id == "alpha"), "{denied:?}");

    // Approving alpha's proposals into a purchase order: alpha's owner or an admin; not the
    // analyst (alpha shares no store-level data), beta's owner or the auditor.
    let alpha_one = &store_ids["Alpha One"].1;
    for (who, _, _, token) in &tokens {
        let r = client
            .post(format!("{base}/hq/api/v1/purchase-orders"))
            .bearer_auth(token)
            .json(&serde_json::json!({"retailer_id": "alpha", "store_id": alpha_one}))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let body = r.text().await.unwrap();
        match *who {
            // The first allowed caller gets the order; the second finds nothing left to approve.
            "admin" | "alpha owner" => assert!(status == 201 || body.contains("nothing_to_approve"), "{who}: {status} {body}"),
            _ => assert_eq!(status, 403, "{who}: {body}"),
        }
    }
}

/// (label, role, retailer scope, token) of one caller in the HQ matrix.
type HqCaller<'a> = (&'a str, Option<HqRole>, Option<&'a str>, Option<&'a str>);
