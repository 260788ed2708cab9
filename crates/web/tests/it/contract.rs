//! The wire contract under hostile clients: every error answer of both servers is the JSON
//! error shape (405, 413, 431, 408, bad path parameters included), and connections a stranger
//! leaves idle or half-sent are closed; one address cannot hold more than its share.

use crate::*;
use std::io::{Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};
use stockade_web::conn::{HEADER_READ_TIMEOUT, MAX_CONNECTIONS_PER_ADDRESS, MAX_HEADERS};

async fn hq_base() -> (String, tempfile::TempDir) {
    let tmp = tempfile::tempdir().unwrap();
    let db = stockade_hq::db::Db::open_sqlite(&tmp.path().join("hq.db")).unwrap();
    let hq = Arc::new(stockade_hq::Hq::init(&tmp.path().join("hq"), db, "Contract HQ", Arc::new(|| START_MS)).unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(stockade_web::hq::serve_hq(hq, 300_000, listener, std::future::pending()));
    (base, tmp)
}

/// The answer's status and its error code, asserting the body is the JSON error shape.
async fn error_of(r: reqwest::Response) -> (u16, String) {
    let status = r.status().as_u16();
    let ct = r.headers().get("content-type").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    let body = r.text().await.unwrap();
    assert!(ct.starts_with("application/json"), "{status}: content-type {ct:?}, body {body:?}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{status}: not JSON ({e}): {body:?}"));
    let code = v["error"]["code"].as_str().unwrap_or_else(|| panic!("{status}: no error.code: {body}")).to_string();
    assert!(v["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{status}: no message: {body}");
    (status, code)
}

#[tokio::test]
async fn every_error_of_both_servers_is_the_json_error_shape() {
    let app = spawn_app("CA-ON").await;
    let (hq, _hq_dir) = hq_base().await;
    let c = &app.client;
    for base in [app.base.clone(), format!("{hq}/hq")] {
        let api = if base.ends_with("/hq") { format!("{base}/api/v1/status") } else { format!("{base}/api/products") };
        // 405, with the Allow header kept.
        let r = c.delete(&api).send().await.unwrap();
        let allow = r.headers().get("allow").map(|v| v.to_str().unwrap().to_string());
        assert_eq!(error_of(r).await, (405, "method_not_allowed".into()), "{api}");
        assert!(allow.is_some_and(|a| a.contains("GET")), "{api}: the Allow header is kept");
        // 431: more header lines than allowed.
        let mut req = c.get(&api);
        for i in 0..=MAX_HEADERS {
            req = req.header(format!("x-filler-{i}"), "x");
        }
        assert_eq!(error_of(req.send().await.unwrap()).await, (431, "headers_too_large".into()), "{api}");
        // 431: one header too long.
        let r = c.get(&api).header("x-long", "a".repeat(20_000)).send().await.unwrap();
        assert_eq!(error_of(r).await, (431, "headers_too_large".into()), "{api}");
        // 404 under the API.
        assert_eq!(error_of(c.get(format!("{api}/no/such/route")).send().await.unwrap()).await.0, 404);
    }
    // 413 on both.
    let big = "x".repeat(stockade_web::MAX_BODY_BYTES + 1);
    let r =
        c.post(format!("{}/api/sales", app.base)).bearer_auth(&app.token).header("content-type", "application/json").body(big.clone()).send().await.unwrap();
    assert_eq!(error_of(r).await, (413, "body_too_large".into()));
    let r =
        c.post(format!("{hq}/hq/api/v1/enroll")).header("content-type", "application/json").body("x".repeat(stockade_web::hq::MAX_PUSH_BYTES + 1)).send().await;
    if let Ok(r) = r {
        // HQ may also close the connection once the limit is read past; if it answers, JSON.
        assert_eq!(error_of(r).await.0, 413);
    }
    // A path parameter axum cannot read (not UTF-8 once decoded): 400 in the JSON shape.
    let r = c.get(format!("{}/api/products/%FF%FE", app.base)).bearer_auth(&app.token).send().await.unwrap();
    let (status, _) = error_of(r).await;
    assert_eq!(status, 400);
    // The UI's pages are not forced into JSON.
    let r = c.get(format!("{}/register", app.base)).send().await.unwrap();
    assert!(r.headers().get("content-type").is_some_and(|v| v.to_str().unwrap().starts_with("text/html")));
}

/// Reads until the server closes the connection; how long that took.
fn closed_after(mut s: std::net::TcpStream) -> Duration {
    let t = Instant::now();
    s.set_read_timeout(Some(HEADER_READ_TIMEOUT * 3)).unwrap();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return t.elapsed(),
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return t.elapsed(),
            Err(e) => panic!("the connection was still open after {:?}: {e}", t.elapsed()),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_half_sent_connections_are_closed_and_one_address_holds_at_most_its_share() {
    let app = spawn_app("CA-ON").await;
    let addr = app.base.trim_start_matches("http://").to_string();
    let a = addr.clone();
    let checks = tokio::task::spawn_blocking(move || {
        let silent = std::net::TcpStream::connect(&a).unwrap();
        let mut half = std::net::TcpStream::connect(&a).unwrap();
        half.write_all(b"GET /api/me HTTP/1.1\r\nHost: x\r\nX-Slow: ").unwrap();
        let mut kept = std::net::TcpStream::connect(&a).unwrap();
        kept.write_all(b"GET /api/menu HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let threads = [silent, half, kept].map(|s| std::thread::spawn(move || closed_after(s)));
        threads.map(|t| t.join().unwrap())
    });
    // Meanwhile, one address opens connections until refused.
    let a = addr.clone();
    let cap = tokio::task::spawn_blocking(move || {
        let local: std::net::SocketAddr = "127.0.0.5:0".parse().unwrap();
        let mut held = Vec::new();
        let target: std::net::SocketAddr = a.parse().unwrap();
        for _ in 0..MAX_CONNECTIONS_PER_ADDRESS {
            let s = socket_from(local, target);
            held.push(s);
        }
        std::thread::sleep(Duration::from_millis(200));
        let extra = socket_from(local, target);
        let refused_in = closed_after(extra);
        // Another address is served meanwhile.
        let mut other = socket_from("127.0.0.6:0".parse().unwrap(), target);
        other.write_all(b"GET /api/menu HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
        let mut answer = String::new();
        other.read_to_string(&mut answer).unwrap();
        (refused_in, answer)
    });
    let (refused_in, answer) = cap.await.unwrap();
    assert!(refused_in < Duration::from_secs(2), "the connection past the cap was closed at once ({refused_in:?})");
    assert!(answer.starts_with("HTTP/1.1 200"), "another address is served: {answer:.80}");
    for (what, after) in ["silent", "half-sent headers", "idle after one request"].iter().zip(checks.await.unwrap()) {
        assert!(after >= HEADER_READ_TIMEOUT - Duration::from_secs(1) && after < HEADER_READ_TIMEOUT * 2, "{what}: closed after {after:?}");
    }
}

/// A TCP connection from a chosen loopback address (Linux routes all of 127/8 to lo).
fn socket_from(local: std::net::SocketAddr, target: std::net::SocketAddr) -> std::net::TcpStream {
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    s.bind(&local.into()).unwrap();
    s.connect(&target.into()).unwrap();
    s.into()
}
