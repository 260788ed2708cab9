//! Integration tests: the real server on a loopback port, a real SQLite file in a temp folder.

mod api;
mod authz;
mod bad_input;
mod contract;
mod orders;
mod robust;

use serde_json::{json, Value};
use std::sync::Arc;
use stockade_store::clock::ManualClock;
use stockade_store::{InitOptions, Store};

pub const PASSWORD: &str = "correct horse battery";
/// 2026-11-22 15:00 UTC (10:00 in Toronto).
pub const START_MS: i64 = 1_795_359_600_000;

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub token: String,
    pub store: Store,
    pub clock: Arc<ManualClock>,
    _dir: tempfile::TempDir,
}

pub async fn spawn_app(jurisdiction: &str) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(START_MS));
    let opts = InitOptions { name: "Test Store".into(), jurisdiction: jurisdiction.into(), manager_username: "boss".into(), manager_password: PASSWORD.into() };
    let (d, c) = (dir.path().to_path_buf(), clock.clone());
    tokio::task::spawn_blocking(move || Store::init(&d, &opts, c)).await.unwrap().unwrap();
    let store = Store::open(dir.path(), clock.clone(), Some(42)).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(stockade_web::serve(store.clone(), listener, std::future::pending()));
    let client = reqwest::Client::new();
    let mut app = TestApp { base, client, token: String::new(), store, clock, _dir: dir };
    app.token = app.login("boss", PASSWORD).await;
    app
}

impl TestApp {
    pub async fn login(&self, user: &str, password: &str) -> String {
        let r = self.client.post(format!("{}/api/login", self.base)).json(&json!({"username": user, "password": password})).send().await.unwrap();
        assert_eq!(r.status(), 200, "login as {user}");
        r.json::<Value>().await.unwrap()["token"].as_str().unwrap().to_string()
    }
    pub async fn post_as(&self, token: &str, path: &str, body: Value) -> (u16, Value) {
        let r = self.client.post(format!("{}{}", self.base, path)).bearer_auth(token).json(&body).send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        (status, if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) })
    }
    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.post_as(&self.token, path, body).await
    }
    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.get_as(&self.token, path).await
    }
    pub async fn get_as(&self, token: &str, path: &str) -> (u16, Value) {
        let r = self.client.get(format!("{}{}", self.base, path)).bearer_auth(token).send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }
    pub async fn journal_size(&self) -> i64 {
        self.get("/api/status").await.1["journal_size"].as_i64().unwrap()
    }

    /// Creates a product and receives `stock` units of it. Returns its id.
    pub async fn product(&self, sku: &str, class: &str, weight_mg: i64, price_minor: i64, stock: i64) -> String {
        let spec = json!({"sku": sku, "name": format!("Product {sku}"), "brand": "B", "category": "C", "class": class,
            "net_weight_mg": weight_mg, "thc_mg": 100, "price_minor": price_minor,
            "tax_class": if class == "non_cannabis" { "general" } else { "cannabis" }});
        let (s, body) = self.post("/api/products", spec).await;
        assert_eq!(s, 201, "{body}");
        let id = body["id"].as_str().unwrap().to_string();
        if stock > 0 {
            let (s, body) = self
                .post(
                    "/api/stock/receive",
                    json!({"supplier": "OCS", "document": format!("INV-{sku}"), "lines": [{"product_id": id, "quantity": stock, "lot_code": "L1"}]}),
                )
                .await;
            assert_eq!(s, 200, "{body}");
        }
        id
    }

    pub async fn open_till(&self, register: &str, float_minor: i64) -> String {
        let (s, body) = self.post("/api/tills", json!({"register": register, "float_minor": float_minor})).await;
        assert_eq!(s, 200, "{body}");
        body["till_id"].as_str().unwrap().to_string()
    }
}
