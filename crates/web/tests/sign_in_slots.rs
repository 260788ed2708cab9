//! A burst of sign-ins cannot queue unbounded Argon2id hashes (19 MiB each): beyond two per
//! core they are answered `Busy` at once (the API's 429 `sign_in_busy`), and the right
//! password works afterwards. In a test binary of its own: it takes every hashing slot of the
//! process for a moment, which would make other tests' sign-ins busy.

use std::sync::Arc;
use stockade_store::clock::ManualClock;
use stockade_store::error::StoreError;
use stockade_store::{InitOptions, Store};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_sign_ins_is_bounded_by_the_hashing_slots() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(1_795_359_600_000));
    let opts =
        InitOptions { name: "Burst".into(), jurisdiction: "CA-ON".into(), manager_username: "boss".into(), manager_password: "burst test password".into() };
    let (d, c) = (dir.path().to_path_buf(), clock.clone());
    tokio::task::spawn_blocking(move || Store::init(&d, &opts, c)).await.unwrap().unwrap();
    let store = Store::open(dir.path(), clock, Some(1)).unwrap();
    let mut tasks = Vec::new();
    for i in 0..100 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move { store.login_from(&format!("nobody{i}"), "wrong password here", &format!("addr-{i}")).await }));
    }
    let (mut busy, mut refused) = (0, 0);
    for t in tasks {
        match t.await.unwrap() {
            Err(StoreError::Busy) => busy += 1,
            Err(StoreError::Unauthorized) => refused += 1,
            other => panic!("unexpected answer: {other:?}"),
        }
    }
    assert_eq!(busy + refused, 100);
    assert!(busy > 0, "100 concurrent hashes were let through ({refused} refused after hashing)");
    assert!(refused >= 1, "at least the first sign-ins were hashed");
    assert!(store.login("boss", "burst test password").await.is_ok(), "the right password works once the burst is over");
}
