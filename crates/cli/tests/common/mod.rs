//! Helpers shared by the tests that run the real `stockade` binary.
#![allow(dead_code)]

pub mod pg;

use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

pub const BIN: &str = env!("CARGO_BIN_EXE_stockade");
pub const PASSWORD: &str = "torture test password";

pub fn stockade(args: &[&str]) -> std::process::Output {
    Command::new(BIN).args(args).env("STOCKADE_MANAGER_PASSWORD", PASSWORD).env("RUST_LOG", "error").output().unwrap()
}

pub fn text(o: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// A loopback address nobody listens on now, for a server that must come back on the same one.
pub fn free_addr() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().to_string()
}

/// A server process that is killed when dropped, so a failing test leaves no server behind
/// (one would hold the test harness's output pipe open and hang the run).
pub struct Server(Child);

impl std::ops::Deref for Server {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Server {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs the binary with `args` (which include `--listen`) and waits for its "listening on" line.
pub fn serve(args: &[&str], env: &[(&str, &str)]) -> (Server, String) {
    serve_to(args, env, Stdio::inherit(), "error")
}

/// As [`serve`], with the server's log at `level` written to `log`.
pub fn serve_logging(args: &[&str], env: &[(&str, &str)], log: &Path, level: &str) -> (Server, String) {
    serve_to(args, env, Stdio::from(std::fs::File::create(log).unwrap()), level)
}

fn serve_to(args: &[&str], env: &[(&str, &str)], stderr: Stdio, level: &str) -> (Server, String) {
    let mut cmd = Command::new(BIN);
    cmd.args(args).env("RUST_LOG", level).stdout(Stdio::piped()).stderr(stderr);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let url =
        line.split("listening on ").nth(1).and_then(|r| r.split_whitespace().next()).unwrap_or_else(|| panic!("unexpected first line: {line}")).to_string();
    (Server(child), url)
}

pub fn start_store(data: &Path, env: &[(&str, &str)]) -> (Server, String) {
    serve(&["store", "serve", "--data", data.to_str().unwrap(), "--listen", "127.0.0.1:0", "--sync-max-backoff-ms", "1000", "--sync-idle-ms", "200"], env)
}

/// Sale n: 1 to 3 units of a 12.99 product, paid by debit for the exact total with 13 % HST.
pub fn sale_body(till: &str, product: &str, n: u64) -> Value {
    let q = 1 + (n % 3) as i64;
    let net = 1299 * q;
    let total = net + (net * 13 + 50) / 100;
    json!({"till_id": till, "lines": [{"product_id": product, "quantity": q}], "customer": {"age_confirmed": true},
        "tenders": [{"kind": "debit", "amount_minor": total}]})
}

pub fn kill(child: &mut Child) {
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
}

/// Runs the binary with extra environment and asserts it succeeded; returns its standard output.
pub fn run_ok(args: &[&str], env: &[(&str, &str)]) -> String {
    let mut cmd = Command::new(BIN);
    cmd.args(args).env("STOCKADE_MANAGER_PASSWORD", PASSWORD).env("RUST_LOG", "error");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let o = cmd.output().unwrap();
    assert!(o.status.success(), "{args:?}: {}", text(&o));
    String::from_utf8_lossy(&o.stdout).to_string()
}

/// HQ (retailer `acme`) and a store with the demo catalog and `quantity` units of each product,
/// registered under `acme`; `code` enrols it.
pub struct Pair {
    pub store_dir: std::path::PathBuf,
    pub hq_dir: std::path::PathBuf,
    pub code: String,
    pub hq_public_key: String,
    pub operator_token: String,
}

impl Pair {
    pub fn s(&self) -> &str {
        self.store_dir.to_str().unwrap()
    }
    pub fn h(&self) -> &str {
        self.hq_dir.to_str().unwrap()
    }
}

/// A [`Pair`] at work: HQ serving, the store enrolled and serving, a manager signed in, and
/// everything the store holds replicated.
pub struct Running {
    pub hq: Server,
    pub hq_url: String,
    pub store: Server,
    pub url: String,
    pub client: reqwest::blocking::Client,
    pub token: String,
}

impl Pair {
    /// Simulates `sales` sales (seed `seed`) at the store, then starts HQ and the store, enrols
    /// the store and waits until HQ holds its whole journal.
    pub fn run(&self, sales: u64, seed: u64) -> Running {
        let (s, h) = (self.s(), self.h());
        run_ok(&["store", "simulate", "--data", s, "--sales", &sales.to_string(), "--seed", &seed.to_string()], &[]);
        let hq_addr = free_addr();
        let (hq, hq_url) = serve(&["hq", "serve", "--data", h, "--listen", &hq_addr], &[]);
        run_ok(&["store", "enroll", "--data", s, "--hq", &hq_url, "--code", &self.code], &[]);
        let (store, url) = start_store(&self.store_dir, &[]);
        let client = reqwest::blocking::Client::new();
        let token = login(&client, &url);
        wait_caught_up(&client, &url, &token, std::time::Duration::from_secs(60));
        Running { hq, hq_url, store, url, client, token }
    }
}

/// A store "Queen St" in `dir` with the demo catalog and `quantity` units of each product.
pub fn stocked_store(dir: &Path, jurisdiction: &str, quantity: &str, env: &[(&str, &str)]) {
    let s = dir.to_str().unwrap();
    run_ok(&["store", "init", "--data", s, "--jurisdiction", jurisdiction, "--name", "Queen St"], env);
    run_ok(&["store", "import-products", "--data", s, concat!(env!("CARGO_MANIFEST_DIR"), "/demo/catalog.csv")], env);
    run_ok(&["store", "receive-all", "--data", s, "--quantity", quantity], env);
}

pub fn hq_and_store(root: &Path, jurisdiction: &str, quantity: &str, env: &[(&str, &str)]) -> Pair {
    hq_and_store_at(root.join("store"), root.join("hq"), jurisdiction, quantity, env)
}

/// [`hq_and_store`] with the two folders chosen (e.g. the store on a small disk of its own).
pub fn hq_and_store_at(store_dir: std::path::PathBuf, hq_dir: std::path::PathBuf, jurisdiction: &str, quantity: &str, env: &[(&str, &str)]) -> Pair {
    let (s, h) = (store_dir.to_str().unwrap(), hq_dir.to_str().unwrap());
    let init = run_ok(&["hq", "init", "--data", h], env);
    let hq_public_key = init.lines().find_map(|l| l.strip_prefix("HQ public key: ")).unwrap().to_string();
    let operator_token = init.lines().find_map(|l| l.strip_prefix("admin token: ")).unwrap().split_whitespace().next().unwrap().to_string();
    run_ok(&["hq", "add-retailer", "--data", h, "--id", "acme", "--name", "Acme"], env);
    stocked_store(&store_dir, jurisdiction, quantity, env);
    let status: Value = serde_json::from_str(&run_ok(&["store", "status", "--data", s], env)).unwrap();
    let pk = status["public_key"].as_str().unwrap().to_string();
    let added = run_ok(&["hq", "add-store", "--data", h, "--retailer", "acme", "--public-key", &pk, "--name", "Queen St"], env);
    let code = added.lines().find_map(|l| l.strip_prefix("enrolment code: ")).unwrap().split_whitespace().next().unwrap().to_string();
    Pair { store_dir, hq_dir, code, hq_public_key, operator_token }
}

pub fn login(client: &reqwest::blocking::Client, url: &str) -> String {
    let v: Value = client.post(format!("{url}/api/login")).json(&json!({"username": "manager", "password": PASSWORD})).send().unwrap().json().unwrap();
    v["token"].as_str().unwrap_or_else(|| panic!("login: {v}")).to_string()
}

/// Opens a till on register R1 and finds the product sold by `sale_body`: (till, product).
pub fn till_and_product(client: &reqwest::blocking::Client, url: &str, token: &str) -> (String, String) {
    let products: Value = client.get(format!("{url}/api/products?q=Blue%20Dream%201g")).bearer_auth(token).send().unwrap().json().unwrap();
    let till: Value =
        client.post(format!("{url}/api/tills")).bearer_auth(token).json(&json!({"register": "R1", "float_minor": 0})).send().unwrap().json().unwrap();
    (till["till_id"].as_str().unwrap().to_string(), products[0]["product_id"].as_str().unwrap().to_string())
}

/// Polls the store's status until HQ has acknowledged everything.
pub fn wait_caught_up(client: &reqwest::blocking::Client, url: &str, token: &str, limit: std::time::Duration) {
    let since = std::time::Instant::now();
    loop {
        let st: Value = client.get(format!("{url}/api/status")).bearer_auth(token).send().unwrap().json().unwrap();
        if st["unreplicated_entries"] == 0 {
            return;
        }
        assert!(since.elapsed() < limit, "the store did not catch up: {st}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}
