//! A backup being rewritten never destroys the previous one: `stockade backup --out F` is killed
//! with SIGKILL while it writes F (the moment the file or its partial copy changes); after every kill F is a whole,
//! self-verifying backup (the previous one or the new one). STOCKADE_BACKUP_KILLS sets the count
//! (default 100).

mod common;

use common::*;
use rand::{Rng, SeedableRng};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn killing_a_backup_that_rewrites_a_file_always_leaves_a_whole_backup() {
    let kills: usize = std::env::var("STOCKADE_BACKUP_KILLS").ok().and_then(|v| v.parse().ok()).unwrap_or(100);
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    stocked_store(&store, "CA-ON", "5000", &[]);
    run_ok(&["store", "simulate", "--data", store.to_str().unwrap(), "--sales", "3000", "--seed", "5"], &[]);
    let out = tmp.path().join("store.backup");
    let first = run_ok(&["backup", "--data", store.to_str().unwrap(), "--out", out.to_str().unwrap()], &[]);
    assert!(first.contains("entries"), "{first}");
    let whole = std::fs::read_to_string(&out).unwrap();
    let head = stockade_journal::backup::decode(&whole).unwrap().head;

    // Each run is killed the moment it starts writing: as soon as the file (or its partial
    // copy beside it) changes, plus a random few hundred microseconds into the write.
    let partial = tmp.path().join("store.backup.partial");
    let stamp = |p: &std::path::Path| std::fs::metadata(p).ok().map(|m| (m.len(), m.modified().ok()));
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let (mut killed, mut finished) = (0, 0);
    for i in 0..kills {
        let before = (stamp(&out), stamp(&partial));
        let mut child = Command::new(BIN)
            .args(["backup", "--data", store.to_str().unwrap(), "--out", out.to_str().unwrap()])
            .env("RUST_LOG", "error")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let started = Instant::now();
        let mut exited = false;
        loop {
            if child.try_wait().unwrap().is_some() {
                exited = true;
                break;
            }
            if (stamp(&out), stamp(&partial)) != before {
                std::thread::sleep(Duration::from_micros(rng.gen_range(0..400)));
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(30), "the backup neither wrote nor ended");
        }
        if exited || child.try_wait().unwrap().is_some() {
            finished += 1;
        } else {
            kill(&mut child);
            killed += 1;
        }
        let text = std::fs::read_to_string(&out).unwrap_or_else(|e| panic!("kill {i}: the backup file is gone: {e}"));
        let b = stockade_journal::backup::decode(&text).unwrap_or_else(|e| panic!("kill {i}: the previous backup was destroyed: {e}"));
        assert_eq!(b.head, head, "kill {i}: the backup is of the same journal");
    }
    println!("{kills} backups: {killed} killed while running, {finished} finished first; the file verified after each");
    assert!(killed >= kills / 4, "most runs must be killed mid-way to test anything: {killed} of {kills}");
}
