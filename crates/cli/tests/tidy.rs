//! Tidy: the invariants `ARCHITECTURE.md` states, checked by reading the code (as rust-analyzer's
//! tidy tests do). A change that breaks one fails here with the file and line named.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Lines of `file` containing `needle`, outside comments, as "path:line: text".
fn hits(file: &Path, needle: &str) -> Vec<String> {
    let text = std::fs::read_to_string(file).unwrap();
    text.lines()
        .enumerate()
        .filter(|(_, l)| {
            let t = l.trim_start();
            !t.starts_with("//") && l.contains(needle)
        })
        .map(|(i, l)| format!("{}:{}: {}", file.strip_prefix(root()).unwrap_or(file).display(), i + 1, l.trim()))
        .collect()
}

fn crates() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(root().join("crates")).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

#[test]
fn every_crate_forbids_unsafe_code() {
    for c in crates() {
        let src = root().join("crates").join(&c).join("src");
        let top = if src.join("lib.rs").exists() { src.join("lib.rs") } else { src.join("main.rs") };
        let text = std::fs::read_to_string(&top).unwrap();
        assert!(text.contains("#![forbid(unsafe_code)]"), "{} lacks #![forbid(unsafe_code)]", top.display());
    }
}

#[test]
fn only_store_and_hq_know_sql() {
    // The database drivers appear only in the store and HQ crates (tests, benches and the
    // fixture generators of the CLI crate excepted: they inspect databases on purpose).
    let mut bad = Vec::new();
    for c in crates().iter().filter(|c| !["store", "hq"].contains(&c.as_str())) {
        for f in rust_files(&root().join("crates").join(c).join("src")) {
            for needle in ["rusqlite", "postgres::", "tokio_postgres"] {
                bad.extend(hits(&f, needle));
            }
        }
    }
    assert!(bad.is_empty(), "SQL drivers outside store/hq:\n{}", bad.join("\n"));
}

#[test]
fn the_journal_owns_its_stored_format() {
    // Stored event payloads are the journal's own types; domain types convert at the edge
    // (`convert.rs`). A domain type inside an event would change stored bytes when it changes.
    let journal = root().join("crates/journal/src");
    let mut bad = Vec::new();
    for f in ["event.rs", "hq_event.rs", "payload.rs"] {
        bad.extend(hits(&journal.join(f), "stockade_domain"));
    }
    assert!(bad.is_empty(), "domain types in stored events:\n{}", bad.join("\n"));
    // Received entries are hashed as they are, never re-encoded to be checked: `seal` (which
    // encodes) is used only where a new entry is written.
    let mut seals = Vec::new();
    for c in crates() {
        for f in rust_files(&root().join("crates").join(&c).join("src")) {
            seals.extend(hits(&f, "StoredEntry::seal("));
        }
    }
    let allowed = ["crates/store/src/node.rs", "crates/journal/src/lib.rs"];
    let stray: Vec<_> = seals.iter().filter(|h| !allowed.iter().any(|a| h.starts_with(a))).collect();
    assert!(stray.is_empty(), "entries sealed (re-encoded) outside the writer:\n{stray:?}");
}

#[test]
fn only_apply_writes_store_projections_and_only_project_writes_hq_derived_tables() {
    let store_tables = [
        "store_info",
        "staff",
        "products",
        "lots",
        "stock_moves",
        "sales",
        "sale_lines",
        "sale_tenders",
        "returns",
        "tills",
        "hq_catalog",
        "orders",
        "order_lines",
        "store_alerts",
        "purchase_orders",
        "purchase_order_lines",
        "projection_faults",
    ];
    let mut bad = Vec::new();
    for f in rust_files(&root().join("crates/store/src")) {
        // apply.rs applies entries; migrate.rs empties projections to replay them through apply.
        if f.ends_with("apply.rs") || f.ends_with("migrate.rs") {
            continue;
        }
        for t in store_tables {
            for verb in ["INSERT INTO", "UPDATE", "DELETE FROM", "INSERT OR IGNORE INTO", "INSERT OR REPLACE INTO"] {
                bad.extend(hits(&f, &format!("{verb} {t} ")));
                bad.extend(hits(&f, &format!("{verb} {t}(")));
            }
        }
    }
    assert!(bad.is_empty(), "store projections written outside apply.rs:\n{}", bad.join("\n"));

    let hq_tables = [
        "retailers",
        "stores",
        "publications",
        "hq_users",
        "sharing",
        "store_heads",
        "sale_lines",
        "stock",
        "daily_sales",
        "daily_stock",
        "po_events",
        "unprojected",
    ];
    let mut bad = Vec::new();
    for f in rust_files(&root().join("crates/hq/src")) {
        // project.rs applies entries; migrate.rs clears a store's rows to replay them through it.
        if f.ends_with("project.rs") || f.ends_with("migrate.rs") {
            continue;
        }
        for t in hq_tables {
            for verb in ["INSERT INTO", "UPDATE", "DELETE FROM"] {
                bad.extend(hits(&f, &format!("{verb} {t} ")));
            }
        }
    }
    assert!(bad.is_empty(), "HQ derived tables written outside project.rs:\n{}", bad.join("\n"));
}

#[test]
fn anyhow_and_printing_only_at_the_binary_edge() {
    let mut bad = Vec::new();
    for c in crates().iter().filter(|c| c.as_str() != "cli") {
        for f in rust_files(&root().join("crates").join(c).join("src")) {
            bad.extend(hits(&f, "anyhow"));
            bad.extend(hits(&f, "println!"));
        }
    }
    assert!(bad.is_empty(), "anyhow or println! outside the CLI:\n{}", bad.join("\n"));
}

#[test]
fn migrations_are_numbered_listed_and_never_edited() {
    // Released migrations, by SHA-256: editing one breaks every database that applied it.
    let released: &[(&str, &str)] = &[
        ("crates/store/migrations/0001_initial.sql", STORE_0001),
        ("crates/store/migrations/0002_faults_and_pending.sql", STORE_0002),
        ("crates/store/migrations/0003_witness_and_recovery.sql", STORE_0003),
        ("crates/store/migrations/0004_hq_evidence.sql", STORE_0004),
        ("crates/store/migrations/0005_checkout_limits.sql", STORE_0005),
        ("crates/hq/migrations/0001_initial.sql", HQ_0001),
        ("crates/hq/migrations/0002_unprojected.sql", HQ_0002),
    ];
    for (path, sum) in released {
        let text = std::fs::read(root().join(path)).unwrap();
        assert_eq!(sha256_hex(&text), *sum, "{path} was released and must never change: add a new migration instead");
    }
    for (dir, list) in [("crates/store/migrations", "crates/store/src/schema.rs"), ("crates/hq/migrations", "crates/hq/src/schema.rs")] {
        let mut files: Vec<String> = std::fs::read_dir(root().join(dir)).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        files.sort();
        let listing = std::fs::read_to_string(root().join(list)).unwrap();
        for (i, f) in files.iter().enumerate() {
            let path = format!("{dir}/{f}");
            assert!(released.iter().any(|(p, _)| *p == path), "{path}: pin its SHA-256 in this test once it is committed (a released migration never changes)");
            assert!(f.starts_with(&format!("{:04}_", i + 1)) && f.ends_with(".sql"), "{dir}/{f}: migrations are numbered 0001_, 0002_, … without gaps");
            assert!(listing.contains(&format!("Migration::new({}, ", i + 1)) && listing.contains(f.as_str()), "{dir}/{f} is not listed in {list}");
        }
    }
}

const STORE_0001: &str = "e2930d365ebcdcbfe3105f4b0e3337278c70e56a40c77165d24def1dc2c239f4";
const STORE_0002: &str = "efc43976a8b7723e6588496da4ad633c9824cbf2564e85157e40efb63477bf2d";
const STORE_0003: &str = "3e6865b186886f49c747cddcd21f910b30103e500af05434b9bf2a7d4aeba3b2";
const STORE_0004: &str = "0a7e1b7b0e1d19c3c8f318c27725b5ce2d9beab22723d2e49e91cca85c1e4e37";
const STORE_0005: &str = "ab764e4a3cc1faa43f4b9964434f6e9cd2c9caf9f5247eaea7725f3ca64a0c2d";
const HQ_0001: &str = "6e0cbd7a1fdd536021e208dc84669d4688df86e91425419c8f9ddd4fd5ad5d09";
const HQ_0002: &str = "fea9cb24c1613baa47c9f20e0c2c5574366e5de86bf5676cfbd44dc5f5eb395b";

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

#[test]
fn what_a_store_holds_of_hq_is_written_in_one_place_and_chosen_in_one_place() {
    // The store's evidence about HQ (its copy of HQ's journal, the HQ keys it trusts, HQ's tree
    // heads) is written only by `evidence.rs` (repair copies the tables whole, by name list).
    let mut bad = Vec::new();
    for f in rust_files(&root().join("crates/store/src")) {
        if f.ends_with("evidence.rs") {
            continue;
        }
        for table in ["hq_copy", "hq_keys", "tree_heads"] {
            for verb in ["INSERT INTO", "INSERT OR IGNORE INTO", "INSERT OR REPLACE INTO", "UPDATE", "DELETE FROM"] {
                bad.extend(hits(&f, &format!("{verb} {table}")));
            }
        }
    }
    assert!(bad.is_empty(), "the store's evidence about HQ written outside evidence.rs:\n{}", bad.join("\n"));
    // At HQ, which entries a store is handed for its copy is decided by `trust::vouched_by`
    // alone, and only `trust.rs` reads HQ's journal for a store's registry.
    let mut callers = Vec::new();
    for c in crates() {
        for f in rust_files(&root().join("crates").join(&c).join("src")) {
            callers.extend(hits(&f, "vouched_by("));
        }
    }
    assert!(callers.iter().all(|h| h.starts_with("crates/hq/src/trust.rs")), "vouched_by used outside trust.rs: {callers:?}");
    assert!(callers.len() >= 2, "vouched_by defined and used in trust.rs: {callers:?}");
}

#[test]
fn the_store_journal_is_append_only_except_for_reconciliation() {
    // Store journal rows are inserted by the writer (and by restore/repair into a new file);
    // they are changed or removed in exactly one place: `integrity.rs`, when a stale branch is
    // replaced by HQ's co-signed copy (the replaced entries are kept in `stale_entries`).
    let mut bad = Vec::new();
    for f in rust_files(&root().join("crates/store/src")) {
        if f.ends_with("integrity.rs") {
            continue;
        }
        for needle in ["DELETE FROM journal", "UPDATE journal"] {
            bad.extend(hits(&f, needle));
        }
    }
    assert!(bad.is_empty(), "store journal rows changed outside integrity.rs:\n{}", bad.join("\n"));
    // And the witness is written only by the writer and the files that make a new store.
    let mut writers = Vec::new();
    for c in crates() {
        for f in rust_files(&root().join("crates").join(&c).join("src")) {
            writers.extend(hits(&f, "WitnessFile::open"));
        }
    }
    let allowed = ["crates/store/src/node.rs", "crates/store/src/sync.rs", "crates/store/src/repair.rs", "crates/store/src/integrity.rs"];
    let stray: Vec<&String> = writers.iter().filter(|h| !allowed.iter().any(|a| h.starts_with(a))).collect();
    assert!(stray.is_empty(), "the witness file opened outside the writer, restore and repair: {stray:?}");
}
