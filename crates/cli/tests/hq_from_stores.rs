//! HQ destroyed with every backup, rebuilt from its stores alone — with HQ's key kept, and with
//! it lost too (a new key named by HQ's offline root key) — and a store-key forgery refused by
//! the history the other stores witnessed. Real binaries, three stores of two retailers.

mod common;
use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

struct Shop {
    dir: PathBuf,
    id: String,
    retailer: &'static str,
    code: String,
    server: Option<Server>,
    url: String,
    token: String,
    till: String,
    product: String,
    n: u64,
}

impl Shop {
    fn d(&self) -> &str {
        self.dir.to_str().unwrap()
    }
    fn start(&mut self, client: &reqwest::blocking::Client) {
        // A tree head with every heartbeat (default: once a minute), so the other stores witness
        // a1 just before and just after the sale the forger rewrites.
        let d = self.d().to_string();
        let (server, url) = serve(
            &["store", "serve", "--data", &d, "--listen", "127.0.0.1:0", "--sync-max-backoff-ms", "1000", "--sync-idle-ms", "200", "--tree-head-every-ms", "0"],
            &[],
        );
        self.server = Some(server);
        self.token = login(client, &url);
        self.url = url;
    }
    fn stop(&mut self) {
        if let Some(mut s) = self.server.take() {
            kill(&mut s);
        }
    }
    /// `count` sales; returns the last sale's id.
    fn sell(&mut self, client: &reqwest::blocking::Client, count: u64) -> String {
        let mut last = String::new();
        for _ in 0..count {
            self.n += 1;
            let r = client.post(format!("{}/api/sales", self.url)).bearer_auth(&self.token).json(&sale_body(&self.till, &self.product, self.n)).send().unwrap();
            assert!(r.status().is_success(), "{}", r.text().unwrap());
            last = r.json::<Value>().unwrap()["sale_id"].as_str().unwrap().to_string();
        }
        last
    }
    fn caught_up(&self, client: &reqwest::blocking::Client) {
        wait_caught_up(client, &self.url, &self.token, Duration::from_secs(60));
    }
    /// Waits until the product with `sku` sells at `price_minor` here (a catalog update arrived).
    fn wait_price(&self, client: &reqwest::blocking::Client, sku: &str, price_minor: i64) {
        let since = Instant::now();
        loop {
            let found: Value = client.get(format!("{}/api/products?q={sku}", self.url)).bearer_auth(&self.token).send().unwrap().json().unwrap();
            if found.as_array().and_then(|a| a.first()).is_some_and(|p| p["price_minor"] == price_minor) {
                return;
            }
            assert!(since.elapsed() < Duration::from_secs(60), "store {} never applied the catalog update ({sku} at {price_minor}): {found}", self.id);
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// A catalog update for `retailer` repricing the demo catalog's first product to `price`.
fn publish(h: &str, dir: &Path, retailer: &str, price: &str) -> (String, String) {
    let demo = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/demo/catalog.csv")).unwrap();
    let header = demo.lines().next().unwrap();
    let cols: Vec<&str> = header.split(',').collect();
    let mut line: Vec<String> = demo.lines().nth(1).unwrap().split(',').map(str::to_string).collect();
    line[cols.iter().position(|c| *c == "price").unwrap()] = price.into();
    let sku = line[cols.iter().position(|c| *c == "sku").unwrap()].clone();
    let csv = dir.join(format!("update-{retailer}-{price}.csv"));
    std::fs::write(&csv, format!("{header}\n{}\n", line.join(","))).unwrap();
    (run_ok(&["hq", "publish-catalog", "--data", h, "--retailer", retailer, csv.to_str().unwrap()], &[]), sku)
}

/// The per-store lines of `hq verify`: each store's size and head hash.
fn store_heads(h: &str) -> Vec<String> {
    run_ok(&["hq", "verify", "--data", h], &[]).lines().filter(|l| l.starts_with("  store ")).map(str::to_string).collect()
}

/// The daily report's figures, one line per row. Its `*_ref` columns are fingerprints keyed
/// to each export (every download differs by design), so they are left out of the comparison.
fn daily(client: &reqwest::blocking::Client, hq_url: &str, token: &str, day: &str) -> Vec<String> {
    let v: Value = client.get(format!("{hq_url}/hq/api/v1/reports/daily?date={day}")).bearer_auth(token).send().unwrap().json().unwrap();
    let rows = v.as_array().unwrap_or_else(|| panic!("{v}"));
    assert!(rows.iter().any(|r| r["units_sold"].as_i64() > Some(0)), "the report shows the day's sales");
    let mut out: Vec<String> = rows
        .iter()
        .map(|r| {
            let mut r = r.as_object().unwrap().clone();
            r.retain(|k, _| !k.ends_with("_ref"));
            serde_json::to_string(&r).unwrap()
        })
        .collect();
    out.sort();
    out
}

fn token_of(out: &str) -> String {
    out.lines().find_map(|l| l.strip_prefix("admin token: ")).unwrap_or_else(|| panic!("no admin token: {out}")).split_whitespace().next().unwrap().to_string()
}

fn wipe_hq(hq_dir: &Path, key_too: bool) {
    for f in ["hq.db", "hq.db-wal", "hq.db-shm"] {
        let _ = std::fs::remove_file(hq_dir.join(f));
    }
    let _ = std::fs::remove_dir_all(hq_dir.join("backups"));
    if key_too {
        std::fs::remove_file(hq_dir.join("hq.key")).unwrap();
    }
    assert!(!hq_dir.join("hq.db").exists());
}

/// A store's backup rewritten with its own key: one sale's total lowered by $10, the chain
/// recomputed, a checkpoint re-signed — what someone holding a copy of `store.key` can forge.
fn forge(backup: &Path, key: &Path, sale_id: &str, out: &Path) -> u64 {
    use stockade_journal::backup::{decode, encode_with};
    let b = decode(&std::fs::read_to_string(backup).unwrap()).unwrap();
    let key = stockade_journal::keyfile::read(key).unwrap();
    let mut entries = b.entries.clone();
    let k = entries.iter().position(|(_, e)| String::from_utf8_lossy(e).contains(&format!("\"sale_id\":\"{sale_id}\""))).unwrap();
    let text = String::from_utf8(entries[k].1.clone()).unwrap();
    let at = text.rfind("\"total_minor\":").unwrap() + "\"total_minor\":".len();
    let end = at + text[at..].find(|c: char| !c.is_ascii_digit()).unwrap();
    let total: i64 = text[at..end].parse().unwrap();
    entries[k].1 = format!("{}{}{}", &text[..at], total - 1000, &text[end..]).into_bytes();
    let mut head = stockade_journal::GENESIS;
    for (_, e) in &entries {
        head = stockade_journal::chain_hash(&head, e);
    }
    let cp = stockade_journal::Checkpoint { store_id: b.header.id.clone(), size: entries.len() as u64, head };
    let signed = stockade_journal::SignedCheckpoint { size: cp.size, head: hex::encode(head), signature: hex::encode(cp.sign(&key)), hq_signature: None };
    std::fs::write(out, encode_with(&b.header, &entries, &[signed], &b.evidence)).unwrap();
    entries[k].0
}

#[test]
fn hq_is_rebuilt_from_three_stores_alone_with_its_key_and_without_and_a_forged_history_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let client = reqwest::blocking::Client::new();
    let hq_dir = tmp.path().join("hq");
    let h = hq_dir.to_str().unwrap();
    let init = run_ok(&["hq", "init", "--data", h], &[]);
    let mut token = token_of(&init);
    // The root key leaves HQ's machine the day HQ is created.
    let offline = tmp.path().join("safe");
    std::fs::create_dir_all(&offline).unwrap();
    let root_key = offline.join("hq-root.key");
    std::fs::rename(hq_dir.join("hq-root.key"), &root_key).unwrap();
    assert!(init.contains("HQ root key: "), "{init}");
    let first_hq_key = init.lines().find_map(|l| l.strip_prefix("HQ public key: ")).unwrap().to_string();
    run_ok(&["hq", "add-retailer", "--data", h, "--id", "acme", "--name", "Acme"], &[]);
    run_ok(&["hq", "add-retailer", "--data", h, "--id", "bravo", "--name", "Bravo"], &[]);
    run_ok(&["hq", "add-user", "--data", h, "--name", "Olive", "--role", "owner", "--retailer", "acme"], &[]);

    let mut shops: Vec<Shop> = Vec::new();
    for (name, retailer) in [("a1", "acme"), ("a2", "acme"), ("b1", "bravo")] {
        let dir = tmp.path().join(name);
        stocked_store(&dir, "CA-ON", "200", &[]);
        let st: Value = serde_json::from_str(&run_ok(&["store", "status", "--data", dir.to_str().unwrap()], &[])).unwrap();
        let added = run_ok(&["hq", "add-store", "--data", h, "--retailer", retailer, "--public-key", st["public_key"].as_str().unwrap(), "--name", name], &[]);
        let code = added.lines().find_map(|l| l.strip_prefix("enrolment code: ")).unwrap().split_whitespace().next().unwrap().to_string();
        let id = st["store_id"].as_str().unwrap().to_string();
        shops.push(Shop { dir, id, retailer, code, server: None, url: String::new(), token: String::new(), till: String::new(), product: String::new(), n: 0 });
    }
    let hq_addr = free_addr();
    let (mut hq, hq_url) = serve(&["hq", "serve", "--data", h, "--listen", &hq_addr], &[]);
    for s in shops.iter_mut() {
        run_ok(&["store", "enroll", "--data", s.d(), "--hq", &hq_url, "--code", &s.code], &[]);
        s.start(&client);
        let (till, product) = till_and_product(&client, &s.url, &s.token);
        (s.till, s.product) = (till, product);
        s.sell(&client, 5);
    }
    let (out, sku) = publish(h, tmp.path(), "acme", "21.00");
    assert!(out.contains("catalog update 1"), "{out}");
    let (out, _) = publish(h, tmp.path(), "bravo", "22.00");
    assert!(out.contains("catalog update 1"), "{out}");
    for s in &shops {
        s.wait_price(&client, &sku, if s.retailer == "acme" { 2100 } else { 2200 });
        s.caught_up(&client);
    }

    // One more sale at a1, with the other stores' syncs on either side of it: they hold tree
    // heads that witness a1 just before the sale and just after.
    std::thread::sleep(Duration::from_millis(1500));
    let forged_sale = shops[0].sell(&client, 1);
    shops[0].caught_up(&client);
    std::thread::sleep(Duration::from_millis(1500));

    // Someone with a copy of a1's key rewrites its history (the sale $10 lower) and feeds it to a
    // rebuild with the other stores' backups: refused, naming a1 and the sale's entry.
    for s in shops.iter_mut() {
        s.stop();
    }
    let backups: Vec<PathBuf> = shops
        .iter()
        .map(|s| {
            let f = tmp.path().join(format!("{}-1.backup", s.id));
            run_ok(&["backup", "--data", s.d(), "--out", f.to_str().unwrap()], &[]);
            assert!(std::fs::read_to_string(&f).unwrap().starts_with("{\"format\":\"stockade-backup/2\""), "the backup carries the store's evidence about HQ");
            f
        })
        .collect();
    let forged = tmp.path().join("forged.backup");
    let k = forge(&backups[0], &shops[0].dir.join("store.key"), &forged_sale, &forged);
    kill(&mut hq);
    let o = stockade(&["hq", "rebuild", "--data", h, "--store", forged.to_str().unwrap(), backups[1].to_str().unwrap(), backups[2].to_str().unwrap()]);
    let said = text(&o);
    assert!(!o.status.success(), "a forged history was accepted: {said}");
    assert!(said.contains(&format!("store {}", shops[0].id)) && said.contains(&format!("first contradicted entry is {k}")), "{said}");
    // The forged history carries a1's real signatures: only what the other stores witnessed
    // catches it. A refused rebuild changes nothing.
    assert!(hq_dir.join("hq.db").exists(), "a refused rebuild leaves HQ's database as it was");
    // Restoring the store from the forged file is refused too: its own tree heads contradict it.
    let key_copy = tmp.path().join("a1.key");
    std::fs::copy(shops[0].dir.join("store.key"), &key_copy).unwrap();
    let restore = |from: &Path, to: &str| {
        stockade(&[
            "restore",
            "--data",
            tmp.path().join(to).to_str().unwrap(),
            "--from",
            from.to_str().unwrap(),
            "--key",
            key_copy.to_str().unwrap(),
            "--hq-key",
            &first_hq_key,
        ])
    };
    let o = restore(&forged, "restored-forged");
    assert!(!o.status.success() && text(&o).contains(&format!("entry {k} does not")), "{}", text(&o));
    let o = restore(&backups[0], "restored");
    assert!(o.status.success() && text(&o).contains("agrees with the"), "{}", text(&o));

    let (mut hq, _) = serve(&["hq", "serve", "--data", h, "--listen", &hq_addr], &[]);
    for s in shops.iter_mut() {
        s.start(&client);
        s.caught_up(&client);
    }
    let day = stockade_domain::local_date(chrono_tz::America::Toronto, chrono_now());
    let report_before = daily(&client, &hq_url, &token, &day);
    let heads_before = store_heads(h);
    assert_eq!(heads_before.len(), 3, "{heads_before:?}");

    // 1. HQ's database and every backup destroyed; its key survives. Rebuilt from the three
    //    running stores alone.
    kill(&mut hq);
    wipe_hq(&hq_dir, false);
    let urls: Vec<&str> = shops.iter().map(|s| s.url.as_str()).collect();
    let mut args = vec!["hq", "rebuild", "--data", h, "--from-store"];
    args.extend(urls.iter().copied());
    let out = run_ok(&args, &[]);
    assert!(out.contains("from the stores alone"), "{out}");
    token = token_of(&out);
    assert_eq!(store_heads(h), heads_before, "same store heads as before the attack");
    let (mut hq, _) = serve(&["hq", "serve", "--data", h, "--listen", &hq_addr], &[]);
    assert_eq!(daily(&client, &hq_url, &token, &day), report_before, "same daily report as before the attack");
    // The retailer's owner came back with the registry (staff accounts are HQ's alone).
    let again = stockade(&["hq", "add-user", "--data", h, "--name", "Olive", "--role", "owner", "--retailer", "acme"]);
    assert!(!again.status.success() && text(&again).contains("already named 'Olive'"), "{}", text(&again));
    // The next catalog update continues the numbering and applies everywhere.
    let (out, _) = publish(h, tmp.path(), "acme", "23.00");
    assert!(out.contains("catalog update 2"), "{out}");
    let (out, _) = publish(h, tmp.path(), "bravo", "24.00");
    assert!(out.contains("catalog update 2"), "{out}");
    for s in &shops {
        s.wait_price(&client, &sku, if s.retailer == "acme" { 2300 } else { 2400 });
        s.caught_up(&client);
    }

    // 2. Everything of HQ destroyed, its key too. The stores' backup files and the offline root
    //    key bring it back under a new key the stores accept.
    for s in shops.iter_mut() {
        s.stop();
    }
    kill(&mut hq);
    let heads_before = store_heads(h);
    let report_before = {
        let (mut hq, _) = serve(&["hq", "serve", "--data", h, "--listen", &hq_addr], &[]);
        let r = daily(&client, &hq_url, &token, &day);
        kill(&mut hq);
        r
    };
    let backups: Vec<PathBuf> = shops
        .iter()
        .map(|s| {
            let f = tmp.path().join(format!("{}-2.backup", s.id));
            run_ok(&["backup", "--data", s.d(), "--out", f.to_str().unwrap()], &[]);
            f
        })
        .collect();
    // After the backups, HQ journals entries no store holds (staff accounts) and the stores read
    // past them: the rebuilt HQ numbers its new entries after what the backups saw, so the
    // stores must go back to read them.
    {
        let (mut hq, _) = serve(&["hq", "serve", "--data", h, "--listen", &hq_addr], &[]);
        run_ok(&["hq", "add-user", "--data", h, "--name", "Ana", "--role", "analyst"], &[]);
        run_ok(&["hq", "add-user", "--data", h, "--name", "Bob", "--role", "analyst"], &[]);
        for s in shops.iter_mut() {
            s.start(&client);
            s.caught_up(&client);
        }
        std::thread::sleep(Duration::from_millis(800));
        for s in shops.iter_mut() {
            s.stop();
        }
        kill(&mut hq);
    }
    let old_key = std::fs::read_to_string(hq_dir.join("hq.key")).unwrap();
    wipe_hq(&hq_dir, true);
    let mut args = vec!["hq", "rebuild", "--data", h, "--store"];
    args.extend(backups.iter().map(|b| b.to_str().unwrap()));
    let o = stockade(&args);
    assert!(!o.status.success() && text(&o).contains("--root-key"), "without the key or the root key: {}", text(&o));
    args.extend(["--root-key", root_key.to_str().unwrap()]);
    let out = run_ok(&args, &[]);
    assert!(out.contains("HQ's key was replaced"), "{out}");
    assert_ne!(std::fs::read_to_string(hq_dir.join("hq.key")).unwrap(), old_key, "a new HQ key");
    token = token_of(&out);
    assert_eq!(store_heads(h), heads_before, "same store heads as before the attack");
    let (mut hq, _) = serve(&["hq", "serve", "--data", h, "--listen", &hq_addr], &[]);
    assert_eq!(daily(&client, &hq_url, &token, &day), report_before, "same daily report as before the attack");
    for s in shops.iter_mut() {
        s.start(&client);
    }
    let (out, _) = publish(h, tmp.path(), "acme", "25.00");
    assert!(out.contains("catalog update 3"), "{out}");
    let (out, _) = publish(h, tmp.path(), "bravo", "26.00");
    assert!(out.contains("catalog update 3"), "{out}");
    for s in shops.iter_mut() {
        s.wait_price(&client, &sku, if s.retailer == "acme" { 2500 } else { 2600 });
        s.sell(&client, 2);
        s.caught_up(&client);
    }
    let st: Value = serde_json::from_str(&run_ok(&["hq", "status", "--data", h], &[])).unwrap();
    for row in st["stores"].as_array().unwrap() {
        assert_eq!((row["integrity"].as_str(), row["lag"].as_u64()), (Some("ok"), Some(0)), "{st}");
    }
    for s in shops.iter_mut() {
        s.stop();
        // Old co-signatures are checked against the old key, new ones against the new.
        let v = run_ok(&["store", "verify", "--data", s.d()], &[]);
        assert!(v.starts_with("intact"), "{v}");
    }
    kill(&mut hq);
    run_ok(&["hq", "verify", "--data", h], &[]);
}

fn chrono_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}
