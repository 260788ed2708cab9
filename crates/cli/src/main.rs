//! `stockade`: the one binary. A thin edge: parse arguments, call the crates, print the error
//! chain once and set the exit code.

#![forbid(unsafe_code)]

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use rand::RngCore;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use stockade_store::clock::SystemClock;
use stockade_store::verify::verify_store;
use stockade_store::{InitOptions, Store};

/// `println!` that ends the program quietly when standard output is closed (`… | head -1`)
/// instead of panicking; any other write error is reported.
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::write_out(format_args!($($arg)*))
    };
}

pub(crate) fn write_out(args: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(args).and_then(|_| out.write_all(b"\n")) {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            eprintln!("error: cannot write to standard output: {e}");
            std::process::exit(2);
        }
        std::process::exit(0);
    }
}

mod hq;

#[derive(Parser)]
#[command(name = "stockade", version, about = "Cannabis retail and supply: store nodes that sell offline, with a verifiable journal")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Store node commands.
    #[command(subcommand)]
    Store(StoreCmd),
    /// Head office commands.
    #[command(subcommand)]
    Hq(hq::HqCmd),
    /// Demand forecasting.
    #[command(subcommand)]
    Forecast(ForecastCmd),
    /// Write a self-verifying backup of a store's journal (entries, signed checkpoints, head).
    Backup {
        #[arg(long)]
        data: PathBuf,
        /// Write the backup to this file (replaced atomically: the previous one survives a crash).
        #[arg(long, conflicts_with = "to")]
        out: Option<PathBuf>,
        /// Or into this folder (e.g. on a second disk), as a new dated file, keeping the
        /// newest --keep files (for cron; `store serve --backup-to` does the same on a schedule).
        #[arg(long)]
        to: Option<PathBuf>,
        #[arg(long, default_value_t = 48)]
        keep: usize,
    },
    /// Rebuild a store in an empty folder from a backup file, after verifying every entry and
    /// signature against the store's key.
    Restore {
        #[arg(long)]
        data: PathBuf,
        #[arg(long)]
        from: PathBuf,
        /// The store's key file, from the key backup.
        #[arg(long)]
        key: PathBuf,
        #[arg(long, default_value = "manager")]
        manager: String,
        #[arg(long, env = "STOCKADE_MANAGER_PASSWORD", hide_env_values = true)]
        password: Option<String>,
        /// HQ's public key: HQ's co-signatures in the backup are checked (and kept).
        #[arg(long)]
        hq_key: Option<String>,
        /// The store's witness file: the backup must agree with it; what it lacks is said.
        #[arg(long)]
        witness: Option<PathBuf>,
    },
    /// Create (or reuse) a demo store under ./stockade-data, stock it, and serve it on loopback.
    Demo {
        #[arg(long, default_value = "stockade-data")]
        data: PathBuf,
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: String,
    },
}

#[derive(Subcommand)]
enum ForecastCmd {
    /// Hold out the last H periods of every complete series of a tidy CSV (series,period,demand;
    /// empty demand = missing), fit on the rest, print MASE, RMSSE, MAE and ME per method and
    /// the coverage of the 80 % and 95 % quantiles.
    Eval {
        file: PathBuf,
        #[arg(long)]
        horizon: usize,
    },
    /// Forecast a synthetic panel of stores × products × days (intermittent, fixed seed) in
    /// parallel across cores; prints series per second and peak memory.
    Bench {
        #[arg(long, default_value_t = 1333)]
        stores: u64,
        #[arg(long, default_value_t = 2000)]
        products: u64,
        #[arg(long, default_value_t = 730)]
        days: usize,
        #[arg(long, default_value_t = 28)]
        horizon: usize,
        /// auto (what HQ runs: the automatic choice, weekly ETS for fast movers), ets (weekly
        /// ETS on every series), auto-nonseasonal, sba, tsb, adida, imapa, ses
        #[arg(long, default_value = "auto")]
        method: String,
        #[arg(long, default_value_t = 2026)]
        seed: u64,
    },
    /// At HQ: forecast every store × product from the daily sales HQ holds, in parallel across
    /// cores, and store the forecasts and order-up-to proposals (listed on /hq/proposals and by
    /// `stockade hq proposals`; approved there into purchase orders).
    Run {
        #[command(flatten)]
        at: hq::Where,
        /// Last day of history (YYYY-MM-DD); default: the latest day with sales.
        #[arg(long)]
        as_of: Option<String>,
        /// Days of history used.
        #[arg(long, default_value_t = 730)]
        history: usize,
        /// Days forecast (at least lead time + review period).
        #[arg(long, default_value_t = 28)]
        horizon: usize,
        /// Days between ordering and receiving.
        #[arg(long, default_value_t = 7)]
        lead_time: usize,
        /// Days between two orders.
        #[arg(long, default_value_t = 7)]
        review: usize,
        /// Target probability of not running out before the next delivery after this one.
        #[arg(long, default_value_t = 0.95)]
        service: f64,
        /// CSV of pack sizes, `sku,pack` (header line required); other products by the unit.
        #[arg(long)]
        packs: Option<PathBuf>,
    },
    /// Write the first N series of the synthetic panel as little-endian f32, series after
    /// series (for the comparison with statsforecast in scripts/).
    Export {
        #[arg(long)]
        series: u64,
        #[arg(long, default_value_t = 730)]
        days: usize,
        #[arg(long, default_value_t = 2026)]
        seed: u64,
        #[arg(long)]
        out: PathBuf,
    },
}

/// Pack sizes by SKU from a `sku,pack` CSV; every bad row is reported with its line.
fn read_packs(path: &Path) -> Result<std::collections::BTreeMap<String, u32>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut out = std::collections::BTreeMap::new();
    let mut bad = Vec::new();
    let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).from_reader(text.as_bytes());
    for (i, rec) in reader.records().enumerate() {
        let line = i + 2;
        match rec {
            Ok(r) => match (r.get(0).filter(|s| !s.is_empty()), r.get(1).and_then(|v| v.parse::<u32>().ok()).filter(|v| (1..=10_000).contains(v))) {
                (Some(sku), Some(pack)) => {
                    out.insert(sku.to_string(), pack);
                }
                _ => bad.push(format!("line {line}: expected a SKU and a pack size of 1 to 10,000")),
            },
            Err(e) => bad.push(format!("line {line}: {e}")),
        }
    }
    if !bad.is_empty() {
        bail!("{} has bad rows, nothing was run:\n{}", path.display(), bad.join("\n"));
    }
    Ok(out)
}

/// Peak resident memory of this process (Linux), in MiB.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: f64 = status.lines().find_map(|l| l.strip_prefix("VmHWM:"))?.trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kb / 1024.0)
}

fn forecast_bench(stores: u64, products: u64, days: usize, horizon: usize, method: &str, seed: u64) -> Result<i32> {
    use rayon::prelude::*;
    use stockade_forecast::Method;
    let method = match method {
        "auto" => Method::AutoSeasonal(7),
        "auto-nonseasonal" => Method::Auto,
        "ets" => Method::Ets(7),
        "sba" => Method::Sba,
        "tsb" => Method::Tsb { alpha_d: 0.1, alpha_p: 0.1 },
        "adida" => Method::Adida,
        "imapa" => Method::Imapa,
        "ses" => Method::SesOptimized,
        other => bail!("unknown method '{other}': auto, auto-nonseasonal, ets, sba, tsb, adida, imapa or ses"),
    };
    if horizon == 0 || days == 0 {
        bail!("--horizon and --days must be at least 1");
    }
    let total = stores.checked_mul(products).context("too many series")?;
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} series, {per_sec}, eta {eta}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let started = std::time::Instant::now();
    const CHUNK: u64 = 10_000;
    let chunks = total.div_ceil(CHUNK);
    let (units, nonzero): (f64, u64) = (0..chunks)
        .into_par_iter()
        .map(|c| {
            let mut buf = Vec::with_capacity(days);
            let (mut units, mut nonzero) = (0.0, 0u64);
            for i in c * CHUNK..((c + 1) * CHUNK).min(total) {
                stockade_forecast::synthetic::series(seed, i, days, &mut buf);
                let f = stockade_forecast::forecast(method, &buf, horizon);
                units += f.iter().sum::<f64>();
                nonzero += u64::from(f[0] > 0.0);
            }
            bar.inc(((c + 1) * CHUNK).min(total) - c * CHUNK);
            (units, nonzero)
        })
        .reduce(|| (0.0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
    bar.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    say!(
        "{total} series × {days} days, {horizon} days ahead, {} on {} threads: {secs:.1} s, {:.0} series/s, {:.2} µs per series; peak memory {} MiB; {:.0} units forecast, {nonzero} series with demand",
        method.name(),
        rayon::current_num_threads(),
        total as f64 / secs,
        secs * 1e6 / total as f64,
        peak_rss_mib().map(|m| format!("{m:.0}")).unwrap_or_else(|| "?".into()),
        units
    );
    Ok(0)
}

#[derive(Subcommand)]
enum StoreCmd {
    /// Create a store: signing key (mode 0600), database, first manager account.
    Init {
        #[arg(long)]
        data: PathBuf,
        /// Rule pack id: CA-ON, US-CO, US-CA, US-WA, US-MA, US-MI.
        #[arg(long)]
        jurisdiction: String,
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "manager")]
        manager: String,
        /// The manager's password; generated and printed once when not given.
        #[arg(long, env = "STOCKADE_MANAGER_PASSWORD", hide_env_values = true)]
        password: Option<String>,
        /// The retailer's data key for customer records (`store new-retailer-key`), shared by
        /// the retailer's stores; a new key is made when not given.
        #[arg(long)]
        retailer_key: Option<PathBuf>,
    },
    /// Make a retailer data key file (0600) to give every store of the retailer at init.
    NewRetailerKey {
        #[arg(long)]
        out: PathBuf,
    },
    /// Serve the store node's API (and replicate to HQ in the background once enrolled).
    Serve {
        #[arg(long)]
        data: PathBuf,
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: String,
        /// Days a customer record is kept before it is deleted for good (1 to 36,500).
        #[arg(long, default_value_t = stockade_store::customers::DEFAULT_RETENTION_DAYS, value_parser = clap::value_parser!(i64).range(1..=36_500))]
        customer_retention_days: i64,
        /// Share of each product's stock online orders can never reserve: the counter's.
        #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(i64).range(0..=100))]
        counter_reserve_percent: i64,
        /// Most of what online orders may hold of a product that one order may take.
        #[arg(long, default_value_t = 25, value_parser = clap::value_parser!(i64).range(0..=100))]
        order_share_percent: i64,
        /// Open online orders one customer (phone or e-mail) may have at once.
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(i64).range(1..=1000))]
        open_orders_per_customer: i64,
        /// Days ahead a delivery window may start (a pickup starts today or tomorrow).
        #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(i64).range(1..=30))]
        delivery_days: i64,
        /// Longest wait between attempts while HQ is unreachable.
        #[arg(long, default_value_t = 60_000)]
        sync_max_backoff_ms: u64,
        /// Wait between pushes when there is nothing new (heartbeat).
        #[arg(long, default_value_t = 2_000)]
        sync_idle_ms: u64,
        /// How often the store asks HQ for its signed tree head over every store's head
        /// (witnessed history; it costs HQ a read of every store's head).
        #[arg(long, default_value_t = 60_000)]
        tree_head_every_ms: u64,
        /// Seconds between full checks in the background (SQLite's integrity check, the whole
        /// journal, the projections); the first runs 2 s after start.
        #[arg(long, default_value_t = 3_600)]
        verify_every_s: u64,
        /// Write a self-verifying backup into this folder (a second disk) on a schedule.
        #[arg(long)]
        backup_to: Option<PathBuf>,
        #[arg(long, default_value_t = 3_600)]
        backup_every_s: u64,
        /// Backups kept in --backup-to (the newest).
        #[arg(long, default_value_t = 48)]
        backup_keep: usize,
    },
    /// Link this store to head office with the code from `stockade hq add-store`.
    Enroll {
        #[arg(long)]
        data: PathBuf,
        /// HQ's address, e.g. http://hq.example:8090
        #[arg(long)]
        hq: String,
        #[arg(long)]
        code: String,
    },
    /// Rebuild a wiped store from HQ: every entry and checkpoint is verified against the store's
    /// key (from the key backup) and HQ's co-signatures before anything is written.
    Restore {
        /// An empty folder for the restored store.
        #[arg(long)]
        data: PathBuf,
        #[arg(long = "from-hq")]
        from_hq: String,
        /// The store's key file, from the key backup.
        #[arg(long)]
        key: PathBuf,
        /// HQ's public key as recorded when the store enrolled (pins HQ; printed by `hq init`).
        #[arg(long)]
        hq_key: String,
        /// Manager who gets a new password (passwords are not in the journal).
        #[arg(long, default_value = "manager")]
        manager: String,
        #[arg(long, env = "STOCKADE_MANAGER_PASSWORD", hide_env_values = true)]
        password: Option<String>,
    },
    /// Check SQLite's pages and indexes, every hash, link, signature and projection. Exit 0
    /// when intact, 1 when not.
    Verify {
        #[arg(long)]
        data: PathBuf,
    },
    /// Rebuild a damaged database (stop `serve` first): what can be read of the journal, plus
    /// HQ's copy (--from-hq) or a backup file (--backup) for the rest; every projection replayed,
    /// sign-in and HQ link carried over; refused unless every witnessed entry is back. The
    /// damaged file is kept beside it.
    Repair {
        #[arg(long)]
        data: PathBuf,
        /// Take the entries the damaged file lost from HQ (the URL and key the store enrolled
        /// with, unless --hq / --hq-key say otherwise).
        #[arg(long = "from-hq")]
        from_hq: bool,
        #[arg(long)]
        hq: Option<String>,
        #[arg(long)]
        hq_key: Option<String>,
        /// Take them from a backup file (`stockade backup`).
        #[arg(long)]
        backup: Option<PathBuf>,
    },
    /// Journal head and checkpoints.
    Status {
        #[arg(long)]
        data: PathBuf,
    },
    /// Bring the database to this release's schema (a checked backup is written first into
    /// DIR/backups). `serve` does the same at start; this says what it did. Stop `serve` first.
    Migrate {
        #[arg(long)]
        data: PathBuf,
    },
    /// Replay the journal into fresh projection tables, in place. Stop `serve` first.
    RebuildProjections {
        #[arg(long)]
        data: PathBuf,
    },
    /// Import a catalog CSV. Nothing is imported if any row is bad, unless --skip-invalid.
    ImportProducts {
        #[arg(long)]
        data: PathBuf,
        file: PathBuf,
        /// Import the good rows and report the bad ones.
        #[arg(long)]
        skip_invalid: bool,
        /// Write the rejected rows (line, reason) to this CSV file.
        #[arg(long)]
        report: Option<PathBuf>,
    },
    /// Record N random valid sales through the same code path as the API.
    Simulate {
        #[arg(long)]
        data: PathBuf,
        #[arg(long)]
        sales: u64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Receive QUANTITY units of every product that has a price (demo and test set-up).
    ReceiveAll {
        #[arg(long)]
        data: PathBuf,
        #[arg(long, default_value_t = 100)]
        quantity: i64,
    },
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,tower_http=warn".into()))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let code = match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            2
        }
    };
    std::process::exit(code);
}

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the async runtime")
}

fn random_password() -> String {
    let mut b = [0u8; 12];
    rand::rngs::OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

/// Another copy of a store's journal: entries `(seq, exact bytes)` and signed checkpoints.
type JournalCopy = (Vec<(u64, Vec<u8>)>, Vec<stockade_journal::SignedCheckpoint>);

/// Whether opening failed because the database file is damaged (not missing, busy or newer).
fn is_damage(e: &stockade_store::StoreError) -> bool {
    match e {
        stockade_store::StoreError::Corrupt(_) => true,
        stockade_store::StoreError::Db(e) => stockade_store::verify::is_corruption(e),
        _ => false,
    }
}

fn open(data: &Path) -> Result<Store> {
    Store::open(data, stockade_store::clock::from_env(), None).with_context(|| format!("cannot open the store in {}", data.display()))
}

fn run(cli: Cli) -> Result<i32> {
    match cli.cmd {
        Cmd::Store(cmd) => run_store(cmd),
        Cmd::Hq(cmd) => hq::run(cmd),
        Cmd::Forecast(ForecastCmd::Bench { stores, products, days, horizon, method, seed }) => forecast_bench(stores, products, days, horizon, &method, seed),
        Cmd::Forecast(ForecastCmd::Run { at, as_of, history, horizon, lead_time, review, service, packs }) => {
            let packs = match packs {
                Some(f) => read_packs(&f)?,
                None => Default::default(),
            };
            let hq = hq::open(&at)?;
            let params = stockade_hq::replenish::RunParams { as_of, history_days: history, horizon, lead_time, review, service, packs };
            let bar = indicatif::ProgressBar::new_spinner();
            bar.set_style(
                indicatif::ProgressStyle::with_template("{spinner} {pos} series forecast, {per_sec}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
            );
            let r = hq.run_forecasts(&params, &|n| bar.set_position(n))?;
            bar.finish_and_clear();
            say!(
                "forecast run {} as of {}: {} series in {} stores, {:.1} s on {} threads; {} proposals for {} units (see /hq/proposals or `stockade hq proposals`)",
                r.run_id,
                r.as_of,
                r.series,
                r.stores,
                r.millis as f64 / 1000.0,
                rayon::current_num_threads(),
                r.proposals,
                r.units_proposed
            );
            Ok(0)
        }
        Cmd::Forecast(ForecastCmd::Export { series, days, seed, out }) => {
            use std::io::Write;
            let f = std::fs::File::create(&out).with_context(|| format!("cannot create {}", out.display()))?;
            let mut w = std::io::BufWriter::new(f);
            let mut buf = Vec::with_capacity(days);
            for i in 0..series {
                stockade_forecast::synthetic::series(seed, i, days, &mut buf);
                for v in &buf {
                    w.write_all(&(*v as f32).to_le_bytes())?;
                }
            }
            w.flush()?;
            say!("{series} series × {days} days written to {}", out.display());
            Ok(0)
        }
        Cmd::Forecast(ForecastCmd::Eval { file, horizon }) => {
            if horizon == 0 {
                bail!("--horizon must be at least 1");
            }
            let text = std::fs::read_to_string(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let panel = stockade_forecast::eval::parse(&text).with_context(|| format!("{} is not a tidy series,period,demand panel", file.display()))?;
            let r = stockade_forecast::eval::evaluate(&panel, horizon);
            say!(
                "{} series scored; {} dropped for missing values, {} too short; {} with a constant training window left out of MASE/RMSSE; horizon {horizon}",
                r.series,
                r.dropped_missing,
                r.dropped_too_short,
                r.unscaled
            );
            say!(
                "{:<22} {:>7} {:>7} {:>7} {:>7} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}",
                "method",
                "MASE",
                "RMSSE",
                "MAE",
                "ME",
                "cov80%",
                "cov95%",
                "pit80%",
                "pit95%",
                "exp80%",
                "exp95%"
            );
            for (name, s) in &r.scores {
                say!(
                    "{name:<22} {:>7.4} {:>7.4} {:>7.3} {:>7.4} {:>8.1} {:>8.1} {:>8.1} {:>8.1} {:>8.1} {:>8.1}",
                    s.mase,
                    s.rmsse,
                    s.mae,
                    s.me,
                    100.0 * s.coverage80,
                    100.0 * s.coverage95,
                    100.0 * s.pit80,
                    100.0 * s.pit95,
                    100.0 * s.expected80,
                    100.0 * s.expected95
                );
            }
            Ok(0)
        }
        Cmd::Backup { data, out, to, keep } => {
            let store = open(&data)?;
            let (path, b) = match (out, to) {
                (Some(out), _) => (out.clone(), backup_to_file(&store, &out)?),
                (None, Some(folder)) => backup_into(&store, &folder, keep)?,
                (None, None) => bail!("say where: --out FILE or --to FOLDER"),
            };
            say!("backup of store {} written to {} and checked: {} entries, head {}", b.header.id, path.display(), b.entries.len(), hex::encode(b.head));
            Ok(0)
        }
        Cmd::Restore { data, from, key, manager, password, hq_key, witness } => {
            let text = std::fs::read_to_string(&from).with_context(|| format!("cannot read {}", from.display()))?;
            let b = stockade_journal::backup::decode(&text).with_context(|| format!("{} is not an intact backup", from.display()))?;
            if b.header.journal != "store" {
                bail!("{} is a backup of HQ's journal, not of a store", from.display());
            }
            let key = stockade_journal::keyfile::read(&key)?;
            let hq_key = match &hq_key {
                Some(k) => Some(stockade_journal::verifying_key_from_hex(k).context("--hq-key is not an Ed25519 public key in hex")?),
                None => None,
            };
            // The store's witness file (kept elsewhere, or the old folder's): the backup must
            // agree with it, and what it lacks is said.
            if let Some(w) = &witness {
                let bytes = std::fs::read(w).with_context(|| format!("cannot read {}", w.display()))?;
                let store_id = b.entries.first().and_then(|(_, e)| stockade_journal::Envelope::decode(e).ok()).map(|e| e.store).unwrap_or_default();
                let wit = stockade_journal::witness::Witness::read(&bytes, &store_id, &key.verifying_key());
                if let Some(f) = wit.furthest {
                    let mut head = stockade_journal::GENESIS;
                    let mut at = None;
                    for (seq, e) in &b.entries {
                        head = stockade_journal::chain_hash(&head, e);
                        if *seq == f.size {
                            at = Some(head);
                        }
                    }
                    match at {
                        Some(h) if h != f.head => bail!("the backup contradicts the witness at entry {}: not restored", f.size),
                        Some(_) => say!("the backup reaches every witnessed entry (witnessed: {})", f.size),
                        None => say!(
                            "warning: the backup ends at entry {} but the store had witnessed entry {}: run `stockade store repair --data {} --from-hq` after restoring to get the rest from HQ",
                            b.entries.len(),
                            f.size,
                            data.display()
                        ),
                    }
                }
            }
            // HQ's keys: the one given and, when the backup's own evidence about HQ names it, every
            // key of that history (older co-signatures were made with them). HQ's tree heads in
            // the backup, checked with those keys, must each witness a prefix of its journal.
            let hq_keys: Vec<ed25519_dalek::VerifyingKey> = match &hq_key {
                Some(k) if b.evidence.hq_keys.contains(&hex::encode(k.to_bytes())) => {
                    b.evidence.hq_keys.iter().filter_map(|h| stockade_journal::verifying_key_from_hex(h)).collect()
                }
                Some(k) => vec![*k],
                None => vec![],
            };
            if !hq_keys.is_empty() {
                let heads: Vec<&stockade_journal::tree::TreeHead> =
                    b.evidence.tree_heads.iter().filter(|t| hq_keys.iter().any(|k| t.verify(k).is_ok())).collect();
                if let Some((_, agreed)) = stockade_journal::tree::contradiction(&b.header.id, &b.entries, &heads) {
                    bail!(
                        "the backup contradicts a head HQ witnessed for this store: entries up to {agreed} agree, entry {} does not; not restored",
                        agreed + 1
                    );
                }
                if !heads.is_empty() {
                    say!("the backup agrees with the {} heads HQ witnessed in it", heads.len());
                }
            }
            let generated = password.is_none();
            let password = password.unwrap_or_else(random_password);
            let r = stockade_store::sync::restore(
                &data,
                &key,
                hq_key.as_ref().map(|_| (hq_keys.as_slice(), stockade_store::sync::CoSignatures::CheckOnly)),
                &b.entries,
                &b.checkpoints,
                &manager,
                &password,
            )?;
            say!("restored store {} in {}: {} entries, {} checkpoints verified, head {}", r.store_id, data.display(), r.entries, r.checkpoints, r.head_hash);
            if generated {
                say!("manager login: {manager} / {password}  (shown once; change it)");
            }
            Ok(0)
        }
        Cmd::Demo { data, listen } => demo(&data, &listen),
    }
}

fn run_store(cmd: StoreCmd) -> Result<i32> {
    match cmd {
        StoreCmd::Init { data, jurisdiction, name, manager, password, retailer_key } => {
            let key = match &retailer_key {
                Some(path) => {
                    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
                    Some(stockade_store::customers::parse_key(&text).with_context(|| format!("{} is not a retailer key (64 hex digits)", path.display()))?)
                }
                None => None,
            };
            let generated = password.is_none();
            let password = password.unwrap_or_else(random_password);
            let id = Store::init(
                &data,
                &InitOptions { name, jurisdiction, manager_username: manager.clone(), manager_password: password.clone() },
                stockade_store::clock::from_env(),
            )?;
            if let Some(key) = key {
                stockade_store::customers::write_key(&data.join(stockade_store::customers::RETAILER_KEY_FILE), &key)?;
            }
            say!("store {id} created in {}", data.display());
            if generated {
                say!("manager login: {manager} / {password}  (shown once; change it)");
            }
            Ok(0)
        }
        StoreCmd::NewRetailerKey { out } => {
            if out.exists() {
                bail!("{} exists: a retailer key is never overwritten", out.display());
            }
            let mut key = [0u8; 32];
            rand::rngs::OsRng.fill_bytes(&mut key);
            stockade_store::customers::write_key(&out, &key)?;
            say!("retailer key written to {} (0600): give it to each of the retailer's stores at `store init --retailer-key`", out.display());
            Ok(0)
        }
        StoreCmd::Serve {
            data,
            listen,
            sync_max_backoff_ms,
            sync_idle_ms,
            tree_head_every_ms,
            customer_retention_days,
            counter_reserve_percent,
            order_share_percent,
            open_orders_per_customer,
            delivery_days,
            verify_every_s,
            backup_to,
            backup_every_s,
            backup_keep,
        } => {
            let store = match Store::open(&data, stockade_store::clock::from_env(), None) {
                Ok(store) => store,
                // Too damaged to open: the register still answers, with the repair command.
                Err(e) if is_damage(&e) => {
                    let message = stockade_store::integrity::damaged_message(&data, &e.to_string());
                    tracing::error!(error = %e, "the store's database is damaged: serving the repair message only");
                    let rt = runtime()?;
                    rt.block_on(async {
                        let listener = tokio::net::TcpListener::bind(&listen).await.with_context(|| format!("cannot listen on {listen}"))?;
                        say!("store node (damaged: sales stopped) listening on http://{}", listener.local_addr()?);
                        stockade_web::serve_damaged(listener, message, async {
                            let _ = tokio::signal::ctrl_c().await;
                        })
                        .await
                        .context("server stopped")
                    })?;
                    return Ok(1);
                }
                Err(e) => return Err(e).with_context(|| format!("cannot open the store in {}", data.display())),
            };
            store.set_customer_retention_days(customer_retention_days);
            store
                .set_checkout_policy(stockade_store::checkout::CheckoutPolicy {
                    counter_reserve_percent,
                    order_share_percent,
                    open_orders_per_contact: open_orders_per_customer,
                    delivery_days,
                    ..Default::default()
                })
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            store.watch(std::time::Duration::from_secs(2), std::time::Duration::from_secs(verify_every_s.max(1)));
            let pacing = stockade_sync::Pacing {
                idle: std::time::Duration::from_millis(sync_idle_ms),
                min_backoff: std::time::Duration::from_millis(200.min(sync_max_backoff_ms)),
                max_backoff: std::time::Duration::from_millis(sync_max_backoff_ms),
                tree_head_every: std::time::Duration::from_millis(tree_head_every_ms),
            };
            let schedule = backup_to.map(|folder| (folder, std::time::Duration::from_secs(backup_every_s.max(1)), backup_keep.max(1)));
            runtime()?.block_on(serve(store, &listen, pacing, schedule))?;
            Ok(0)
        }
        StoreCmd::Enroll { data, hq, code } => {
            let store = open(&data)?;
            let rt = runtime()?;
            let cfg = rt.block_on(async {
                let client = stockade_sync::HqClient::new(&hq, store.clone())?;
                let cfg = client.enroll(&code).await?;
                store.set_sync_config(cfg.clone()).await?;
                anyhow::Ok(cfg)
            })?;
            say!("enrolled with HQ {} as a store of retailer '{}'; HQ holds {} of its entries", cfg.hq_id, cfg.retailer_id, cfg.acked_size);
            say!("HQ public key: {}", cfg.hq_public_key);
            Ok(0)
        }
        StoreCmd::Restore { data, from_hq, key, hq_key, manager, password } => {
            let key = stockade_journal::keyfile::read(&key)?;
            let hq_pub = stockade_journal::verifying_key_from_hex(&hq_key).context("--hq-key must be HQ's public key (64 hex digits)")?;
            let generated = password.is_none();
            let password = password.unwrap_or_else(random_password);
            let report = runtime()?.block_on(restore_from_hq(&data, &from_hq, key, hq_pub, &manager, &password))?;
            say!(
                "restored store {} from {from_hq}: {} entries, {} checkpoints verified, head {}",
                report.store_id,
                report.entries,
                report.checkpoints,
                report.head_hash
            );
            if generated {
                say!("manager login: {manager} / {password}  (shown once; change it)");
            }
            Ok(0)
        }
        StoreCmd::Verify { data } => match verify_store(&data) {
            Ok(r) => {
                say!(
                    "intact: {} entries, {} checkpoints verified, {} projection rows match, head {}",
                    r.entries,
                    r.checkpoints,
                    r.projection_rows,
                    r.head_hash
                );
                Ok(0)
            }
            Err(Ok(finding)) => {
                match finding.seq() {
                    Some(seq) => say!("NOT INTACT: first bad entry is {seq}: {finding}"),
                    None => say!("NOT INTACT: {finding}"),
                }
                Ok(1)
            }
            Err(Err(e)) => Err(e).context("verification could not run"),
        },
        StoreCmd::Repair { data, from_hq, hq, hq_key, backup } => {
            let salvage = stockade_store::repair::salvage(&data).context("cannot read the damaged store")?;
            match &salvage.stopped {
                Some(why) => say!("salvaged {} entries; the damaged file stops there: {why}", salvage.entries.len()),
                None => say!("salvaged all {} entries of the journal", salvage.entries.len()),
            }
            // HQ's keys: the one given, else every key the damaged store trusted.
            let hq_vks: Vec<ed25519_dalek::VerifyingKey> = match hq_key {
                Some(k) => vec![stockade_journal::verifying_key_from_hex(&k).context("--hq-key is not an Ed25519 public key in hex")?],
                None => salvage.hq_keys.iter().filter_map(|k| stockade_journal::verifying_key_from_hex(k)).collect(),
            };
            let more: Option<JournalCopy> = if let Some(file) = backup {
                let text = std::fs::read_to_string(&file).with_context(|| format!("cannot read {}", file.display()))?;
                let b = stockade_journal::backup::decode(&text).with_context(|| format!("{} is not an intact backup", file.display()))?;
                Some((b.entries, b.checkpoints))
            } else if from_hq {
                let url = hq.or_else(|| salvage.hq_url.clone()).context("the store's HQ link cannot be read: pass --hq URL and --hq-key")?;
                let key = stockade_journal::keyfile::read(&data.join(stockade_store::node::KEY_FILE))?;
                let page = runtime()?.block_on(stockade_sync::fetch_journal_with_key(&url, &key))?;
                Some((page.entries.into_iter().map(|e| (e.seq, e.entry.into_bytes())).collect(), page.checkpoints))
            } else {
                None
            };
            let r = stockade_store::repair::repair(&data, &salvage, more.as_ref().map(|(e, c)| (e.as_slice(), c.as_slice())), &hq_vks, now_ms())
                .context("repair refused; nothing was changed")?;
            say!(
                "repaired: {} entries ({} salvaged, {} from the other copy), head {}; every witnessed entry is back (witnessed: {})",
                r.entries,
                r.salvaged,
                r.from_elsewhere,
                r.head_hash,
                r.witnessed
            );
            for t in &r.not_carried {
                say!("not carried over (damaged): {t}");
            }
            say!("the damaged file is kept as {}", r.damaged_copy);
            Ok(0)
        }
        StoreCmd::Migrate { data } => {
            let r = stockade_store::migrate::migrate_dir(&data, now_ms()).context("migration failed")?;
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
            if r.reprojected {
                say!("projections held values out of range: rebuilt from the journal");
            }
            for f in &r.faults {
                say!("left out of the store's figures: {f}");
            }
            Ok(0)
        }
        StoreCmd::RebuildProjections { data } => {
            let faults = stockade_store::migrate::rebuild_projections(&data, now_ms()).context("rebuilding projections failed")?;
            say!("projections rebuilt from the journal");
            for f in &faults {
                say!("left out of the store's figures: {f}");
            }
            Ok(if faults.is_empty() { 0 } else { 1 })
        }
        StoreCmd::Status { data } => {
            let store = open(&data)?;
            let s = store.read(|c| stockade_store::queries::status(c, &store))?;
            say!("{}", serde_json::to_string_pretty(&s)?);
            Ok(0)
        }
        StoreCmd::ImportProducts { data, file, skip_invalid, report } => {
            let bytes = std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let store = open(&data)?;
            let actor = store.first_manager()?;
            let r = runtime()?.block_on(store.import_products(&actor, bytes, skip_invalid))?;
            for e in r.rejected.iter().take(20) {
                eprintln!("line {}: {}", e.line, e.reason);
            }
            if r.rejected.len() > 20 {
                eprintln!("… and {} more rejected rows", r.rejected.len() - 20);
            }
            if let Some(path) = report {
                let mut out = String::from("line,reason\n");
                for e in &r.rejected {
                    out.push_str(&format!("{},\"{}\"\n", e.line, e.reason.replace('"', "\"\"")));
                }
                std::fs::write(&path, out).with_context(|| format!("cannot write {}", path.display()))?;
            }
            say!("{} rows: {} imported, {} rejected", r.rows, r.imported, r.rejected.len());
            if !r.rejected.is_empty() && !skip_invalid {
                say!("nothing was imported: fix the rows above, or pass --skip-invalid to import the good rows");
                return Ok(1);
            }
            Ok(0)
        }
        StoreCmd::Simulate { data, sales, seed } => {
            let store = open(&data)?;
            let actor = store.first_manager()?;
            let bar = indicatif::ProgressBar::new(sales);
            bar.set_style(
                indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} sales {per_sec} eta {eta}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            let r = runtime()?.block_on(store.simulate(&actor, sales, seed, |n| bar.set_position(n)))?;
            bar.finish_and_clear();
            say!("{} sales recorded ({} carts refused by limits and redrawn), revenue {} minor units", r.sales, r.refused_by_limits, r.revenue_minor);
            Ok(0)
        }
        StoreCmd::ReceiveAll { data, quantity } => {
            let store = open(&data)?;
            let actor = store.first_manager()?;
            let n = runtime()?.block_on(store.receive_all(&actor, quantity))?;
            say!("received {quantity} units of each of {n} products");
            Ok(0)
        }
    }
}

/// Backups on a schedule while the store serves: a new dated file every `every`, written
/// beside its final name, synced, renamed, read back and checked; the newest `keep` are kept.
fn spawn_backups(store: Store, schedule: Option<(PathBuf, std::time::Duration, usize)>) {
    let Some((folder, every, keep)) = schedule else { return };
    tokio::spawn(async move {
        loop {
            let (s, f) = (store.clone(), folder.clone());
            match tokio::task::spawn_blocking(move || backup_into(&s, &f, keep)).await {
                Ok(Ok((path, b))) => tracing::info!(path = %path.display(), entries = b.entries.len(), "scheduled backup written and checked"),
                Ok(Err(e)) => tracing::error!(error = %format!("{e:#}"), "scheduled backup failed"),
                Err(e) => tracing::error!(error = %e, "scheduled backup failed"),
            }
            tokio::time::sleep(every).await;
        }
    });
}

/// Writes the store's backup to `path` (atomically) and reads it back: it must decode whole.
fn backup_to_file(store: &Store, path: &Path) -> Result<stockade_journal::backup::Backup> {
    let bytes = store.backup()?;
    write_private(path, std::str::from_utf8(&bytes).context("backup is not UTF-8")?)?;
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read back {}", path.display()))?;
    stockade_journal::backup::decode(&text).with_context(|| format!("{} does not read back whole", path.display()))
}

/// A new dated backup in `folder`, checked; then only the newest `keep` of this store's are kept.
fn backup_into(store: &Store, folder: &Path, keep: usize) -> Result<(PathBuf, stockade_journal::backup::Backup)> {
    std::fs::create_dir_all(folder).with_context(|| format!("cannot create {}", folder.display()))?;
    let prefix = format!("store-{}-", store.info().store_id);
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ");
    let path = folder.join(format!("{prefix}{stamp}.backup"));
    let b = backup_to_file(store, &path)?;
    let mut mine: Vec<PathBuf> = std::fs::read_dir(folder)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(&prefix) && n.ends_with(".backup")))
        .collect();
    mine.sort();
    let excess = mine.len().saturating_sub(keep.max(1));
    for old in mine.into_iter().take(excess) {
        std::fs::remove_file(&old).with_context(|| format!("cannot remove the old backup {}", old.display()))?;
    }
    Ok((path, b))
}

async fn serve(store: Store, listen: &str, pacing: stockade_sync::Pacing, backups: Option<(PathBuf, std::time::Duration, usize)>) -> Result<()> {
    spawn_backups(store.clone(), backups);
    // A store that found itself behind its witness gets the missing entries back from HQ
    // before it sells, when HQ answers; otherwise it sells on a stale branch and reconciles at
    // the first contact.
    if store.health().stale() {
        match tokio::time::timeout(std::time::Duration::from_secs(20), stockade_sync::sync_once(&store)).await {
            Ok(Ok(_)) if !store.health().stale() => tracing::warn!("the store was behind its witness: reconciled with HQ before selling"),
            Ok(Ok(_)) => tracing::error!("the store is behind its witness and could not reconcile yet: selling on a stale branch"),
            Ok(Err(e)) => tracing::error!(error = %e, "the store is behind its witness and HQ is out of reach: selling on a stale branch"),
            Err(_) => tracing::error!("the store is behind its witness and HQ did not answer in time: selling on a stale branch"),
        }
    }
    let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("cannot listen on {listen}"))?;
    say!("store node '{}' listening on http://{}", store.info().name, listener.local_addr()?);
    serve_on(store, listener, pacing).await
}

/// Serves the API and, beside it, replicates to HQ (idle until the store is enrolled).
async fn serve_on(store: Store, listener: tokio::net::TcpListener, pacing: stockade_sync::Pacing) -> Result<()> {
    use std::io::Write;
    std::io::stdout().flush()?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut rx = stop_rx.clone();
    let replicator = tokio::spawn(stockade_sync::replicate(store.clone(), pacing, async move {
        let _ = rx.wait_for(|s| *s).await;
    }));
    let shutdown = async move {
        let _ = tokio::signal::ctrl_c().await;
        let _ = stop_tx.send(true);
    };
    stockade_web::serve(store, listener, shutdown).await.context("server stopped")?;
    let _ = replicator.await;
    Ok(())
}

async fn restore_from_hq(
    data: &Path,
    hq_url: &str,
    key: ed25519_dalek::SigningKey,
    hq_key: ed25519_dalek::VerifyingKey,
    manager: &str,
    password: &str,
) -> Result<stockade_store::sync::RestoreReport> {
    // A throw-away store only to sign the requests with the store's key: HQ lets a store read
    // back nothing but its own journal.
    let page = stockade_sync::fetch_journal_with_key(hq_url, &key).await?;
    let entries: Vec<(u64, Vec<u8>)> = page.entries.into_iter().map(|e| (e.seq, e.entry.into_bytes())).collect();
    let report =
        stockade_store::sync::restore(data, &key, Some((&[hq_key], stockade_store::sync::CoSignatures::Keep)), &entries, &page.checkpoints, manager, password)?;
    let store = open(data)?;
    let first = &report.store_id;
    store
        .set_sync_config(stockade_store::sync::SyncConfig {
            hq_url: hq_url.trim_end_matches('/').to_string(),
            hq_public_key: hex::encode(hq_key.to_bytes()),
            hq_id: String::new(),
            retailer_id: String::new(),
            acked_size: report.entries,
            last_ok_ms: None,
            last_attempt_ms: None,
            last_error: None,
        })
        .await
        .with_context(|| format!("store {first} restored, but its link to HQ could not be saved: run `stockade store enroll`"))?;
    Ok(report)
}

const DEMO_CATALOG: &str = include_str!("../demo/catalog.csv");

fn demo(data: &Path, listen: &str) -> Result<i32> {
    let login_file = data.join("demo-login.txt");
    if !data.join(stockade_store::node::DB_FILE).exists() {
        let password = random_password();
        Store::init(
            data,
            &InitOptions {
                name: "Demo Cannabis Co. — Queen St".into(),
                jurisdiction: "CA-ON".into(),
                manager_username: "manager".into(),
                manager_password: password.clone(),
            },
            Arc::new(SystemClock),
        )?;
        let store = open(data)?;
        let rt = runtime()?;
        rt.block_on(async {
            let actor = store.first_manager()?;
            let r = store.import_products(&actor, DEMO_CATALOG.as_bytes().to_vec(), false).await?;
            if !r.rejected.is_empty() {
                bail!("the bundled demo catalog has bad rows: {:?}", r.rejected);
            }
            store.receive_all(&actor, 200).await?;
            store.simulate(&actor, 25, 7, |_| {}).await?;
            store.open_till(&actor, stockade_store::commands::OpenTillRequest { register: "R1".into(), float_minor: 20_000 }).await?;
            anyhow::Ok(())
        })?;
        drop(rt);
        drop(store);
        write_private(&login_file, &format!("manager {password}\n"))?;
        say!("demo store created in {} with {} products, stock and 25 sales", data.display(), DEMO_CATALOG.lines().count() - 1);
    }
    let login = std::fs::read_to_string(&login_file)
        .with_context(|| format!("cannot read {}: the demo store was not finished; delete {} and run the demo again", login_file.display(), data.display()))?;
    let mut parts = login.split_whitespace();
    let (user, pass) = (parts.next().unwrap_or("manager").to_string(), parts.next().unwrap_or("?").to_string());
    let store = open(data)?;
    runtime()?.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("cannot listen on {listen}"))?;
        let addr = listener.local_addr()?;
        say!("store node '{}' listening on http://{addr}", store.info().name);
        say!("login: {user} / {pass}");
        say!("try:   curl -s -X POST http://{addr}/api/login -H 'content-type: application/json' -d '{{\"username\":\"{user}\",\"password\":\"{pass}\"}}'");
        say!("register: http://{addr}/  (sign in with the login above)");
        say!("API:   http://{addr}/api/openapi.json");
        serve_on(store, listener, stockade_sync::Pacing::default()).await
    })?;
    Ok(0)
}

/// Writes `text` to `path` (mode 0600) so that a crash at any moment leaves either the previous
/// file or the new one, whole: written beside it as `NAME.partial`, synced, renamed over it, and
/// the folder synced. A backup being rewritten never destroys the last good one.
pub(crate) fn write_private(path: &Path, text: &str) -> Result<()> {
    use std::io::Write;
    let name = path.file_name().with_context(|| format!("{} is not a file name", path.display()))?;
    let partial = path.with_file_name(format!("{}.partial", name.to_string_lossy()));
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(&partial).with_context(|| format!("cannot write {}", partial.display()))?;
    f.write_all(text.as_bytes()).and_then(|_| f.sync_all()).with_context(|| format!("cannot write {}", partial.display()))?;
    drop(f);
    std::fs::rename(&partial, path).with_context(|| format!("cannot move {} into place", partial.display()))?;
    let folder = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    // The rename itself is durable once the folder is synced (best effort where unsupported).
    if let Ok(d) = std::fs::File::open(folder) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Now, from the clock the binary uses (tests may set `STOCKADE_CLOCK_FILE`).
fn now_ms() -> i64 {
    stockade_store::clock::from_env().now_ms()
}
