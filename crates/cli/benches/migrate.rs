//! Migration time at scale: release r1's store and HQ databases (the golden fixtures), grown to
//! ENTRIES journal entries (default 1,000,000) with the projection rows a sale leaves (a sale, a
//! line and a stock move per entry at the store; a sale line per entry at HQ), then migrated by
//! this release — the checked backup, the scripts, the range scan — each against the time to copy
//! the database in the same run (a file copy and its fsync for SQLite, `CREATE DATABASE … TEMPLATE` for
//! PostgreSQL, set by STOCKADE_TEST_POSTGRES; skipped with a printed reason when unset).
//!
//! Run: `cargo bench -p stockade --bench migrate` (ENTRIES=100000 for a quick run).

#[path = "../tests/common/pg.rs"]
mod pg;
use pg::with_dbname;
use std::path::Path;
use std::time::Instant;

fn entries() -> i64 {
    std::env::var("ENTRIES").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000)
}

fn golden(path: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/r1").join(path)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

/// `INSERT INTO table SELECT …` copying the row picked by `template`, for n = 1..=count, with the
/// columns in `set` computed from `n` (SQL over the CTE's `n`).
fn grow(c: &rusqlite::Connection, table: &str, template: &str, set: &[(&str, String)], count: i64) {
    let cols: Vec<String> = c.prepare(&format!("PRAGMA table_info({table})")).unwrap().query_map([], |r| r.get(1)).unwrap().map(|r| r.unwrap()).collect();
    let select: Vec<String> = cols.iter().map(|col| set.iter().find(|(k, _)| k == col).map(|(_, v)| v.clone()).unwrap_or(format!("t.{col}"))).collect();
    let sql = format!(
        "WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < {count})
         INSERT INTO {table} ({}) SELECT {} FROM g, (SELECT * FROM {table} {template} LIMIT 1) t",
        cols.join(", "),
        select.join(", ")
    );
    c.execute_batch(&sql).unwrap();
}

fn secs(t: Instant) -> f64 {
    t.elapsed().as_secs_f64()
}

/// The baseline: copying the file and syncing the copy to disk (what any backup one can trust
/// costs), in seconds.
fn copy_synced(from: &Path, to: &Path) -> f64 {
    let t = Instant::now();
    std::fs::copy(from, to).unwrap();
    std::fs::File::open(to).unwrap().sync_all().unwrap();
    let s = secs(t);
    std::fs::remove_file(to).unwrap();
    s
}

fn file_mib(p: &Path) -> f64 {
    std::fs::metadata(p).map(|m| m.len() as f64 / 1048576.0).unwrap_or(0.0)
}

fn store(tmp: &Path, n: i64) {
    let dir = tmp.join("store");
    copy_dir(&golden("store"), &dir);
    let t = Instant::now();
    {
        let c = rusqlite::Connection::open(dir.join("store.db")).unwrap();
        c.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = OFF; BEGIN").unwrap();
        let base: i64 = c.query_row("SELECT MAX(seq) FROM journal", [], |r| r.get(0)).unwrap();
        let sale_seq: i64 = c.query_row("SELECT seq FROM journal WHERE kind = 'sale_recorded' ORDER BY seq DESC LIMIT 1", [], |r| r.get(0)).unwrap();
        let seq = format!("{base} + n");
        grow(
            &c,
            "journal",
            &format!("WHERE seq = {sale_seq}"),
            &[("seq", seq.clone()), ("hash", "randomblob(32)".into()), ("prev_hash", "randomblob(32)".into())],
            n,
        );
        grow(
            &c,
            "sales",
            "ORDER BY seq DESC",
            &[("sale_id", "'bench-' || n".into()), ("sale_no", "1000000 + n".into()), ("seq", seq.clone()), ("idempotency_key", "NULL".into())],
            n,
        );
        grow(&c, "sale_lines", "ORDER BY rowid DESC", &[("sale_id", "'bench-' || n".into()), ("line_no", "0".into())], n);
        grow(&c, "stock_moves", "ORDER BY seq DESC", &[("seq", seq), ("idx", "0".into())], n);
        c.execute_batch("COMMIT; PRAGMA wal_checkpoint(TRUNCATE)").unwrap();
    }
    let db = dir.join("store.db");
    println!("store: r1 fixture grown by {n} entries in {:.1} s ({:.0} MiB)", secs(t), file_mib(&db));

    let copy = copy_synced(&db, &tmp.join("store-copy.db"));
    let t = Instant::now();
    let r = stockade_store::migrate::migrate_dir(&dir, 1).unwrap();
    let migrate = secs(t);
    assert_eq!((r.from_version, r.to_version), (0, 3));
    assert!(r.backup.is_some() && !r.reprojected);
    println!("store (SQLite): migrate v0 → v3 {migrate:.2} s (checked backup included); file copy + fsync {copy:.2} s; ratio {:.2}", migrate / copy);
    let t = Instant::now();
    let again = stockade_store::migrate::migrate_dir(&dir, 2).unwrap();
    assert!(again.applied.is_empty());
    println!("store (SQLite): a second migrate (nothing to do) {:.1} ms", secs(t) * 1e3);
    start(&dir);
}

/// Start-up time of the grown store as `store serve` opens it: SQLite's integrity check, the
/// chain of the last 1,000 entries to the signed head, the witness file — against reading the
/// database file once (the floor for any check that looks at every page), in the same run.
/// The grown entries are copies with random hashes, so the last 1,000 are first rewritten as a
/// real chain and the head and witness signed with the store's key, as a live store has them.
fn start(dir: &Path) {
    use stockade_journal::witness::{HeadStatement, WitnessRecord};
    let key = stockade_journal::keyfile::read(&dir.join("store.key")).unwrap();
    {
        let c = rusqlite::Connection::open(dir.join("store.db")).unwrap();
        c.execute_batch("BEGIN").unwrap();
        let k: i64 = c.query_row("SELECT MAX(seq) FROM journal", [], |r| r.get(0)).unwrap();
        let template: Vec<u8> = c.query_row("SELECT bytes FROM journal WHERE seq = ?1", [k], |r| r.get(0)).unwrap();
        let template = String::from_utf8(template).unwrap();
        let store_id =
            stockade_journal::Envelope::decode(&c.query_row("SELECT bytes FROM journal WHERE seq = 1", [], |r| r.get::<_, Vec<u8>>(0)).unwrap()).unwrap().store;
        let mut prev: [u8; 32] = c.query_row("SELECT hash FROM journal WHERE seq = ?1", [k - 1000], |r| r.get::<_, Vec<u8>>(0)).unwrap().try_into().unwrap();
        let at = template.find("\"seq\":").unwrap() + 6;
        let end = at + template[at..].find(',').unwrap();
        for seq in k - 999..=k {
            let bytes = format!("{}{seq}{}", &template[..at], &template[end..]);
            let hash = stockade_journal::chain_hash(&prev, bytes.as_bytes());
            c.execute(
                "UPDATE journal SET bytes = ?1, prev_hash = ?2, hash = ?3 WHERE seq = ?4",
                rusqlite::params![bytes.as_bytes(), &prev[..], &hash[..], seq],
            )
            .unwrap();
            prev = hash;
        }
        let sale_no: i64 = c.query_row("SELECT MAX(sale_no) FROM sales", [], |r| r.get(0)).unwrap();
        let st = HeadStatement { store_id: store_id.clone(), size: k as u64, head: prev, sale_no: sale_no as u64 };
        c.execute("UPDATE head SET size = ?1, hash = ?2, signature = ?3, sale_no = ?4", rusqlite::params![k, &prev[..], &st.sign(&key)[..], sale_no]).unwrap();
        c.execute_batch("COMMIT; PRAGMA wal_checkpoint(TRUNCATE)").unwrap();
        let line = WitnessRecord { size: k as u64, head: prev, sale_no: sale_no as u64, truth: None }.line(&store_id, &key);
        std::fs::write(dir.join("store.witness"), line).unwrap();
    }
    let db = dir.join("store.db");
    let mut read = Vec::new();
    let mut open = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        let bytes = std::fs::read(&db).unwrap();
        read.push(secs(t));
        drop(bytes);
        let t = Instant::now();
        let store = stockade_store::Store::open(dir, std::sync::Arc::new(stockade_store::clock::SystemClock), None).unwrap();
        open.push(secs(t));
        assert_eq!(store.health().damaged, None, "the grown store opens whole");
        drop(store);
    }
    read.sort_by(f64::total_cmp);
    open.sort_by(f64::total_cmp);
    println!(
        "store (SQLite): start-up (integrity check, last 1,000 entries, witness) {:.2} s (median of 3); reading the file once {:.2} s; ratio {:.2}",
        open[1],
        read[1],
        open[1] / read[1]
    );
}

fn hq_grow_sql(n: i64, engine: &str) -> String {
    let series = if engine == "postgres" {
        format!("generate_series(1, {n}) AS g(n)")
    } else {
        format!("(WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < {n}) SELECT n FROM s) g")
    };
    let blob = if engine == "postgres" { "t.hash" } else { "randomblob(32)" };
    format!(
        "INSERT INTO entries (retailer_id, store_id, seq, at_ms, kind, bytes, hash)
           SELECT t.retailer_id, 'bench-store', g.n, t.at_ms, t.kind, t.bytes, {blob}
           FROM {series}, (SELECT * FROM entries WHERE kind = 'sale_recorded' ORDER BY seq DESC LIMIT 1) t;
         INSERT INTO sale_lines (retailer_id, store_id, sale_id, line_no, product_id, quantity, net_minor, tax_minor, lots_quantity)
           SELECT t.retailer_id, 'bench-store', 'bench-' || g.n, 0, t.product_id, t.quantity, t.net_minor, t.tax_minor, t.lots_quantity
           FROM {series}, (SELECT * FROM sale_lines LIMIT 1) t;"
    )
}

fn hq_sqlite(tmp: &Path, n: i64) {
    let dir = tmp.join("hq");
    copy_dir(&golden("hq"), &dir);
    let db = dir.join("hq.db");
    let t = Instant::now();
    {
        let c = rusqlite::Connection::open(&db).unwrap();
        c.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = OFF; BEGIN").unwrap();
        c.execute_batch(&hq_grow_sql(n, "sqlite")).unwrap();
        c.execute_batch("COMMIT; PRAGMA wal_checkpoint(TRUNCATE)").unwrap();
    }
    println!("HQ: r1 fixture grown by {n} entries in {:.1} s ({:.0} MiB)", secs(t), file_mib(&db));
    let copy = copy_synced(&db, &tmp.join("hq-copy.db"));
    let handle = stockade_hq::db::Db::open_sqlite(&db).unwrap();
    let t = Instant::now();
    let r = stockade_hq::migrate::migrate(&dir, &handle, 1).unwrap();
    let migrate = secs(t);
    assert_eq!((r.from_version, r.to_version), (0, 2));
    println!("HQ (SQLite): migrate v0 → v2 {migrate:.2} s (checked backup included); file copy + fsync {copy:.2} s; ratio {:.2}", migrate / copy);
}

fn hq_postgres(tmp: &Path, n: i64) {
    let Ok(url) = std::env::var("STOCKADE_TEST_POSTGRES") else {
        println!("skipping HQ (PostgreSQL): STOCKADE_TEST_POSTGRES is not set");
        return;
    };
    let name = format!("stockade_bench_migrate_{}", std::process::id());
    let copy_name = format!("{name}_copy");
    let mut admin = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    for d in [&name, &copy_name] {
        admin.batch_execute(&format!("DROP DATABASE IF EXISTS {d}")).unwrap();
    }
    admin.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
    let db_url = with_dbname(&url, &name);
    let load = std::process::Command::new("psql").args(["-q", "-v", "ON_ERROR_STOP=1", "-d", &db_url, "-f"]).arg(golden("hq-postgres.sql")).output().unwrap();
    assert!(load.status.success(), "{}", String::from_utf8_lossy(&load.stderr));
    let t = Instant::now();
    {
        let mut c = postgres::Client::connect(&db_url, postgres::NoTls).unwrap();
        c.batch_execute(&hq_grow_sql(n, "postgres")).unwrap();
        c.batch_execute("VACUUM ANALYZE").unwrap();
    }
    println!("HQ (PostgreSQL): r1 fixture grown by {n} entries in {:.1} s", secs(t));
    let t = Instant::now();
    admin.batch_execute(&format!("CREATE DATABASE {copy_name} TEMPLATE {name}")).unwrap();
    let copy = secs(t);
    admin.batch_execute(&format!("DROP DATABASE {copy_name}")).unwrap();
    let dir = tmp.join("hq-pg");
    copy_dir(&golden("hq-pg"), &dir);
    let handle = stockade_hq::db::Db::connect_postgres(&db_url).unwrap();
    let t = Instant::now();
    let r = stockade_hq::migrate::migrate(&dir, &handle, 1).unwrap();
    let migrate = secs(t);
    assert_eq!((r.from_version, r.to_version), (0, 2));
    println!(
        "HQ (PostgreSQL): migrate v0 → v2 {migrate:.2} s (HQ journal backup included); database copy (CREATE DATABASE … TEMPLATE) {copy:.2} s; ratio {:.2}",
        migrate / copy
    );
    drop(handle);
    let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name}"));
}

fn main() {
    let n = entries();
    let tmp = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    store(tmp.path(), n);
    hq_sqlite(tmp.path(), n);
    hq_postgres(tmp.path(), n);
}
