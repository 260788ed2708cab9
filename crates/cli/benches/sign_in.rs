//! Sign-in throughput under the bounded hashing slots, against the bare cost of one Argon2id
//! check measured in the same run. Clients come from distinct loopback addresses so the
//! per-address limits do not hide the global bound; each signs in with the right password.
//! Run: `cargo bench -p stockade --bench sign_in` (SECONDS=n per step, default 5).

use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use stockade_store::clock::SystemClock;
use stockade_store::{InitOptions, Store};

const PASSWORD: &str = "bench password";

fn main() {
    let secs: u64 = std::env::var("SECONDS").ok().and_then(|v| v.parse().ok()).unwrap_or(5);
    let tmp = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();

    // Baseline: one thread checking the password against its hash, back to back.
    let hash = stockade_store::auth::hash_password(PASSWORD).unwrap();
    let mut slot = stockade_store::hashing::slot().unwrap();
    let t = Instant::now();
    let mut checks = 0u64;
    while t.elapsed() < Duration::from_secs(secs) {
        assert!(slot.verify(PASSWORD, &hash));
        checks += 1;
    }
    drop(slot);
    let bare = checks as f64 / t.elapsed().as_secs_f64();
    println!("bare Argon2id check, 1 thread            {bare:>8.1}/s");

    let dir = tmp.path().join("store");
    let opts = InitOptions { name: "Bench".into(), jurisdiction: "CA-ON".into(), manager_username: "boss".into(), manager_password: PASSWORD.into() };
    Store::init(&dir, &opts, Arc::new(SystemClock)).unwrap();
    let store = Store::open(&dir, Arc::new(SystemClock), Some(1)).unwrap();
    let base = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(stockade_web::serve(store.clone(), listener, std::future::pending()));
        base
    });

    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
    println!("hashing slots: {} ({cores} cores)", stockade_store::auth::hashing_slots());
    let mut rates = Vec::new();
    for clients in [1usize, 4, 16, 64] {
        let (ok, busy) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let until = Instant::now() + Duration::from_secs(secs);
        let t = Instant::now();
        rt.block_on(async {
            let mut tasks = Vec::new();
            for i in 0..clients {
                let (base, ok, busy) = (base.clone(), ok.clone(), busy.clone());
                let client = reqwest::Client::builder().local_address(std::net::IpAddr::from([127, 0, 2, 1 + i as u8])).build().unwrap();
                tasks.push(tokio::spawn(async move {
                    while Instant::now() < until {
                        let r = client
                            .post(format!("{base}/api/login"))
                            .json(&json!({"username": "boss", "password": PASSWORD, "set_cookie": false}))
                            .send()
                            .await
                            .unwrap();
                        match r.status().as_u16() {
                            200 => ok.fetch_add(1, Ordering::Relaxed),
                            429 => {
                                // Answered at once: try again shortly, as a browser would.
                                tokio::time::sleep(Duration::from_millis(5)).await;
                                busy.fetch_add(1, Ordering::Relaxed)
                            }
                            s => panic!("sign-in answered {s}"),
                        };
                    }
                }));
            }
            for t in tasks {
                t.await.unwrap();
            }
        });
        let rate = ok.load(Ordering::Relaxed) as f64 / t.elapsed().as_secs_f64();
        println!("sign-ins over HTTP, {clients:>2} clients          {rate:>8.1}/s   ({} answered 429 at once)", busy.load(Ordering::Relaxed));
        rates.push((clients, rate));
    }
    println!();
    for (clients, rate) in rates {
        println!("ratio: {clients:>2}-client sign-ins/s / bare checks/s = {:.2}", rate / bare);
    }
}
