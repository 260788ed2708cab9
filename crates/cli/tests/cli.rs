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
    std::fs::write(&csv, "sku,name,category,net_weight_mg,price\nA,Good 1g,Flower,1000,9.99\nB,No size,Flower,,9.99\nC,Bad price 1g,Flower,1000,nine\n").unwrap();
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
