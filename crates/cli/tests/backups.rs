//! Backups you can trust, with the real binaries: `store serve --backup-to` writes a dated,
//! self-verifying backup into a second folder on a schedule and keeps the newest N; `backup --to`
//! does the same once (for cron); `restore` checks a backup against HQ's co-signatures and the
//! store's witness file: a changed co-signature is refused, an older backup is restored with a
//! warning naming how far the store had gone.

mod common;
use common::*;
use std::time::Duration;

const START_MS: i64 = 1_795_356_000_000; // 2026-11-22 14:00 UTC, 09:00 in Toronto

fn backups(folder: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(folder).unwrap().map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|e| e == "backup")).collect();
    v.sort();
    v
}

#[test]
fn scheduled_backups_rotate_verify_and_restore_against_hq_and_the_witness() {
    let tmp = tempfile::tempdir().unwrap();
    let clock = tmp.path().join("clock");
    std::fs::write(&clock, START_MS.to_string()).unwrap();
    let env = [("STOCKADE_CLOCK_FILE", clock.to_str().unwrap())];
    let pair = hq_and_store(tmp.path(), "CA-ON", "100000", &env);
    let (s, h) = (pair.s(), pair.h());
    let hq_addr = free_addr();
    let (mut hq, hq_url) = serve(&["hq", "serve", "--data", h, "--listen", &hq_addr], &[("STOCKADE_HQ_CLOCK_FILE", clock.to_str().unwrap())]);
    run_ok(&["store", "enroll", "--data", s, "--hq", &hq_url, "--code", &pair.code], &env);
    let folder = tmp.path().join("second-disk");
    let f = folder.to_str().unwrap();
    let (mut store, url) = serve(
        &["store", "serve", "--data", s, "--listen", "127.0.0.1:0", "--sync-idle-ms", "200", "--backup-to", f, "--backup-every-s", "1", "--backup-keep", "3"],
        &env,
    );
    let client = reqwest::blocking::Client::new();
    let token = login(&client, &url);
    let (till, product) = till_and_product(&client, &url, &token);
    let early = tmp.path().join("early.backup");
    for n in 0..10 {
        let r = client.post(format!("{url}/api/sales")).bearer_auth(&token).json(&sale_body(&till, &product, n)).send().unwrap();
        assert_eq!(r.status(), 200);
        if n == 4 {
            // A backup taken after the 5th sale, kept aside: older than what the store goes on to witness.
            std::thread::sleep(Duration::from_millis(1500));
            std::fs::copy(backups(&folder).last().unwrap(), &early).unwrap();
        }
    }
    wait_caught_up(&client, &url, &token, Duration::from_secs(30));
    std::thread::sleep(Duration::from_millis(4500));
    kill(&mut store);
    kill(&mut hq);

    // Rotated to the newest 3, each one whole.
    let kept = backups(&folder);
    assert_eq!(kept.len(), 3, "{kept:?}");
    for b in &kept {
        let text = std::fs::read_to_string(b).unwrap();
        stockade_journal::backup::decode(&text).unwrap_or_else(|e| panic!("{} does not verify: {e}", b.display()));
    }
    assert!(std::fs::read_dir(&folder).unwrap().all(|e| !e.unwrap().file_name().to_string_lossy().ends_with(".partial")));

    // One more by hand (cron's way), then restores checked against HQ's key and the witness.
    let out = run_ok(&["backup", "--data", s, "--to", f, "--keep", "3"], &env);
    assert!(out.contains("checked"), "{out}");
    let kept = backups(&folder);
    assert_eq!(kept.len(), 3);
    let newest = kept.last().unwrap().to_str().unwrap().to_string();
    let key = pair.store_dir.join("store.key");
    let witness = pair.store_dir.join("store.witness");
    let restored = tmp.path().join("restored");
    let out = run_ok(
        &[
            "restore",
            "--data",
            restored.to_str().unwrap(),
            "--from",
            &newest,
            "--key",
            key.to_str().unwrap(),
            "--hq-key",
            &pair.hq_public_key,
            "--witness",
            witness.to_str().unwrap(),
        ],
        &[],
    );
    assert!(out.contains("reaches every witnessed entry"), "{out}");
    run_ok(&["store", "verify", "--data", restored.to_str().unwrap()], &env);

    // A changed co-signature is refused when HQ's key is given.
    let text = std::fs::read_to_string(&newest).unwrap();
    let at = text.find("\"hq_signature\":\"").expect("the backup carries HQ's co-signatures") + 16;
    let mut forged = text.clone();
    let c = if &text[at..at + 1] == "a" { "b" } else { "a" };
    forged.replace_range(at..at + 1, c);
    let forged_path = tmp.path().join("forged.backup");
    std::fs::write(&forged_path, forged).unwrap();
    let o = stockade(&[
        "restore",
        "--data",
        tmp.path().join("r2").to_str().unwrap(),
        "--from",
        forged_path.to_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
        "--hq-key",
        &pair.hq_public_key,
    ]);
    assert!(!o.status.success(), "{}", text_of(&o));
    assert!(text_of(&o).contains("co-signature"), "{}", text_of(&o));

    // An older backup than the witness: restored, with the gap named.
    let old_size = stockade_journal::backup::decode(&std::fs::read_to_string(&early).unwrap()).unwrap().entries.len();
    let store_size = stockade_journal::backup::decode(&text).unwrap().entries.len();
    assert!(old_size < store_size, "{old_size} < {store_size}");
    let out = run_ok(
        &[
            "restore",
            "--data",
            tmp.path().join("r3").to_str().unwrap(),
            "--from",
            early.to_str().unwrap(),
            "--key",
            key.to_str().unwrap(),
            "--witness",
            witness.to_str().unwrap(),
        ],
        &[],
    );
    assert!(out.contains(&format!("the backup ends at entry {old_size} but the store had witnessed entry")), "{out}");
}

fn text_of(o: &std::process::Output) -> String {
    text(o)
}
