//! The CLI as a user runs it: init, import (all-or-nothing and --skip-invalid), simulate, verify.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_stockade");

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).env("STOCKADE_MANAGER_PASSWORD", "cli test password").env("RUST_LOG", "error").output().unwrap()
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn init(dir: &Path, jurisdiction: &str) -> String {
    let d = dir.join("store");
    let o = run(&["store", "init", "--data", d.to_str().unwrap(), "--jurisdiction", jurisdiction, "--name", "CLI"]);
    assert!(o.status.success(), "{}", text(&o));
    d.to_str().unwrap().to_string()
}

/// The shared data folder beside the project, when it is there. In CI it must be.
fn shared_data(file: &str) -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data").join(file);
    if p.exists() {
        return Some(p);
    }
    if std::env::var("CI").is_ok() {
        panic!("{} is missing: CI must run this test against the shared data", p.display());
    }
    eprintln!("skipping: {} is not there (outside CI only)", p.display());
    None
}

#[test]
fn init_refuses_an_unknown_jurisdiction_and_a_second_init() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("s");
    let o = run(&["store", "init", "--data", d.to_str().unwrap(), "--jurisdiction", "XX-YY", "--name", "n"]);
    assert!(!o.status.success());
    assert!(text(&o).contains("no rule pack for jurisdiction 'XX-YY'"), "{}", text(&o));
    let d = init(tmp.path(), "US-CO");
    let o = run(&["store", "init", "--data", &d, "--jurisdiction", "US-CO", "--name", "again"]);
    assert!(!o.status.success());
    assert!(text(&o).contains("already holds a store"), "{}", text(&o));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(Path::new(&d).join("store.key")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the private key is readable by its owner only");
    }
}

#[test]
fn a_catalog_with_bad_rows_imports_nothing_unless_asked_and_reports_each_line() {
    let tmp = tempfile::tempdir().unwrap();
    let d = init(tmp.path(), "CA-ON");
    let csv = tmp.path().join("c.csv");
    std::fs::write(&csv, "sku,name,category,net_weight_mg,price\nA,Good 1g,Flower,1000,9.99\nB,No size,Flower,,9.99\nC,Bad price 1g,Flower,1000,nine\n")
        .unwrap();
    let o = run(&["store", "import-products", "--data", &d, csv.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let out = text(&o);
    assert!(out.contains("line 3: net weight unknown"), "{out}");
    assert!(out.contains("line 4: 'nine' is not an amount"), "{out}");
    assert!(out.contains("3 rows: 0 imported, 2 rejected"), "{out}");
    let report = tmp.path().join("rejected.csv");
    let o = run(&["store", "import-products", "--data", &d, csv.to_str().unwrap(), "--skip-invalid", "--report", report.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("3 rows: 1 imported, 2 rejected"));
    let r = std::fs::read_to_string(&report).unwrap();
    assert_eq!(r.lines().count(), 3, "{r}");
    assert!(r.lines().nth(1).unwrap().starts_with("3,"));
    // importing the same file again rejects the SKU already present
    let o = run(&["store", "import-products", "--data", &d, csv.to_str().unwrap(), "--skip-invalid"]);
    assert!(text(&o).contains("SKU 'A' is already in the catalog"), "{}", text(&o));
}

#[test]
fn the_kushy_catalog_imports_every_usable_row_and_reports_the_rest_by_line() {
    let Some(kushy) = shared_data("kushy-products.csv") else { return };
    let tmp = tempfile::tempdir().unwrap();
    let d = init(tmp.path(), "CA-ON");
    let o = run(&["store", "import-products", "--data", &d, kushy.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "messy rows make the default import refuse everything");
    let report = tmp.path().join("kushy-rejected.csv");
    let o = run(&["store", "import-products", "--data", &d, kushy.to_str().unwrap(), "--skip-invalid", "--report", report.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let out = text(&o);
    let summary = out.lines().find(|l| l.contains(" rows: ")).unwrap();
    eprintln!("kushy: {summary}");
    let nums: Vec<usize> = summary.split(|c: char| !c.is_ascii_digit()).filter(|s| !s.is_empty()).map(|s| s.parse().unwrap()).collect();
    let (rows, imported, rejected) = (nums[0], nums[1], nums[2]);
    assert_eq!(rows, 17_233, "every data row is accounted for");
    assert_eq!(imported + rejected, rows);
    assert!(imported > 100, "{summary}");
    let report = std::fs::read_to_string(&report).unwrap();
    assert_eq!(report.lines().count(), rejected + 1);
    assert!(report.contains("no category: cannot tell the equivalency class"));
    let o = run(&["store", "verify", "--data", &d]);
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn verify_exits_1_and_names_the_entry_after_tampering() {
    let tmp = tempfile::tempdir().unwrap();
    let d = init(tmp.path(), "CA-ON");
    let catalog = concat!(env!("CARGO_MANIFEST_DIR"), "/demo/catalog.csv");
    assert!(run(&["store", "import-products", "--data", &d, catalog]).status.success());
    assert!(run(&["store", "receive-all", "--data", &d, "--quantity", "50"]).status.success());
    let o = run(&["store", "simulate", "--data", &d, "--sales", "40", "--seed", "9"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("40 sales recorded"));
    let o = run(&["store", "verify", "--data", &d]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let db = rusqlite::Connection::open(Path::new(&d).join("store.db")).unwrap();
    db.execute("UPDATE journal SET actor = 'someone-else' WHERE seq = 30", []).unwrap();
    drop(db);
    let o = run(&["store", "verify", "--data", &d]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("first bad entry is 30"), "{}", text(&o));
    let o = run(&["store", "verify", "--data", tmp.path().join("nothing").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "no store is an error, not a finding");
}

/// The README's first command: `stockade demo` creates a stocked store, serves it and prints a
/// login that works. Run twice on the same folder, it reuses the store.
#[test]
fn the_demo_serves_a_stocked_store_and_prints_a_working_login() {
    use std::io::{BufRead, BufReader};
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("stockade-data");
    for round in 0..2 {
        let mut child = Command::new(BIN)
            .args(["demo", "--data", data.to_str().unwrap(), "--listen", "127.0.0.1:0"])
            .env("RUST_LOG", "error")
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let (mut url, mut login) = (None, None);
        let mut seen = Vec::new();
        while url.is_none() || login.is_none() {
            let Some(Ok(line)) = lines.next() else { break };
            if let Some(rest) = line.split("listening on ").nth(1) {
                url = Some(rest.trim().to_string());
            }
            if let Some(rest) = line.strip_prefix("login: ") {
                let (u, p) = rest.split_once(" / ").unwrap();
                login = Some((u.to_string(), p.to_string()));
            }
            seen.push(line);
        }
        let (url, (user, pass)) = (url.unwrap_or_else(|| panic!("no URL printed: {seen:?}")), login.unwrap());
        if round == 0 {
            assert!(seen.iter().any(|l| l.contains("demo store created")), "{seen:?}");
        } else {
            assert!(!seen.iter().any(|l| l.contains("demo store created")), "second run must reuse the store: {seen:?}");
        }
        let c = reqwest::blocking::Client::new();
        let r: serde_json::Value =
            c.post(format!("{url}/api/login")).json(&serde_json::json!({"username": user, "password": pass})).send().unwrap().json().unwrap();
        let token = r["token"].as_str().unwrap_or_else(|| panic!("login failed: {r}"));
        let products: serde_json::Value = c.get(format!("{url}/api/products?limit=100")).bearer_auth(token).send().unwrap().json().unwrap();
        let products = products.as_array().unwrap_or_else(|| products["products"].as_array().unwrap());
        assert_eq!(products.len(), 24);
        assert!(products.iter().all(|p| p["on_hand"].as_i64().unwrap() > 0), "every product is stocked");
        let eod: serde_json::Value = c.get(format!("{url}/api/reports/end-of-day")).bearer_auth(token).send().unwrap().json().unwrap();
        assert!(eod.to_string().contains("sales"), "{eod}");
        child.kill().unwrap();
        child.wait().unwrap();
    }
    let mode = std::fs::metadata(data.join("demo-login.txt")).unwrap().permissions();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(mode.mode() & 0o777, 0o600);
    let o = run(&["store", "verify", "--data", data.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn a_retailers_stores_share_its_customer_data_key_and_a_key_file_is_never_overwritten() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let key = tmp.path().join("acme.key");
    let o = run(&["store", "new-retailer-key", "--out", key.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
    let o = run(&["store", "new-retailer-key", "--out", key.to_str().unwrap()]);
    assert!(!o.status.success(), "a second key must not replace the first");
    for name in ["a", "b"] {
        let d = tmp.path().join(name);
        let o = run(&["store", "init", "--data", d.to_str().unwrap(), "--jurisdiction", "CA-ON", "--name", name, "--retailer-key", key.to_str().unwrap()]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let copy = d.join("retailer.key");
        assert_eq!(std::fs::read(&copy).unwrap(), std::fs::read(&key).unwrap(), "store {name} holds the retailer's key");
        assert_eq!(std::fs::metadata(&copy).unwrap().permissions().mode() & 0o777, 0o600);
    }
    std::fs::write(tmp.path().join("bad.key"), "not a key").unwrap();
    let d = tmp.path().join("c");
    let o = run(&[
        "store",
        "init",
        "--data",
        d.to_str().unwrap(),
        "--jurisdiction",
        "CA-ON",
        "--name",
        "c",
        "--retailer-key",
        tmp.path().join("bad.key").to_str().unwrap(),
    ]);
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("not a retailer key"));
    assert!(!d.join("store.db").exists(), "a refused init leaves no store");
}

#[test]
fn forecast_eval_scores_every_method_on_the_carparts_panel() {
    let Some(panel) = shared_data("carparts.csv") else { return };
    let o = run(&["forecast", "eval", panel.to_str().unwrap(), "--horizon", "6"]);
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(o.status.success(), "{out}{}", String::from_utf8_lossy(&o.stderr));
    assert!(out.starts_with("2509 series scored; 165 dropped for missing values"), "{out}");
    let row = |name: &str| -> Vec<f64> {
        let line = out.lines().find(|l| l.starts_with(name)).unwrap_or_else(|| panic!("no {name} row: {out}"));
        line[22..].split_whitespace().map(|v| v.parse().unwrap()).collect()
    };
    // Methods with one definition reproduce the reference library's published figures.
    assert_eq!(&row("Naive")[..2], &[0.9807, 0.6486]);
    let tsb = row("TSB");
    assert!((tsb[1] - 0.609).abs() < 0.001 && (tsb[3] - 0.108).abs() < 0.001, "{tsb:?}");
    // The automatic choice: RMSSE at the best single method's, bias within its bound.
    let auto = row("Auto");
    assert!(auto[1] <= 0.5905 && auto[3].abs() <= 0.053, "{auto:?}");
    // Columns: MASE RMSSE MAE ME cov80 cov95 pit80 pit95 exp80 exp95. Quantile coverage: with
    // ties at the quantile counted in proportion (randomized PIT), within 5 points of 80 % and
    // 95 %; the plain share at or under each quantile within 2 points of what the forecast
    // distributions themselves give (a whole-number quantile of a count covers more than its
    // level: for these zero-heavy series about 89 % at the 80 % quantile).
    assert!((auto[6] - 80.0).abs() <= 5.0 && (auto[7] - 95.0).abs() <= 5.0 && (auto[5] - 95.0).abs() <= 5.0, "{auto:?}");
    assert!((auto[4] - auto[8]).abs() <= 2.0 && (auto[5] - auto[9]).abs() <= 2.0, "{auto:?}");
}

#[test]
fn forecast_eval_refuses_a_malformed_panel_with_the_line() {
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("p.csv");
    std::fs::write(&f, "series,period,demand\na,1,3\na,2,-1\n").unwrap();
    let o = run(&["forecast", "eval", f.to_str().unwrap(), "--horizon", "1"]);
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(!o.status.success() && err.contains("line 3: demand is not a number from 0 to 10^12"), "{err}");
}
