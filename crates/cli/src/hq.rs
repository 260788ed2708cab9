//! `stockade hq …`: head office on SQLite (default, `DIR/hq.db`) or PostgreSQL (`--database`).

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use stockade_hq::access::{HqRole, Principal};
use stockade_hq::db::Db;
use stockade_hq::Hq;

#[derive(Args, Clone)]
pub struct Where {
    /// HQ's folder: its key file (mode 0600) and, without --database, its SQLite file.
    #[arg(long)]
    pub data: PathBuf,
    /// Store on PostgreSQL instead, e.g. postgres://user@host/db
    #[arg(long, env = "STOCKADE_HQ_DATABASE", hide_env_values = true)]
    pub database: Option<String>,
}

#[derive(Subcommand)]
pub enum HqCmd {
    /// Create HQ: its signing key, its database and the first administrator's token.
    Init {
        #[command(flatten)]
        at: Where,
        #[arg(long, default_value = "Head office")]
        name: String,
    },
    /// Serve HQ's API (stores push here).
    Serve {
        #[command(flatten)]
        at: Where,
        #[arg(long, default_value = "127.0.0.1:8090")]
        listen: String,
        /// How far a store's clock may be from HQ's before its requests are refused.
        #[arg(long, default_value_t = stockade_sync::DEFAULT_MAX_SKEW_MS)]
        max_clock_skew_ms: i64,
    },
    /// Add a retailer (a chain of stores).
    AddRetailer {
        #[command(flatten)]
        at: Where,
        /// Short id: a-z, 0-9 and '-'.
        #[arg(long)]
        id: String,
        #[arg(long)]
        name: String,
    },
    /// Register a store's public key under a retailer; prints its one-time enrolment code.
    AddStore {
        #[command(flatten)]
        at: Where,
        #[arg(long)]
        retailer: String,
        /// The store's public key (`stockade store status` prints it).
        #[arg(long)]
        public_key: String,
        #[arg(long)]
        name: String,
    },
    /// Publish catalog and price updates (a catalog CSV, as `store import-products` reads) to
    /// every store of a retailer. Nothing is published if any row is bad.
    PublishCatalog {
        #[command(flatten)]
        at: Where,
        #[arg(long)]
        retailer: String,
        file: PathBuf,
    },
    /// Per store: entries held, lag, last contact, integrity; then recent alerts.
    Status {
        #[command(flatten)]
        at: Where,
    },
    /// Check every journal, signature, co-signature and derived row. Exit 0 intact, 1 not.
    Verify {
        #[command(flatten)]
        at: Where,
    },
    /// Bring the database to this release's schema (a checked backup is written first into
    /// HQDIR/backups) and project what an older release left out. `serve` does the same at start.
    Migrate {
        #[command(flatten)]
        at: Where,
    },
    /// Rebuild stores' derived rows from the entries HQ holds: by default the stores with
    /// entries left out of HQ's figures that this release can now apply; `--all` for every store.
    Reproject {
        #[command(flatten)]
        at: Where,
        #[arg(long)]
        all: bool,
    },
    /// Write a self-verifying backup of HQ's own journal (retailers, stores, keys), and with
    /// --store, of that store's journal as HQ holds it.
    Backup {
        #[command(flatten)]
        at: Where,
        #[arg(long)]
        out: PathBuf,
        #[arg(long)]
        store: Option<String>,
    },
    /// Rebuild HQ's database from HQ's journal backup and the stores' journal backups, checking
    /// every signature again, then print head hashes and table digests. Without --hq-journal,
    /// from the stores alone: each holds the part of HQ's journal addressed to it and HQ's
    /// tree heads, and every store's journal is checked against what the others witnessed. On
    /// SQLite the old file is replaced only when the rebuild succeeded; with --database, point
    /// it at an empty database.
    Rebuild {
        #[command(flatten)]
        at: Where,
        /// HQ's journal backup (`stockade hq backup`); leave out to rebuild from the stores alone.
        #[arg(long)]
        hq_journal: Option<PathBuf>,
        /// HQ's offline root key file (`hq-root.key`, written by `hq init`): when hq.key is lost
        /// too, it names a new HQ key, which the stores accept (rebuilding from the stores alone).
        #[arg(long)]
        root_key: Option<PathBuf>,
        /// Store journal backups (`stockade backup` on the store, or `stockade hq backup --store`).
        #[arg(long = "store", num_args = 1..)]
        stores: Vec<PathBuf>,
        /// Running store nodes to pull journals from (HQ signs the requests with its key).
        #[arg(long = "from-store", num_args = 1..)]
        from_stores: Vec<String>,
    },
    /// For an HQ created before root keys: write a new offline root key to --out and record it
    /// in HQ's journal (stores learn it at their next sync). Keep the file off HQ's machines.
    RootKey {
        #[command(flatten)]
        at: Where,
        #[arg(long)]
        out: PathBuf,
    },
    /// Reports.
    #[command(subcommand)]
    Report(ReportCmd),
    /// The latest forecast run's replenishment proposals (`stockade forecast run`), as CSV.
    Proposals {
        #[command(flatten)]
        at: Where,
        /// Only what is still to approve.
        #[arg(long)]
        open: bool,
    },
    /// Approve a store's open proposals (all, or --product …) into a purchase order, sent to
    /// the store through HQ's journal.
    Approve {
        #[command(flatten)]
        at: Where,
        #[arg(long)]
        retailer: String,
        #[arg(long)]
        store: String,
        #[arg(long = "product")]
        products: Vec<String>,
    },
    /// Add a head-office user and print their token (shown once). Roles: admin, analyst (the
    /// wholesaler: store-level sales only where the retailer shares them), owner (one retailer,
    /// --retailer), auditor (reads everything, changes nothing).
    AddUser {
        #[command(flatten)]
        at: Where,
        #[arg(long)]
        name: String,
        #[arg(long)]
        role: String,
        #[arg(long)]
        retailer: Option<String>,
    },
    /// Revoke a head-office user: their tokens stop working at once.
    RevokeUser {
        #[command(flatten)]
        at: Where,
        #[arg(long)]
        user_id: String,
    },
    /// Record whether a retailer's agreement shares store-level sales with the wholesaler's analysts.
    Sharing {
        #[command(flatten)]
        at: Where,
        #[arg(long)]
        retailer: String,
        #[arg(long, value_parser = clap::builder::BoolishValueParser::new())]
        store_level: bool,
    },
    /// What an account (or one export) could have seen: stores whose sales it could read store
    /// by store, retailers it saw only in totals, exports it made, customer records.
    BreachImpact {
        #[command(flatten)]
        at: Where,
        /// A user's id or name.
        #[arg(long)]
        user: Option<String>,
        #[arg(long)]
        export: Option<String>,
        /// From this UTC time (RFC 3339).
        #[arg(long)]
        from: Option<String>,
        #[arg(long)]
        to: Option<String>,
    },
    /// Name the recipient (and export) a leaked CSV or JSON file came from, with a confidence.
    /// Exit 0 when traced, 1 when the file carries no fingerprint of this HQ.
    TraceLeak {
        #[command(flatten)]
        at: Where,
        file: PathBuf,
    },
    /// Check the audit log's chain and signature, then list records (oldest first). Exit 1 when
    /// the log was tampered with.
    Audit {
        #[command(flatten)]
        at: Where,
        /// A user's id or name.
        #[arg(long)]
        user: Option<String>,
        #[arg(long)]
        store: Option<String>,
        /// read_sales, read_status, export, permission_change, denied
        #[arg(long)]
        kind: Option<String>,
        /// From this UTC time (RFC 3339, e.g. 2026-11-22T00:00:00Z).
        #[arg(long)]
        from: Option<String>,
        #[arg(long)]
        to: Option<String>,
        /// Print JSON lines instead of a table.
        #[arg(long)]
        json: bool,
    },
}

fn utc_ms(text: &Option<String>, what: &str) -> Result<Option<i64>> {
    text.as_deref()
        .map(|t| {
            chrono::DateTime::parse_from_rfc3339(t)
                .map(|d| d.timestamp_millis())
                .with_context(|| format!("--{what} '{t}' is not an RFC 3339 time, e.g. 2026-11-22T00:00:00Z"))
        })
        .transpose()
}

#[derive(Subcommand)]
pub enum ReportCmd {
    /// Industry report: net sales by region × category × month with every total, under
    /// disclosure control (a cell needs --min-stores stores and passes the p % rule; partners
    /// are suppressed so no hidden cell can be solved for). Suppressed cells print as "x".
    Market {
        #[command(flatten)]
        at: Where,
        /// First month, YYYY-MM.
        #[arg(long)]
        from: String,
        /// Last month, YYYY-MM.
        #[arg(long)]
        to: String,
        #[arg(long, default_value_t = 5)]
        min_stores: usize,
        /// The p of the p % rule. Keep it out of anything published.
        #[arg(long, default_value_t = 10)]
        p: i64,
    },
    /// The wholesaler's daily sales-and-inventory report, per store × product.
    Daily {
        #[command(flatten)]
        at: Where,
        /// Store-local date, YYYY-MM-DD.
        #[arg(long)]
        date: String,
        #[arg(long)]
        retailer: Option<String>,
        /// Write CSV here (default: standard output).
        #[arg(long)]
        csv: Option<PathBuf>,
        /// Also write JSON here.
        #[arg(long)]
        json: Option<PathBuf>,
        /// Who the file is for: it is fingerprinted for them and logged, so `hq trace-leak` can
        /// name the recipient of any copy.
        #[arg(long, default_value = "local administrator")]
        recipient: String,
    },
}

fn connect(at: &Where) -> Result<Db> {
    match &at.database {
        Some(url) => Db::connect_postgres(url).context("cannot connect to PostgreSQL"),
        None => {
            std::fs::create_dir_all(&at.data).with_context(|| format!("cannot create {}", at.data.display()))?;
            Db::open_sqlite(&at.data.join(stockade_hq::DB_FILE)).context("cannot open HQ's SQLite file")
        }
    }
}

pub fn open(at: &Where) -> Result<Hq> {
    Hq::open(&at.data, connect(at)?, hq_clock()).with_context(|| format!("cannot open HQ in {}", at.data.display()))
}

/// A journal pulled from a store, in the form `rebuild` reads (it re-checks everything).
fn pulled_backup(page: stockade_sync::JournalPage) -> Result<stockade_journal::backup::Backup> {
    let entries: Vec<(u64, Vec<u8>)> = page.entries.into_iter().map(|e| (e.seq, e.entry.into_bytes())).collect();
    let first = entries.first().context("no entries")?;
    let env = stockade_journal::Envelope::decode(&first.1).context("entry 1 is unreadable")?;
    let public_key = match &env.event {
        stockade_journal::Event::StoreInitialized { public_key, .. } => public_key.clone(),
        _ => bail!("entry 1 does not initialize a store"),
    };
    let mut head = stockade_journal::GENESIS;
    for (_, b) in &entries {
        head = stockade_journal::chain_hash(&head, b);
    }
    let header =
        stockade_journal::backup::Header { format: stockade_journal::backup::FORMAT.into(), journal: "store".into(), id: env.store, public_key, created_ms: 0 };
    Ok(stockade_journal::backup::Backup { header, entries, checkpoints: page.checkpoints, head, evidence: Default::default() })
}

fn write_file(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

pub fn run(cmd: HqCmd) -> Result<i32> {
    match cmd {
        HqCmd::Init { at, name } => {
            let hq = Hq::init(&at.data, connect(&at)?, &name, hq_clock())?;
            let (_, token) = hq.bootstrap_admin()?;
            say!("HQ {} created ({})", hq.hq_id(), hq.db().engine());
            say!("HQ public key: {}", hq.public_key_hex());
            say!(
                "HQ root key: {}  (in {}: move that file off this machine; it is needed only to replace a lost hq.key)",
                hq.root_key()?.unwrap_or_default(),
                at.data.join(stockade_hq::trust::ROOT_KEY_FILE).display()
            );
            say!("admin token: {token}  (user 'admin'; shown once; for the dashboard, /hq/api/v1/… and `hq add-user`)");
            Ok(0)
        }
        HqCmd::Serve { at, listen, max_clock_skew_ms } => {
            let hq = Arc::new(open(&at)?);
            let rt = super::runtime()?;
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind(&listen).await.with_context(|| format!("cannot listen on {listen}"))?;
                say!("HQ {} listening on http://{} ({})", hq.hq_id(), listener.local_addr()?, hq.db().engine());
                use std::io::Write;
                std::io::stdout().flush()?;
                let shutdown = async {
                    let _ = tokio::signal::ctrl_c().await;
                };
                stockade_web::hq::serve_hq(hq, max_clock_skew_ms, listener, shutdown).await.context("server stopped")
            })?;
            Ok(0)
        }
        HqCmd::AddRetailer { at, id, name } => {
            open(&at)?.add_retailer(&id, &name)?;
            say!("retailer '{id}' added");
            Ok(0)
        }
        HqCmd::AddStore { at, retailer, public_key, name } => {
            let code = open(&at)?.add_store(&retailer, &public_key, &name)?;
            say!("store '{name}' registered under '{retailer}'");
            say!("enrolment code: {code}  (one store, shown once)");
            say!("on the store: stockade store enroll --data DIR --hq URL --code {code}");
            Ok(0)
        }
        HqCmd::PublishCatalog { at, retailer, file } => {
            let bytes = std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let outcome = stockade_domain::catalog::parse_catalog_csv(&bytes)?;
            if !outcome.errors.is_empty() {
                for e in &outcome.errors {
                    eprintln!("line {}: {}", e.line, e.reason);
                }
                bail!("nothing was published: {} bad rows", outcome.errors.len());
            }
            let n = outcome.products.len();
            let seq = open(&at)?.publish_catalog(&retailer, outcome.products.into_iter().map(|(_, p)| p).collect())?;
            say!("catalog update {seq} for '{retailer}' published: {n} products; stores apply it at their next sync");
            Ok(0)
        }
        HqCmd::Status { at } => {
            let hq = open(&at)?;
            let v = serde_json::json!({ "hq_id": hq.hq_id(), "stores": hq.status()?, "alerts": hq.alerts(20)? });
            say!("{}", serde_json::to_string_pretty(&v)?);
            Ok(0)
        }
        HqCmd::Migrate { at } => {
            let db = connect(&at)?;
            let r = stockade_hq::migrate::migrate(&at.data, &db, hq_clock()()).context("migration failed")?;
            if r.applied.is_empty() {
                say!("schema version {}: up to date, nothing to do", r.to_version);
            } else {
                if let Some(b) = &r.backup {
                    say!("backup written and checked: {}", b.display());
                }
                for (v, name) in &r.applied {
                    say!("applied migration {v} ({name})");
                }
                say!("schema version {} → {}", r.from_version, r.to_version);
            }
            for s in &r.reprojected {
                say!("store {s}: derived rows rebuilt from its entries");
            }
            Ok(0)
        }
        HqCmd::Reproject { at, all } => {
            let hq = open(&at)?;
            let scan = if all { stockade_hq::migrate::Scan::All } else { stockade_hq::migrate::Scan::OutOfRangeAndLeftOut };
            let stores = stockade_hq::migrate::reproject(hq.db(), &[], scan)?;
            say!("stores reprojected: {}", stores.len());
            for s in &stores {
                say!("  store {s}");
            }
            let left: i64 = hq.db().tx(|tx| tx.one("SELECT COUNT(*) FROM unprojected", &[]))?.and_then(|r| r[0].i()).unwrap_or(0);
            if left > 0 {
                say!("{left} entries are still left out of HQ's figures (see `stockade hq status`)");
            }
            Ok(0)
        }
        HqCmd::Verify { at } => {
            let hq = open(&at)?;
            match stockade_hq::verify::verify(&hq) {
                Ok(r) => {
                    let audit = match hq.verify_audit() {
                        Ok(n) => n,
                        Err(e) => {
                            say!("NOT INTACT: {e}");
                            return Ok(1);
                        }
                    };
                    say!(
                        "intact: HQ journal {} entries; {} stores, {} entries, {} co-signed checkpoints, {} derived rows match",
                        r.hq_entries,
                        r.stores,
                        r.entries,
                        r.checkpoints,
                        r.derived_rows
                    );
                    say!("audit log: {audit} records, chain and signed head intact");
                    for (store, size, head) in r.heads {
                        say!("  store {store}: {size} entries, head {head}");
                    }
                    Ok(0)
                }
                Err(Ok(finding)) => {
                    say!("NOT INTACT: {finding}");
                    Ok(1)
                }
                Err(Err(e)) => Err(e).context("verification could not run"),
            }
        }
        HqCmd::Backup { at, out, store } => {
            let hq = open(&at)?;
            let bytes = match &store {
                Some(id) => hq.backup_store(id)?,
                None => hq.backup_hq_journal()?,
            };
            let b = stockade_journal::backup::decode(std::str::from_utf8(&bytes)?)?;
            super::write_private(&out, std::str::from_utf8(&bytes)?)?;
            say!(
                "backup of {} journal {} written to {}: {} entries, head {}",
                b.header.journal,
                b.header.id,
                out.display(),
                b.entries.len(),
                hex::encode(b.head)
            );
            Ok(0)
        }
        HqCmd::Rebuild { at, hq_journal, root_key, stores, from_stores } => {
            let read = |p: &PathBuf| -> Result<stockade_journal::backup::Backup> {
                let text = std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))?;
                stockade_journal::backup::decode(&text).with_context(|| format!("{} is not an intact backup", p.display()))
            };
            let hq_backup = hq_journal.as_ref().map(read).transpose()?;
            let mut store_backups = stores.iter().map(read).collect::<Result<Vec<_>>>()?;
            if !from_stores.is_empty() {
                let key_file = at.data.join(stockade_hq::KEY_FILE);
                let key = stockade_journal::keyfile::read(&key_file).with_context(|| {
                    format!("pulling from running stores needs HQ's key ({}); with the key lost, rebuild from the stores' backup files (`stockade backup` at each store) and --root-key", key_file.display())
                })?;
                let rt = super::runtime()?;
                for url in &from_stores {
                    let page = rt.block_on(stockade_sync::fetch_store_journal(url, &key)).with_context(|| format!("cannot pull the journal of {url}"))?;
                    let mut b = pulled_backup(page).with_context(|| format!("{url} returned no usable journal"))?;
                    if hq_backup.is_none() {
                        b.evidence = rt
                            .block_on(stockade_sync::fetch_store_evidence(url, &key))
                            .with_context(|| format!("cannot pull what {url} holds of HQ's journal"))?;
                    }
                    store_backups.push(b);
                }
            }
            let root = match &root_key {
                Some(p) => Some(stockade_journal::keyfile::read(p).with_context(|| format!("cannot read HQ's root key {}", p.display()))?),
                None => None,
            };
            let (db, tmp) = match &at.database {
                Some(url) => (Db::connect_postgres(url).context("cannot connect to PostgreSQL")?, None),
                None => {
                    let tmp = at.data.join(format!("{}.rebuild", stockade_hq::DB_FILE));
                    for suffix in ["", "-wal", "-shm"] {
                        let _ = std::fs::remove_file(format!("{}{suffix}", tmp.display()));
                    }
                    (Db::open_sqlite(&tmp)?, Some(tmp))
                }
            };
            let (hq, report) = match &hq_backup {
                Some(b) => stockade_hq::rebuild::rebuild(&at.data, db, b, &store_backups, hq_clock())?,
                None => stockade_hq::rebuild::rebuild_from_stores(&at.data, db, &store_backups, root.as_ref(), hq_clock())?,
            };
            let verified = stockade_hq::verify::verify(&hq);
            // Staff accounts are not held by any store: a rebuilt HQ without an administrator gets one.
            let admin = if verified.is_ok() { hq.bootstrap_admin().ok().map(|(_, t)| t) } else { None };
            drop(hq);
            if let Err(e) = verified {
                // A new key named in a database that is not kept would lock the next attempt out.
                if report.rotated {
                    let k = at.data.join(stockade_hq::KEY_FILE);
                    let _ = std::fs::rename(&k, at.data.join(format!("{}.new", stockade_hq::KEY_FILE)));
                }
                bail!("the rebuilt database does not verify: {e:?}");
            }
            if let Some(tmp) = tmp {
                let target = at.data.join(stockade_hq::DB_FILE);
                for suffix in ["-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", target.display()));
                }
                std::fs::rename(&tmp, &target).with_context(|| format!("cannot move the rebuilt database to {}", target.display()))?;
            }
            say!("rebuilt: HQ journal {} entries", report.hq_entries);
            if hq_backup.is_none() {
                say!("  from the stores alone: {} entries of HQ's old journal no store held (staff accounts, other retailers) are marked lost", report.lost);
            }
            if report.rotated {
                say!(
                    "  HQ's key was replaced (signed by the root key): new HQ public key {}",
                    stockade_journal::keyfile::read(&at.data.join(stockade_hq::KEY_FILE))
                        .map(|k| hex::encode(k.verifying_key().to_bytes()))
                        .unwrap_or_default()
                );
            }
            if let Some(t) = admin {
                say!("admin token: {t}  (user 'admin'; shown once: HQ's staff accounts are not held by the stores)");
            }
            for (store, size, head) in &report.stores {
                say!("  store {store}: {size} entries, head {head}");
            }
            for (table, digest) in &report.digests {
                say!("  digest {table}: {digest}");
            }
            Ok(0)
        }
        HqCmd::RootKey { at, out } => {
            let k = open(&at)?.set_root_key(&out)?;
            say!("HQ root key: {k}  (written to {}: keep it off HQ's machines)", out.display());
            Ok(0)
        }
        HqCmd::Proposals { at, open: only_open } => {
            let rows = open(&at)?.proposals_for(&Principal::local_admin(), None, only_open)?;
            print!("{}", stockade_hq::replenish::to_csv(&rows));
            Ok(0)
        }
        HqCmd::Approve { at, retailer, store, products } => {
            let po = open(&at)?.approve(&Principal::local_admin(), &retailer, &store, &products)?;
            say!(
                "purchase order {} for store {store}: {} lines, {} units (HQ journal entry {})",
                po.po_id,
                po.lines.len(),
                po.lines.iter().map(|l| l.units).sum::<i64>(),
                po.hq_seq
            );
            Ok(0)
        }
        HqCmd::AddUser { at, name, role, retailer } => {
            let role = HqRole::parse(&role).with_context(|| format!("role '{role}' is not admin, analyst, owner or auditor"))?;
            let (user, token) = open(&at)?.add_user(&Principal::local_admin(), &name, role, retailer.as_deref())?;
            say!("user {} ({}, {}) added", user.name, user.user_id, role.as_str());
            say!("token: {token}  (shown once)");
            Ok(0)
        }
        HqCmd::RevokeUser { at, user_id } => {
            open(&at)?.revoke_user(&Principal::local_admin(), &user_id)?;
            say!("user {user_id} revoked");
            Ok(0)
        }
        HqCmd::Sharing { at, retailer, store_level } => {
            open(&at)?.set_sharing(&Principal::local_admin(), &retailer, store_level)?;
            say!("retailer {retailer}: store-level sales {} with analysts", if store_level { "shared" } else { "not shared" });
            Ok(0)
        }
        HqCmd::Audit { at, user, store, kind, from, to, json } => {
            let hq = open(&at)?;
            let n = match hq.verify_audit() {
                Ok(n) => n,
                Err(e) => {
                    say!("AUDIT LOG NOT INTACT: {e}");
                    return Ok(1);
                }
            };
            let user = match user {
                Some(u) => Some(hq.user_id_of(&u)?.with_context(|| format!("no user '{u}'"))?),
                None => None,
            };
            let filter = stockade_hq::audit::AuditFilter { user, store, kind, from_ms: utc_ms(&from, "from")?, to_ms: utc_ms(&to, "to")?, limit: None };
            let records = hq.audit_query(&filter)?;
            eprintln!("audit log intact: {n} records; {} match", records.len());
            for r in &records {
                if json {
                    say!("{}", serde_json::to_string(r)?);
                } else {
                    let at = chrono::DateTime::from_timestamp_millis(r.at_ms).map(|t| t.to_rfc3339()).unwrap_or_default();
                    say!(
                        "{:>6} {at} {} [{}] {} retailer={} store={} rows={} {}",
                        r.seq,
                        r.user_name,
                        r.user_id,
                        r.kind,
                        r.retailer_id,
                        r.store_id,
                        r.rows,
                        r.what
                    );
                }
            }
            Ok(0)
        }
        HqCmd::Report(ReportCmd::Daily { at, date, retailer, csv, json, recipient }) => {
            use stockade_hq::export::Format;
            let hq = open(&at)?;
            let admin = Principal::local_admin();
            let export = hq.export_daily(&admin, &date, retailer.as_deref(), &recipient, Format::Csv)?;
            match csv {
                Some(p) => write_file(&p, &export.text)?,
                None => print!("{}", export.text),
            }
            if let Some(p) = json {
                write_file(&p, &hq.export_daily(&admin, &date, retailer.as_deref(), &recipient, Format::Json)?.text)?;
            }
            eprintln!("{} rows, fingerprinted for '{recipient}' (export {})", export.rows.len(), export.export_id);
            Ok(0)
        }
        HqCmd::Report(ReportCmd::Market { at, from, to, min_stores, p }) => {
            let rules = stockade_hq::sdc::Rules { min_stores, p_percent: p };
            let cells = open(&at)?.market_report(&Principal::local_admin(), &from, &to, &rules)?;
            say!("region,category,month,net_sales_minor");
            for c in &cells {
                let v = c.net_sales_minor.map(|v| v.to_string()).unwrap_or_else(|| "x".into());
                say!("{},{},{},{v}", c.region, c.category, c.month);
            }
            eprintln!("{} cells, {} suppressed", cells.len(), cells.iter().filter(|c| c.net_sales_minor.is_none()).count());
            Ok(0)
        }
        HqCmd::BreachImpact { at, user, export, from, to } => {
            let impact = open(&at)?.breach_impact(user.as_deref(), export.as_deref(), utc_ms(&from, "from")?, utc_ms(&to, "to")?)?;
            say!("{} audited reads and exports, {} rows", impact.reads, impact.rows);
            say!("stores whose sales could be read store by store: {}", impact.stores.len());
            for (retailer, id, name) in &impact.stores {
                say!("  {retailer} / {name} ({id})");
            }
            say!("retailers seen only as totals: {}", if impact.totals_only.is_empty() { "none".into() } else { impact.totals_only.join(", ") });
            say!("exports: {}", impact.exports.len());
            for (id, recipient, at_ms, rows) in &impact.exports {
                let when = chrono::DateTime::from_timestamp_millis(*at_ms).map(|t| t.to_rfc3339()).unwrap_or_default();
                say!("  {id} for '{recipient}' at {when}, {rows} rows");
            }
            say!("customer records: {} (HQ keeps none; store journals hold only keyed hashes of ID numbers)", impact.customers.len());
            Ok(0)
        }
        HqCmd::TraceLeak { at, file } => {
            let bytes = std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let text = String::from_utf8_lossy(&bytes);
            let trace = open(&at)?.trace_leak(&text)?;
            if trace.matches.is_empty() {
                if trace.refs_found == 0 {
                    say!(
                        "no fingerprint: {} carries none of this HQ's export references (not exported by this HQ, or stripped of every reference column)",
                        file.display()
                    );
                } else {
                    say!("no match: {} reference-shaped values, none produced by any export of this HQ", trace.refs_found);
                }
                return Ok(1);
            }
            for m in &trace.matches {
                let when = m.exported_at_ms.and_then(chrono::DateTime::from_timestamp_millis).map(|t| t.to_rfc3339());
                match (&m.export_id, when) {
                    (Some(id), Some(when)) => say!(
                        "recipient '{}': export {id} at {when} by {} — {} matching references, confidence {:.12}",
                        m.recipient,
                        m.exported_by.as_deref().unwrap_or("?"),
                        m.matched_refs,
                        m.confidence
                    ),
                    _ => say!(
                        "recipient '{}': one of their exports (per-export references were removed) — {} matching references, confidence {:.12}",
                        m.recipient,
                        m.matched_refs,
                        m.confidence
                    ),
                }
            }
            Ok(0)
        }
    }
}

/// HQ's clock: the system clock, unless `STOCKADE_HQ_CLOCK_FILE` names a file clock (tests that
/// move HQ's time and a store's apart; never in production).
fn hq_clock() -> stockade_hq::NowMs {
    match std::env::var_os("STOCKADE_HQ_CLOCK_FILE") {
        Some(p) => {
            let clock = stockade_store::clock::FileClock::new(p);
            std::sync::Arc::new(move || stockade_store::clock::Clock::now_ms(&clock))
        }
        None => stockade_hq::system_clock(),
    }
}
