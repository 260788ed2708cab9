//! Faults between store and HQ, each 100 times (`STOCKADE_FAULTS` to change): the connection cut
//! mid-request, the response lost after HQ committed, and HQ killed with SIGKILL mid-write.
//! The store keeps selling throughout; afterwards HQ holds exactly the store's journal.

mod common;
use common::*;
use serde_json::Value;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Default)]
struct Proxy {
    /// Inject faults (else pass everything through).
    faulty: AtomicBool,
    next: AtomicUsize,
    cut: AtomicUsize,
    lost: AtomicUsize,
}

/// A TCP proxy on `listen` to `upstream` that, while faulty, alternates between passing a
/// connection through, cutting its request half-way, and dropping HQ's response. Passed-through
/// connections are closed 150 ms after HQ's last answer byte.
fn proxy(listen: TcpListener, upstream: String, p: Arc<Proxy>) {
    std::thread::spawn(move || {
        for client in listen.incoming() {
            let Ok(mut client) = client else { continue };
            let (upstream, p) = (upstream.clone(), p.clone());
            std::thread::spawn(move || {
                let Ok(mut server) = TcpStream::connect(&upstream) else { return };
                let mode = if p.faulty.load(Ordering::SeqCst) { p.next.fetch_add(1, Ordering::SeqCst) % 3 } else { 0 };
                match mode {
                    1 => {
                        // Cut mid-request: forward half of what the store sent, then hang up.
                        let mut buf = vec![0u8; 64 * 1024];
                        if let Ok(n) = client.read(&mut buf) {
                            if n > 1 {
                                let _ = server.write_all(&buf[..n / 2]);
                                p.cut.fetch_add(1, Ordering::SeqCst);
                            }
                        }
                    }
                    2 => {
                        // Lose the response: HQ gets the whole request and answers; the store hears nothing.
                        let mut c2 = client.try_clone().unwrap();
                        let mut s2 = server.try_clone().unwrap();
                        std::thread::spawn(move || {
                            let _ = std::io::copy(&mut c2, &mut s2);
                        });
                        let mut buf = [0u8; 1];
                        if server.read(&mut buf).unwrap_or(0) == 1 {
                            p.lost.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                    _ => {
                        // Close connections idle for 150 ms after an answer, as an impatient
                        // middlebox does: the store's HTTP client keeps connections alive, and
                        // faults are decided per connection, so connections must come and go for
                        // faults to be injected. The timer starts at HQ's first answer byte, so a
                        // slow answer (a large batch on a slow machine) is waited for, not cut.
                        let mut c2 = client.try_clone().unwrap();
                        let mut s2 = server.try_clone().unwrap();
                        let t = std::thread::spawn(move || {
                            let _ = std::io::copy(&mut c2, &mut s2);
                            let _ = s2.shutdown(Shutdown::Write);
                        });
                        let mut buf = vec![0u8; 64 * 1024];
                        while let Ok(n @ 1..) = server.read(&mut buf) {
                            if client.write_all(&buf[..n]).is_err() {
                                break;
                            }
                            let _ = server.set_read_timeout(Some(Duration::from_millis(150)));
                        }
                        let _ = client.shutdown(Shutdown::Both);
                        let _ = server.shutdown(Shutdown::Both);
                        let _ = t.join();
                        return;
                    }
                }
                let _ = client.shutdown(Shutdown::Both);
                let _ = server.shutdown(Shutdown::Both);
            });
        }
    });
}

#[test]
fn cut_connections_lost_answers_and_hq_crashes_lose_and_duplicate_nothing() {
    let faults: usize = std::env::var("STOCKADE_FAULTS").ok().and_then(|v| v.parse().ok()).unwrap_or(100);
    let tmp = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| run_ok(args, &[]);
    let pair = hq_and_store(tmp.path(), "CA-ON", "1000000", &[]);
    let (store_dir, hq_dir, code) = (pair.store_dir.clone(), pair.hq_dir.clone(), pair.code.clone());
    let (s, h) = (pair.s(), pair.h());

    let hq_addr = free_addr();
    let hq_args = ["hq", "serve", "--data", h, "--listen", &hq_addr];
    let (mut hq, _) = serve(&hq_args, &[]);
    let front = TcpListener::bind("127.0.0.1:0").unwrap();
    let front_url = format!("http://{}", front.local_addr().unwrap());
    let p = Arc::new(Proxy::default());
    proxy(front, hq_addr.clone(), p.clone());
    run(&["store", "enroll", "--data", s, "--hq", &front_url, "--code", &code]);

    let (mut store, url) = start_store(&store_dir, &[]);
    let client = reqwest::blocking::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    let token = login(&client, &url);
    let (till, product) = till_and_product(&client, &url, &token);

    // The register sells all along.
    let stop = Arc::new(AtomicBool::new(false));
    let sold = Arc::new(Mutex::new(0u64));
    let seller = {
        let (url, token, stop, sold) = (url.clone(), token.clone(), stop.clone(), sold.clone());
        std::thread::spawn(move || {
            let client = reqwest::blocking::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                let r = client.post(format!("{url}/api/sales")).bearer_auth(&token).json(&sale_body(&till, &product, n)).send().unwrap();
                assert_eq!(r.status(), 200, "selling never waits for HQ");
                n += 1;
                *sold.lock().unwrap() = n;
                std::thread::sleep(Duration::from_millis(2));
            }
        })
    };

    // 1 and 2: cut requests and lost answers.
    let started = Instant::now();
    p.faulty.store(true, Ordering::SeqCst);
    while p.cut.load(Ordering::SeqCst) < faults || p.lost.load(Ordering::SeqCst) < faults {
        assert!(started.elapsed() < Duration::from_secs(600), "faults too slow: {} cut, {} lost", p.cut.load(Ordering::SeqCst), p.lost.load(Ordering::SeqCst));
        std::thread::sleep(Duration::from_millis(20));
    }
    p.faulty.store(false, Ordering::SeqCst);
    let (cut, lost) = (p.cut.load(Ordering::SeqCst), p.lost.load(Ordering::SeqCst));

    // 3: HQ killed with SIGKILL at random moments, and restarted at the same address.
    let mut rng = 0x2545F4914F6CDD1Du64;
    for _ in 0..faults {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        std::thread::sleep(Duration::from_millis(5 + rng % 60));
        kill(&mut hq);
        hq = serve(&hq_args, &[]).0;
    }

    // Quiet: stop selling, let the store catch up.
    stop.store(true, Ordering::SeqCst);
    seller.join().unwrap();
    wait_caught_up(&client, &url, &token, Duration::from_secs(120));
    kill(&mut store);
    kill(&mut hq);

    let verify = run(&["hq", "verify", "--data", h]);
    let st: Value = serde_json::from_str(&run(&["store", "status", "--data", s])).unwrap();
    let (size, head) = (st["journal_size"].as_i64().unwrap(), st["head_hash"].as_str().unwrap());
    assert!(verify.contains(&format!("{size} entries, head {head}")), "HQ: {verify}\nstore: {size} {head}");
    let hqdb = rusqlite::Connection::open_with_flags(hq_dir.join("hq.db"), rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let hq_sales: i64 = hqdb.query_row("SELECT COUNT(*) FROM entries WHERE kind = 'sale_recorded'", [], |r| r.get(0)).unwrap();
    let sold = *sold.lock().unwrap();
    assert_eq!(hq_sales as u64, sold, "every sale once at HQ");
    let hq_status: Value = serde_json::from_str(&run(&["hq", "status", "--data", h])).unwrap();
    assert_eq!(hq_status["stores"][0]["integrity"], "ok", "faults are not attacks: {hq_status}");
    eprintln!(
        "{cut} requests cut, {lost} answers lost, {faults} HQ SIGKILLs; {sold} sales, HQ holds all {size} entries: {}",
        verify.lines().next().unwrap_or("")
    );
}
