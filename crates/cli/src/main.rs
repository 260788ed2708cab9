//! `stockade`: the one binary. A thin edge: parse arguments, call the crates, print the error
//! chain once and set the exit code.

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use rand::RngCore;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use stockade_store::clock::SystemClock;
use stockade_store::commands::ReceiveLineRequest;
use stockade_store::queries::{search_products, ProductQuery};
use stockade_store::verify::verify_store;
use stockade_store::{InitOptions, Store};

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
    /// Create (or reuse) a demo store under ./stockade-data, stock it, and serve it on loopback.
    Demo {
        #[arg(long, default_value = "stockade-data")]
        data: PathBuf,
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: String,
    },
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
    },
    /// Serve the store node's API.
    Serve {
        #[arg(long)]
        data: PathBuf,
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: String,
    },
    /// Check every hash, link, signature and projection. Exit 0 when intact, 1 when not.
    Verify {
        #[arg(long)]
        data: PathBuf,
    },
    /// Journal head, checkpoints, replication state.
    Status {
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

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the async runtime")
}

fn random_password() -> String {
    let mut b = [0u8; 12];
    rand::rngs::OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

fn open(data: &Path) -> Result<Store> {
    Store::open(data, Arc::new(SystemClock), None).with_context(|| format!("cannot open the store in {}", data.display()))
}

fn run(cli: Cli) -> Result<i32> {
    match cli.cmd {
        Cmd::Store(cmd) => run_store(cmd),
        Cmd::Demo { data, listen } => demo(&data, &listen),
    }
}

fn run_store(cmd: StoreCmd) -> Result<i32> {
    match cmd {
        StoreCmd::Init { data, jurisdiction, name, manager, password } => {
            let generated = password.is_none();
            let password = password.unwrap_or_else(random_password);
            let id = Store::init(&data, &InitOptions { name, jurisdiction, manager_username: manager.clone(), manager_password: password.clone() }, Arc::new(SystemClock))?;
            println!("store {id} created in {}", data.display());
            if generated {
                println!("manager login: {manager} / {password}  (shown once; change it)");
            }
            Ok(0)
        }
        StoreCmd::Serve { data, listen } => {
            let store = open(&data)?;
            runtime()?.block_on(serve(store, &listen))?;
            Ok(0)
        }
        StoreCmd::Verify { data } => match verify_store(&data) {
            Ok(r) => {
                println!("intact: {} entries, {} checkpoints verified, {} projection rows match, head {}", r.entries, r.checkpoints, r.projection_rows, r.head_hash);
                Ok(0)
            }
            Err(Ok(finding)) => {
                match finding.seq() {
                    Some(seq) => println!("NOT INTACT: first bad entry is {seq}: {finding}"),
                    None => println!("NOT INTACT: {finding}"),
                }
                Ok(1)
            }
            Err(Err(e)) => Err(e).context("verification could not run"),
        },
        StoreCmd::Status { data } => {
            let store = open(&data)?;
            let s = store.read(|c| stockade_store::queries::status(c, &store))?;
            println!("{}", serde_json::to_string_pretty(&s)?);
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
            println!("{} rows: {} imported, {} rejected", r.rows, r.imported, r.rejected.len());
            if !r.rejected.is_empty() && !skip_invalid {
                println!("nothing was imported: fix the rows above, or pass --skip-invalid to import the good rows");
                return Ok(1);
            }
            Ok(0)
        }
        StoreCmd::Simulate { data, sales, seed } => {
            let store = open(&data)?;
            let actor = store.first_manager()?;
            let bar = indicatif::ProgressBar::new(sales);
            bar.set_style(indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} sales {per_sec} eta {eta}").unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()));
            let r = runtime()?.block_on(store.simulate(&actor, sales, seed, |n| bar.set_position(n)))?;
            bar.finish_and_clear();
            println!("{} sales recorded ({} carts refused by limits and redrawn), revenue {} minor units", r.sales, r.refused_by_limits, r.revenue_minor);
            Ok(0)
        }
        StoreCmd::ReceiveAll { data, quantity } => {
            let store = open(&data)?;
            let n = runtime()?.block_on(receive_all(&store, quantity))?;
            println!("received {quantity} units of each of {n} products");
            Ok(0)
        }
    }
}

async fn receive_all(store: &Store, quantity: i64) -> Result<usize> {
    let actor = store.first_manager()?;
    let mut offset = 0;
    let mut total = 0;
    loop {
        let page = store.read_async(move |c| search_products(c, &ProductQuery { q: None, limit: Some(100), offset: Some(offset), sellable: None })).await?;
        if page.is_empty() {
            break;
        }
        offset += page.len() as u32;
        let lines: Vec<ReceiveLineRequest> = page
            .iter()
            .filter(|p| p.spec.price_minor.is_some())
            .map(|p| ReceiveLineRequest { product_id: p.product_id.clone(), quantity, lot_code: "DEMO-1".into(), package_tag: None, unit_cost_minor: p.spec.price_minor.unwrap_or(0) / 2, lab_thc_mg: None })
            .collect();
        if lines.is_empty() {
            continue;
        }
        total += lines.len();
        store.receive(&actor, stockade_store::commands::ReceiveRequest { supplier: "Demo Wholesale".into(), document: format!("DEMO-{offset}"), lines }).await?;
    }
    Ok(total)
}

async fn serve(store: Store, listen: &str) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("cannot listen on {listen}"))?;
    let addr = listener.local_addr()?;
    println!("store node '{}' listening on http://{addr}", store.info().name);
    use std::io::Write;
    std::io::stdout().flush()?;
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    stockade_web::serve(store, listener, shutdown).await.context("server stopped")?;
    Ok(())
}

const DEMO_CATALOG: &str = include_str!("../demo/catalog.csv");

fn demo(data: &Path, listen: &str) -> Result<i32> {
    let login_file = data.join("demo-login.txt");
    if !data.join(stockade_store::node::DB_FILE).exists() {
        let password = random_password();
        Store::init(
            data,
            &InitOptions { name: "Demo Cannabis Co. — Queen St".into(), jurisdiction: "CA-ON".into(), manager_username: "manager".into(), manager_password: password.clone() },
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
            receive_all(&store, 200).await?;
            store.simulate(&actor, 25, 7, |_| {}).await?;
            anyhow::Ok(())
        })?;
        drop(rt);
        drop(store);
        write_private(&login_file, &format!("manager {password}\n"))?;
        println!("demo store created in {} with {} products, stock and 25 sales", data.display(), DEMO_CATALOG.lines().count() - 1);
    }
    let login = std::fs::read_to_string(&login_file).with_context(|| format!("cannot read {}", login_file.display()))?;
    let mut parts = login.split_whitespace();
    let (user, pass) = (parts.next().unwrap_or("manager"), parts.next().unwrap_or("?"));
    println!("login: {user} / {pass}");
    println!("try:   curl -s -X POST http://{listen}/api/login -H 'content-type: application/json' -d '{{\"username\":\"{user}\",\"password\":\"{pass}\"}}'");
    println!("API:   http://{listen}/api/openapi.json");
    let store = open(data)?;
    runtime()?.block_on(serve(store, listen))?;
    Ok(0)
}

fn write_private(path: &Path, text: &str) -> Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).with_context(|| format!("cannot write {}", path.display()))?;
    f.write_all(text.as_bytes())?;
    Ok(())
}
