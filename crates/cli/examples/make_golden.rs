//! Golden fixtures made by this release: a store folder whose journal holds every kind of store
//! event, its self-verifying backup, an HQ on SQLite holding that store's journal (pushed and
//! co-signed) and every kind of HQ event, and the same scenario's HQ on PostgreSQL as a
//! `pg_dump`. Later releases load these bytes to prove they still read old journals and migrate
//! old databases. Generate once per release; never regenerate a released folder.
//!
//! ```sh
//! STOCKADE_TEST_POSTGRES=postgres://postgres@127.0.0.1:5432/postgres \
//!     cargo run -p stockade --example make_golden -- crates/cli/tests/golden/r1
//! ```
//!
//! Everything goes through the release's public library calls (the same code paths as the
//! CLI and the HTTP API), in process, on a manual clock starting at 2026-11-22 10:00 in Toronto.

use anyhow::{bail, ensure, Context, Result};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[path = "../tests/common/pg.rs"]
mod pg;
use pg::with_dbname;
use stockade_domain::inventory::AdjustReason;
use stockade_domain::orders::{OrderAction, OrderKind};
use stockade_hq::access::HqRole;
use stockade_hq::db::Db;
use stockade_hq::export::Format;
use stockade_hq::replenish::RunParams;
use stockade_hq::{Hq, HqError};
use stockade_journal::event::Role;
use stockade_journal::Event;
use stockade_store::clock::ManualClock;
use stockade_store::commands::{
    AdjustRequest, CloseTillRequest, CountLineRequest, CountRequest, CustomerEvidence, OpenTillRequest, ReceiveLineRequest, ReceiveRequest, ReturnLineRequest,
    ReturnRequest, SaleLineRequest, SaleRequest, TenderRequest, VoidRequest,
};
use stockade_store::customers::CustomerInput;
use stockade_store::orders::{CompleteOrderRequest, OnlineCustomer, OrderRequest};
use stockade_store::sync::SyncConfig;
use stockade_store::{InitOptions, Store};
use stockade_sync::{verify_publication, Addressee, Publication};

/// 2026-11-22 10:00 America/Toronto (15:00 UTC).
const START_MS: i64 = 1_795_359_600_000;
const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;
/// Days of counter sales after the first day (history for the forecast run).
const SELLING_DAYS: i64 = 14;
const SALES_PER_DAY: u64 = 12;

const MANAGER_USER: &str = "manager";
const MANAGER_PASSWORD: &str = "golden-r1 manager password";
const BUDTENDER_USER: &str = "bea.budtender";
const BUDTENDER_NAME: &str = "Bea Budtender";
const BUDTENDER_PASSWORD: &str = "golden-r1 budtender password";
const BUDTENDER_PIN: &str = "4826";
const DISABLED_USER: &str = "temp.clerk";
const RETAILER: &str = "acme";
const OTHER_RETAILER: &str = "beta";
const IDEMPOTENCY_KEY: &str = "golden-r1-register-R1-0001";
const CUSTOMER_ID_NUMBER: &str = "ON-D1234-56789-01234";
const REPORT_DATE: &str = "2026-11-22";
const HQ_URL: &str = "http://127.0.0.1:8090";

/// Local time on day `day` of the scenario (day 0 is 2026-11-22; Toronto is UTC−5 all along).
fn at(day: i64, hour: i64, minute: i64) -> i64 {
    START_MS - 10 * HOUR + day * DAY + hour * HOUR + minute * MINUTE
}

struct Fx {
    store: Store,
    rt: tokio::runtime::Runtime,
}

impl Fx {
    fn run<T>(&self, f: impl std::future::Future<Output = Result<T, stockade_store::StoreError>>) -> Result<T> {
        Ok(self.rt.block_on(f)?)
    }
    fn product_id(&self, sku: &str) -> Result<String> {
        let sku = sku.to_string();
        Ok(self.store.read(move |c| Ok(c.query_row("SELECT product_id FROM products WHERE sku = ?1", [&sku], |r| r.get::<_, String>(0))?))?)
    }
    fn product(&self, sku: &str) -> Result<stockade_store::queries::Product> {
        let id = self.product_id(sku)?;
        Ok(self.store.read(move |c| stockade_store::queries::load_product(c, &id))?)
    }
    /// A counter sale's total, as the sale will compute it.
    fn total(&self, lines: &[(&str, i64)]) -> Result<i64> {
        let cart = lines.iter().map(|(sku, q)| Ok((self.product(sku)?, *q))).collect::<Result<Vec<_>>>()?;
        Ok(self.store.quote(&cart)?)
    }
    fn sale(&self, till: &str, lines: &[(&str, i64)], cash: bool, id_number: Option<&str>) -> Result<SaleRequest> {
        let total = self.total(lines)?;
        let tender = if cash {
            TenderRequest { kind: "cash".into(), amount_minor: (total + 499) / 500 * 500 }
        } else {
            TenderRequest { kind: "debit".into(), amount_minor: total }
        };
        Ok(SaleRequest {
            till_id: till.into(),
            lines: lines.iter().map(|(sku, q)| Ok(SaleLineRequest { product_id: self.product_id(sku)?, quantity: *q })).collect::<Result<Vec<_>>>()?,
            customer: CustomerEvidence { age_confirmed: true, birth_date: None, id_number: id_number.map(str::to_string) },
            tenders: vec![tender],
        })
    }
    fn head(&self) -> Result<(u64, String)> {
        Ok(self.store.read(|c| {
            Ok(c.query_row("SELECT size, hash FROM head WHERE id = 1", [], |r| Ok((r.get::<_, i64>(0)? as u64, hex::encode(r.get::<_, Vec<u8>>(1)?))))?)
        })?)
    }
    fn kinds(&self) -> Result<BTreeMap<String, Vec<u64>>> {
        let rows: Vec<(i64, String)> = self.store.read(|c| {
            Ok(c.prepare("SELECT seq, kind FROM journal ORDER BY seq")?.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<Result<Vec<_>, _>>()?)
        })?;
        let mut out: BTreeMap<String, Vec<u64>> = BTreeMap::new();
        for (seq, kind) in rows {
            out.entry(kind).or_default().push(seq as u64);
        }
        Ok(out)
    }
    fn expected_cash(&self, till_id: &str) -> Result<i64> {
        let tills = self.store.read(|c| stockade_store::queries::list_tills(c, false))?;
        let t = tills.into_iter().find(|t| t.till_id == till_id).context("till not found")?;
        Ok(stockade_domain::inventory::expected_cash(t.float_minor, t.cash_sales_minor, t.cash_refunds_minor))
    }
}

/// Pushes everything not yet acknowledged, as the replicator does, and keeps HQ's co-signatures.
fn push_all(hq: &Hq, fx: &Fx) -> Result<u64> {
    let mut acked = fx.store.sync_config()?.map(|c| c.acked_size).unwrap_or(0);
    let mut pushes = 0;
    while let Some(b) = fx.store.batch_after(acked, stockade_sync::BATCH_ENTRIES)? {
        let ack = hq.push(&fx.store.info().store_id, &b.entries, &b.checkpoint, &b.signature, b.head_size)?;
        let sig = hex::decode(&ack.hq_signature)?;
        ensure!(b.checkpoint.verify(&hq.public_key(), &sig), "HQ's co-signature does not verify");
        fx.run(fx.store.record_ack(b.checkpoint.clone(), b.signature, sig, hq.now_ms()))?;
        acked = b.checkpoint.size;
        pushes += 1;
    }
    Ok(pushes)
}

fn publication((hq_seq, seq, bytes, signature): (u64, u64, Vec<u8>, String)) -> Result<Publication> {
    Ok(Publication { hq_seq, seq, entry: String::from_utf8(bytes)?, signature })
}

/// What the store's sync does at every contact, in process: pull and verify catalog updates
/// and purchase orders, apply them through the store's own journal.
fn pull_from_hq(hq: &Hq, fx: &Fx) -> Result<(u64, u64)> {
    let pk = hex::encode(fx.store.public_key().to_bytes());
    let hq_key = hq.public_key();
    let store_id = fx.store.info().store_id.clone();
    let (mut catalogs, mut orders) = (0, 0);
    loop {
        let last = fx.store.read(|c| Ok(c.query_row("SELECT COALESCE(MAX(retailer_seq), 0) FROM hq_catalog", [], |r| r.get::<_, i64>(0))? as u64))?;
        let Some(p) = hq.catalog_for(&pk, last)?.into_iter().next() else { break };
        let p = publication(p)?;
        let (hq_id, env) = verify_publication(&hq_key, Addressee::Retailer(RETAILER), last, &p).map_err(anyhow::Error::msg)?;
        let stockade_journal::hq_event::HqEvent::CatalogPublished { retailer_seq, products, .. } = env.event else { bail!("not a catalog publication") };
        fx.run(fx.store.apply_hq_catalog(hq_id, p.hq_seq, retailer_seq, products.into_iter().map(Into::into).collect()))?;
        catalogs += 1;
    }
    loop {
        let last = fx.store.read(|c| Ok(c.query_row("SELECT COALESCE(MAX(store_seq), 0) FROM purchase_orders", [], |r| r.get::<_, i64>(0))? as u64))?;
        let Some(p) = hq.orders_for(&pk, last)?.into_iter().next() else { break };
        let p = publication(p)?;
        let to = Addressee::Store { retailer: RETAILER, store: &store_id };
        let (hq_id, env) = verify_publication(&hq_key, to, last, &p).map_err(anyhow::Error::msg)?;
        let stockade_journal::hq_event::HqEvent::PurchaseOrderIssued { store_seq, po_id, lines, .. } = env.event else { bail!("not a purchase order") };
        ensure!(fx.run(fx.store.apply_hq_order(hq_id, p.hq_seq, store_seq, po_id, lines))?, "purchase order recorded twice");
        orders += 1;
    }
    Ok((catalogs, orders))
}

fn count(hq: &Hq, sql: &str) -> Result<i64> {
    Ok(hq.db().tx(|tx| Ok::<_, HqError>(tx.one(sql, &[])?.and_then(|r| r[0].i()).unwrap_or(0)))?)
}

fn hq_kinds(hq: &Hq) -> Result<BTreeMap<String, Vec<u64>>> {
    let rows = hq.db().tx(|tx| tx.query("SELECT seq, kind FROM hq_journal ORDER BY seq", &[]).map_err(HqError::from))?;
    let mut out: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for r in rows {
        out.entry(r[1].show()).or_default().push(r[0].i().unwrap_or(0) as u64);
    }
    Ok(out)
}

/// Every kind this release writes: a fixture folder must hold one entry of each.
const STORE_KINDS: &[&str] = stockade_journal::Event::KINDS;
const HQ_KINDS: &[&str] = stockade_journal::hq_event::HqEvent::KINDS;

/// Everything made by one run of the scenario, still open.
struct Made {
    fx: Fx,
    hq: Hq,
    store: Value,
    hq_info: Value,
}

fn online_customer(name: &str, postal: Option<&str>) -> OnlineCustomer {
    OnlineCustomer {
        name: name.into(),
        birth_date: "1987-03-14".parse().expect("a fixed, valid date"),
        age_confirmed: true,
        id_number: None,
        phone: Some("+1 416 555 0199".into()),
        email: Some("jane.sample@example.org".into()),
        postal_code: postal.map(str::to_string),
    }
}

/// The scenario: one Ontario store of retailer `acme` and its HQ, over 16 days.
fn scenario(store_dir: &Path, hq_dir: &Path, db: Db, store_name: &str) -> Result<Made> {
    let clock = Arc::new(ManualClock::new(START_MS));
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;

    // ---- Day 0, 09:00: head office is set up.
    clock.set(at(0, 9, 0));
    let hq_clock = clock.clone();
    let hq = Hq::init(
        hq_dir,
        db,
        "Golden Wholesale HQ",
        Arc::new(move || {
            use stockade_store::clock::Clock;
            hq_clock.now_ms()
        }),
    )?;
    let (admin, admin_token) = hq.bootstrap_admin()?;
    hq.add_retailer(RETAILER, "Acme Cannabis")?;
    hq.add_retailer(OTHER_RETAILER, "Beta Retail")?;

    // ---- 09:30: the store is created, stocked and staffed.
    clock.set(at(0, 9, 30));
    let store_id = Store::init(
        store_dir,
        &InitOptions {
            name: store_name.into(),
            jurisdiction: "CA-ON".into(),
            manager_username: MANAGER_USER.into(),
            manager_password: MANAGER_PASSWORD.into(),
        },
        clock.clone(),
    )?;
    let store = Store::open(store_dir, clock.clone(), None)?;
    let fx = Fx { store, rt };
    let (_, boss) = fx.run(fx.store.login(MANAGER_USER, MANAGER_PASSWORD))?;
    let csv = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/demo/catalog.csv"))?;
    let imported = fx.run(fx.store.import_products(&boss, csv, false))?;
    ensure!(imported.rejected.is_empty() && imported.imported == 24, "demo catalog rows refused");
    let bud = fx.run(fx.store.add_staff(&boss, BUDTENDER_USER.into(), BUDTENDER_NAME.into(), Role::Budtender, BUDTENDER_PASSWORD.into()))?;
    fx.run(fx.store.set_pin(&bud, BUDTENDER_PASSWORD, BUDTENDER_PIN))?;
    let (_, by_pin) = fx.run(fx.store.pin_login(BUDTENDER_USER, BUDTENDER_PIN))?;
    ensure!(by_pin.user_id == bud.user_id, "PIN sign-in names another person");
    let temp = fx.run(fx.store.add_staff(&boss, DISABLED_USER.into(), "Temporary Clerk".into(), Role::Budtender, "temporary clerk password".into()))?;
    // No command disables an account in this release: the event goes through the public writer.
    let (by, uid) = (boss.user_id.clone(), temp.user_id.clone());
    fx.run(fx.store.write(move |tx| tx.append(&by, Event::StaffDisabled { user_id: uid })))?;
    ensure!(fx.run(fx.store.login(DISABLED_USER, "temporary clerk password")).is_err(), "a disabled account signed in");

    clock.set(at(0, 9, 40));
    fx.run(fx.store.receive_all(&boss, 40))?;
    let new_spec = stockade_domain::catalog::ProductSpec {
        sku: "PRE-901".into(),
        gtin: None,
        name: "Golden Pre-roll 2x0.5g".into(),
        brand: "Northern Leaf".into(),
        category: "Pre-Roll".into(),
        class: stockade_domain::catalog::ProductClass::Dried,
        net_weight_mg: Some(1000),
        net_volume_ml: None,
        thc_mg: Some(200),
        cbd_mg: None,
        price_minor: None,
        tax_class: stockade_domain::catalog::TaxClass::Cannabis,
    };
    let pre901 = fx.run(fx.store.create_product(&boss, new_spec.clone()))?;
    let renamed = stockade_domain::catalog::ProductSpec { name: "Golden Hour Pre-roll 2x0.5g".into(), ..new_spec };
    fx.run(fx.store.update_product(&boss, pre901.clone(), renamed))?;
    fx.run(fx.store.change_price(&boss, pre901.clone(), 1099))?;
    fx.run(fx.store.change_price(&boss, fx.product_id("FLW-001")?, 3799))?;
    let tagged = fx.run(fx.store.receive(
        &boss,
        ReceiveRequest {
            supplier: "Ontario Cannabis Store".into(),
            document: "OCS-INV-778812".into(),
            lines: vec![ReceiveLineRequest {
                product_id: pre901.clone(),
                quantity: 48,
                lot_code: "LOT-G1".into(),
                package_tag: Some("1A4060300000000000000901".into()),
                unit_cost_minor: 520,
                lab_thc_mg: Some(212),
            }],
        },
    ))?;

    // ---- 10:00: the register opens; counter sales.
    clock.set(at(0, 10, 0));
    let r1 = fx.run(fx.store.open_till(&bud, OpenTillRequest { register: "R1".into(), float_minor: 20_000 }))?.till_id;
    clock.set(at(0, 10, 5));
    let keyed_req = fx.sale(&r1, &[("FLW-001", 1), ("ACC-001", 1)], false, None)?;
    let keyed = fx.run(fx.store.sell(&bud, keyed_req.clone(), Some(IDEMPOTENCY_KEY.into())))?;
    let retried = fx.run(fx.store.sell(&bud, keyed_req, Some(IDEMPOTENCY_KEY.into())))?;
    ensure!(retried.sale_id == keyed.sale_id, "the retried sale was recorded twice");
    clock.set(at(0, 10, 12));
    let with_customer = fx.run(fx.store.sell(&bud, fx.sale(&r1, &[("PRE-001", 2), ("EDI-001", 1)], true, Some(CUSTOMER_ID_NUMBER))?, None))?;
    clock.set(at(0, 10, 16));
    let mut split = fx.sale(&r1, &[("OIL-002", 1)], true, None)?;
    let split_total = fx.total(&[("OIL-002", 1)])?;
    split.tenders = vec![
        TenderRequest { kind: "gift_card".into(), amount_minor: 2_500 },
        TenderRequest { kind: "cash".into(), amount_minor: (split_total - 2_500 + 499) / 500 * 500 },
    ];
    let split_sale = fx.run(fx.store.sell(&bud, split, None))?;
    clock.set(at(0, 10, 20));
    let to_void = fx.run(fx.store.sell(&bud, fx.sale(&r1, &[("BEV-001", 2)], true, None)?, None))?;
    clock.set(at(0, 10, 21));
    fx.run(fx.store.void_sale(&boss, to_void.sale_id.clone(), VoidRequest { reason: "rung up twice".into() }))?;
    clock.set(at(0, 10, 30));
    let to_return = fx.run(fx.store.sell(&bud, fx.sale(&r1, &[("CON-001", 1), ("ACC-003", 2)], true, None)?, None))?;
    clock.set(at(0, 10, 45));
    let ret = fx.run(fx.store.return_items(
        &boss,
        to_return.sale_id.clone(),
        ReturnRequest {
            till_id: r1.clone(),
            lines: vec![ReturnLineRequest { line: 0, quantity: 1, restock: true }, ReturnLineRequest { line: 1, quantity: 1, restock: false }],
            reason: "cartridge would not fire; one lighter broken".into(),
            refund_tender: None,
        },
    ))?;

    // ---- Stock: an adjustment and a count.
    clock.set(at(0, 10, 50));
    fx.run(fx.store.adjust(
        &boss,
        AdjustRequest { product_id: fx.product_id("EDI-002")?, delta: -1, reason: AdjustReason::Damage, note: "wrapper torn on the shelf".into() },
    ))?;
    fx.run(fx.store.adjust(
        &boss,
        AdjustRequest { product_id: fx.product_id("ACC-002")?, delta: 1, reason: AdjustReason::Found, note: "found behind the counter".into() },
    ))?;
    let (flw4, top1) = (fx.product("FLW-004")?, fx.product("TOP-001")?);
    fx.run(fx.store.count(
        &boss,
        CountRequest {
            lines: vec![
                CountLineRequest { product_id: flw4.product_id.clone(), counted: flw4.on_hand - 1 },
                CountLineRequest { product_id: top1.product_id.clone(), counted: top1.on_hand },
            ],
        },
    ))?;

    // ---- A sealed customer record.
    let customer_id = fx.run(fx.store.add_customer(
        &boss,
        CustomerInput {
            name: "Jane Q. Sample".into(),
            birth_date: "1987-03-14".parse().ok(),
            id_number: Some(CUSTOMER_ID_NUMBER.into()),
            phone: Some("+1 416 555 0199".into()),
            email: Some("jane.sample@example.org".into()),
            postal_code: Some("M5V 2T6".into()),
        },
    ))?;
    let opened = fx.run(fx.store.customer(&boss, &customer_id))?;
    ensure!(opened.name == "Jane Q. Sample", "the sealed record does not open");

    // ---- 11:00: online orders. A is picked up, B cancelled, C delivered, D expires, E refused.
    clock.set(at(0, 11, 0));
    let order = |kind: OrderKind, sku: &str, q: i64, postal: Option<&str>| -> Result<OrderRequest> {
        Ok(OrderRequest {
            kind,
            lines: vec![SaleLineRequest { product_id: fx.product_id(sku)?, quantity: q }],
            customer: online_customer("Jane Q. Sample", postal),
            window_start_ms: None,
        })
    };
    // Order C carries an ID number: its entry and its sale carry the keyed customer hash.
    let mut c_req = order(OrderKind::Delivery, "OIL-001", 1, Some("M5V 2T6"))?;
    c_req.customer.id_number = Some(CUSTOMER_ID_NUMBER.into());
    let a = fx.run(fx.store.place_order(order(OrderKind::Pickup, "FLW-002", 1, None)?))?;
    let b = fx.run(fx.store.place_order(order(OrderKind::Pickup, "EDI-003", 2, None)?))?;
    let c = fx.run(fx.store.place_order(c_req))?;
    let e = fx.run(fx.store.place_order(order(OrderKind::Pickup, "EDI-004", 1, None)?))?;
    clock.set(at(0, 11, 5));
    for action in [OrderAction::Accept, OrderAction::Pick, OrderAction::Ready] {
        fx.run(fx.store.order_action(&bud, a.order_id.clone(), action, String::new()))?;
    }
    for action in [OrderAction::Accept, OrderAction::Pick, OrderAction::Dispatch] {
        fx.run(fx.store.order_action(&bud, c.order_id.clone(), action, String::new()))?;
    }
    fx.run(fx.store.order_action(&bud, b.order_id.clone(), OrderAction::Cancel, "customer called to cancel".into()))?;
    for action in [OrderAction::Accept, OrderAction::Pick, OrderAction::Ready] {
        fx.run(fx.store.order_action(&bud, e.order_id.clone(), action, String::new()))?;
    }
    clock.set(at(0, 11, 40));
    let birth = "1987-03-14".parse().ok();
    let done_a = fx.run(fx.store.complete_order(
        &bud,
        a.order_id.clone(),
        CompleteOrderRequest {
            till_id: r1.clone(),
            age_confirmed: true,
            birth_date: birth,
            tenders: vec![TenderRequest { kind: "debit".into(), amount_minor: a.total_minor }],
        },
    ))?;
    clock.set(at(0, 12, 10));
    let done_c = fx.run(fx.store.complete_order(
        &bud,
        c.order_id.clone(),
        CompleteOrderRequest {
            till_id: r1.clone(),
            age_confirmed: true,
            birth_date: birth,
            tenders: vec![TenderRequest { kind: "credit".into(), amount_minor: c.total_minor }],
        },
    ))?;
    ensure!(done_a.status == "completed" && done_c.status == "completed", "orders not completed");
    clock.set(at(0, 12, 20));
    let refused = fx.run(fx.store.order_action(&boss, e.order_id.clone(), OrderAction::Refuse, "the person collecting had no valid ID".into()))?;
    ensure!(refused.status == "refused", "order E is {}", refused.status);
    clock.set(at(0, 12, 30));
    let d = fx.run(fx.store.place_order(order(OrderKind::Pickup, "BEV-002", 2, None)?))?;
    clock.set(at(0, 15, 30));
    ensure!(fx.run(fx.store.expire_orders())? == 1, "order D did not expire alone");
    let tracked = fx.store.track(&a.tracking_token)?.context("order A's token does not track")?;
    ensure!(tracked.status == "completed", "order A tracks as {}", tracked.status);

    // ---- A security alert (as the tracking guard raises one).
    clock.set(at(0, 16, 0));
    fx.run(fx.store.raise_alert("enumeration", "address 203.0.113.7 blocked after 10 unknown tracking tokens in 10 minutes".into()))?;

    // ---- 18:00: the register closes, 0.25 short.
    clock.set(at(0, 18, 0));
    let expected = fx.expected_cash(&r1)?;
    let closed = fx.run(fx.store.close_till(&boss, r1.clone(), CloseTillRequest { counted_minor: expected - 25 }))?;

    // ---- 18:30: enrolment at HQ, and HQ's first catalog update reaches the store.
    clock.set(at(0, 18, 30));
    let pk = hex::encode(fx.store.public_key().to_bytes());
    let code = hq.add_store(RETAILER, &pk, store_name)?;
    let enrolment = hq.enroll(&code, &store_id, &pk)?;
    fx.run(fx.store.set_sync_config(SyncConfig {
        hq_url: HQ_URL.into(),
        hq_public_key: enrolment.hq_public_key.clone(),
        hq_id: enrolment.hq_id.clone(),
        retailer_id: enrolment.retailer_id.clone(),
        acked_size: enrolment.hq_size,
        last_ok_ms: None,
        last_attempt_ms: None,
        last_error: None,
    }))?;
    push_all(&hq, &fx)?;
    let update = stockade_domain::catalog::parse_catalog_csv(
        b"sku,gtin,name,brand,category,class,net_weight_mg,net_volume_ml,thc_mg,cbd_mg,price\n\
          FLW-003,6280000000031,Gelato 28g,Sunrise Farms,Flower,dried,28000,,5600,,189.99\n\
          BEV-950,,Golden Tonic 355ml,Fizz,Beverage,beverage,,355,10,,6.49\n",
    )?;
    ensure!(update.errors.is_empty(), "catalog update rows refused");
    clock.set(at(0, 19, 0));
    hq.publish_catalog(RETAILER, update.products.into_iter().map(|(_, p)| p).collect())?;
    clock.set(at(0, 19, 5));
    ensure!(pull_from_hq(&hq, &fx)? == (1, 0), "the catalog update did not arrive");
    push_all(&hq, &fx)?;

    // ---- Days 1..14: counter sales, pushed at the end of each day.
    for day in 1..=SELLING_DAYS {
        clock.set(at(day, 13, 0));
        fx.run(fx.store.simulate(&bud, SALES_PER_DAY, 7_000 + day as u64, |_| {}))?;
        clock.set(at(day, 21, 0));
        push_all(&hq, &fx)?;
    }

    // ---- Day 15, 09:00: HQ's users, the retailer's agreement, forecasts and a purchase order.
    clock.set(at(SELLING_DAYS + 1, 9, 0));
    let (analyst, analyst_token) = hq.add_user(&admin, "Wanda Wholesale", HqRole::Analyst, None)?;
    let (owner, owner_token) = hq.add_user(&admin, "Ann Acme", HqRole::Owner, Some(RETAILER))?;
    let (beta_owner, beta_owner_token) = hq.add_user(&admin, "Ben Beta", HqRole::Owner, Some(OTHER_RETAILER))?;
    let (auditor, auditor_token) = hq.add_user(&admin, "Otto Audit", HqRole::Auditor, None)?;
    let (contractor, _) = hq.add_user(&admin, "Carl Contractor", HqRole::Analyst, None)?;
    hq.revoke_user(&admin, &contractor.user_id)?;
    hq.set_sharing(&admin, RETAILER, true)?;
    clock.set(at(SELLING_DAYS + 1, 9, 30));
    let run = hq.run_forecasts(&RunParams::default(), &|_| {})?;
    ensure!(run.proposals > 0, "the forecast run proposed nothing: {run:?}");
    let open = hq.proposals_for(&owner, Some(RETAILER), true)?;
    ensure!(!open.is_empty(), "no open proposals");
    clock.set(at(SELLING_DAYS + 1, 10, 0));
    let po = hq.approve(&owner, RETAILER, &store_id, &[])?;
    clock.set(at(SELLING_DAYS + 1, 10, 5));
    ensure!(pull_from_hq(&hq, &fx)? == (0, 1), "the purchase order did not arrive");

    // ---- Day 16, 11:00: the delivery is received against the order's number.
    clock.set(at(SELLING_DAYS + 2, 11, 0));
    let received_po = fx.run(
        fx.store.receive(
            &boss,
            ReceiveRequest {
                supplier: "Golden Wholesale".into(),
                document: po.po_id.clone(),
                lines: po
                    .lines
                    .iter()
                    .map(|l| ReceiveLineRequest {
                        product_id: l.product_id.clone(),
                        quantity: l.units,
                        lot_code: po.po_id.clone(),
                        package_tag: None,
                        unit_cost_minor: 500,
                        lab_thc_mg: None,
                    })
                    .collect(),
            },
        ),
    )?;
    // The simulation's register closes too.
    clock.set(at(SELLING_DAYS + 2, 12, 0));
    let sim = fx.store.read(|c| stockade_store::queries::list_tills(c, true))?.into_iter().find(|t| t.register == "SIM").context("no SIM till")?;
    let sim_expected = fx.expected_cash(&sim.till_id)?;
    fx.run(fx.store.close_till(&boss, sim.till_id.clone(), CloseTillRequest { counted_minor: sim_expected }))?;

    // ---- 14:00: everything reaches HQ, which co-signs it.
    clock.set(at(SELLING_DAYS + 2, 14, 0));
    push_all(&hq, &fx)?;

    // ---- 15:00: audited reads, an export with a fingerprint, a refused read.
    clock.set(at(SELLING_DAYS + 2, 15, 0));
    let daily = hq.report_daily_for(&analyst, REPORT_DATE, None)?;
    ensure!(!daily.is_empty(), "no daily rows for {REPORT_DATE}");
    hq.report_daily_for(&owner, REPORT_DATE, Some(RETAILER))?;
    hq.sales_by_day_for(&auditor, 30)?;
    hq.proposals_for(&analyst, None, false)?;
    hq.market_report(&analyst, "2026-11", "2026-12", &stockade_hq::sdc::Rules::default())?;
    let export = hq.export_daily(&analyst, REPORT_DATE, None, "Northern Market Research Inc.", Format::Csv)?;
    ensure!(!export.rows.is_empty(), "empty export");
    ensure!(matches!(hq.report_daily_for(&beta_owner, REPORT_DATE, Some(RETAILER)), Err(HqError::Forbidden(_))), "another retailer's owner read acme");
    clock.set(at(SELLING_DAYS + 2, 15, 30));
    let final_push = push_all(&hq, &fx)?;
    ensure!(final_push == 0, "the store changed after its last push");

    // ---- Checks: every kind is there, HQ holds the whole journal and verifies.
    let kinds = fx.kinds()?;
    for &k in STORE_KINDS {
        ensure!(kinds.contains_key(k), "the store's journal has no {k}");
    }
    ensure!(kinds.len() == STORE_KINDS.len(), "unexpected kinds: {:?}", kinds.keys().collect::<Vec<_>>());
    let h_kinds = hq_kinds(&hq)?;
    for &k in HQ_KINDS {
        ensure!(h_kinds.contains_key(k), "HQ's journal has no {k}");
    }
    let (size, head) = fx.head()?;
    let sync = fx.store.sync_config()?.context("not enrolled")?;
    ensure!(sync.acked_size == size, "HQ acknowledged {} of {size}", sync.acked_size);
    let report = stockade_hq::verify::verify(&hq).map_err(|e| anyhow::anyhow!("HQ does not verify: {e:?}"))?;
    ensure!(report.heads.iter().any(|(s, n, h)| *s == store_id && *n == size && *h == head), "HQ's head differs: {:?}", report.heads);
    let audit_records = hq.verify_audit()?;

    let seq_of_sale = |sale_id: &str| -> Result<u64> {
        let id = sale_id.to_string();
        Ok(fx.store.read(move |c| Ok(c.query_row("SELECT seq FROM sales WHERE sale_id = ?1", [&id], |r| r.get::<_, i64>(0))? as u64))?)
    };

    let hq_head = hq.db().tx(|tx| tx.one("SELECT size, hash FROM hq_head WHERE id = 1", &[]).map_err(HqError::from))?.context("no HQ head")?;
    let users = json!([
        {"name": admin.name, "user_id": admin.user_id, "role": "admin", "retailer_id": null, "token": admin_token, "active": true},
        {"name": analyst.name, "user_id": analyst.user_id, "role": "analyst", "retailer_id": null, "token": analyst_token, "active": true},
        {"name": owner.name, "user_id": owner.user_id, "role": "owner", "retailer_id": RETAILER, "token": owner_token, "active": true},
        {"name": beta_owner.name, "user_id": beta_owner.user_id, "role": "owner", "retailer_id": OTHER_RETAILER, "token": beta_owner_token, "active": true},
        {"name": auditor.name, "user_id": auditor.user_id, "role": "auditor", "retailer_id": null, "token": auditor_token, "active": true},
        {"name": contractor.name, "user_id": contractor.user_id, "role": "analyst", "retailer_id": null, "token": null, "active": false},
    ]);
    let store_info = json!({
        "store_id": store_id,
        "name": store_name,
        "jurisdiction": "CA-ON",
        "timezone": fx.store.info().timezone.name(),
        "public_key": pk,
        "journal_size": size,
        "head_hash": head,
        "acked_size": sync.acked_size,
        "co_signed_checkpoints": fx.store.read(|c| Ok(c.query_row("SELECT COUNT(*) FROM checkpoints WHERE hq_signature IS NOT NULL", [], |r| r.get::<_, i64>(0))?))?,
        "manager": {"username": MANAGER_USER, "password": MANAGER_PASSWORD, "user_id": boss.user_id},
        "budtender": {"username": BUDTENDER_USER, "password": BUDTENDER_PASSWORD, "pin": BUDTENDER_PIN, "user_id": bud.user_id, "display_name": BUDTENDER_NAME},
        "disabled_staff": {"username": DISABLED_USER, "user_id": temp.user_id},
        "customer_id": customer_id,
        "customer_id_number": CUSTOMER_ID_NUMBER,
        "sales": {
            "with_idempotency_key": {"sale_id": keyed.sale_id, "seq": seq_of_sale(&keyed.sale_id)?, "idempotency_key": IDEMPOTENCY_KEY},
            "with_customer_hash": {"sale_id": with_customer.sale_id, "seq": seq_of_sale(&with_customer.sale_id)?},
            "split_tender": {"sale_id": split_sale.sale_id, "seq": seq_of_sale(&split_sale.sale_id)?},
            "voided": {"sale_id": to_void.sale_id},
            "returned": {"sale_id": to_return.sale_id, "return_id": ret.return_id, "refund_minor": ret.refund_minor},
            "order_completed_pickup": {"sale_id": done_a.sale_id},
            "order_completed_delivery": {"sale_id": done_c.sale_id},
            "count": fx.store.read(|c| Ok(c.query_row("SELECT COUNT(*) FROM sales", [], |r| r.get::<_, i64>(0))?))?,
        },
        "orders": {
            "completed_pickup": {"order_id": a.order_id, "order_no": a.order_no, "tracking_token": a.tracking_token, "code": a.code, "status": "completed"},
            "cancelled": {"order_id": b.order_id, "order_no": b.order_no, "tracking_token": b.tracking_token, "code": b.code, "status": "cancelled"},
            "completed_delivery": {"order_id": c.order_id, "order_no": c.order_no, "tracking_token": c.tracking_token, "code": c.code, "status": "completed"},
            "refused": {"order_id": e.order_id, "order_no": e.order_no, "tracking_token": e.tracking_token, "code": e.code, "status": "refused"},
            "expired": {"order_id": d.order_id, "order_no": d.order_no, "tracking_token": d.tracking_token, "code": d.code, "status": "expired"},
        },
        "tracking_token": a.tracking_token,
        "tills": {"closed_r1": {"till_id": closed.till_id, "expected_minor": closed.expected_minor, "counted_minor": closed.counted_minor, "variance_minor": closed.variance_minor}, "closed_sim": sim.till_id},
        "products": {"created": pre901, "tagged_receipt_id": tagged.receipt_id, "package_tag": "1A4060300000000000000901"},
        "purchase_order": {"po_id": po.po_id, "lines": po.lines.len(), "received_receipt_id": received_po.receipt_id},
        "kinds": kinds,
    });
    let hq_info = json!({
        "hq_id": hq.hq_id(),
        "engine": hq.db().engine(),
        "public_key": hq.public_key_hex(),
        "journal_size": hq_head[0].i(),
        "head_hash": hex::encode(hq_head[1].b().unwrap_or(&[])),
        "retailers": [RETAILER, OTHER_RETAILER],
        "store_entries": count(&hq, "SELECT COUNT(*) FROM entries")?,
        "co_signed_checkpoints": count(&hq, "SELECT COUNT(*) FROM checkpoints")?,
        "audit_records": audit_records,
        "export_register": {"exports": count(&hq, "SELECT COUNT(*) FROM exports")?, "export_rows": count(&hq, "SELECT COUNT(*) FROM export_rows")?, "export_id": export.export_id, "recipient": export.recipient},
        "alerts": count(&hq, "SELECT COUNT(*) FROM alerts")?,
        "forecast_run": {"run_id": run.run_id, "as_of": run.as_of, "series": run.series, "proposals": run.proposals},
        "users": users,
        "admin_token": admin_token,
        "kinds": h_kinds,
    });
    Ok(Made { fx, hq, store: store_info, hq_info })
}

/// Closes the SQLite file's write-ahead log into the file itself: no -wal or -shm remains.
fn seal_sqlite(path: &Path) -> Result<()> {
    std::thread::sleep(std::time::Duration::from_millis(300));
    for attempt in 0.. {
        let c = rusqlite::Connection::open(path)?;
        let busy: i64 = c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))?;
        drop(c);
        if busy == 0 {
            break;
        }
        ensure!(attempt < 100, "{} stays busy", path.display());
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    for suffix in ["-wal", "-shm"] {
        let p = PathBuf::from(format!("{}{suffix}", path.display()));
        if let Ok(m) = std::fs::metadata(&p) {
            ensure!(suffix == "-shm" || m.len() == 0, "{} still holds {} bytes", p.display(), m.len());
            std::fs::remove_file(&p)?;
        }
    }
    Ok(())
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).with_context(|| format!("cannot create {}", path.display()))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    Ok(())
}

fn commit() -> String {
    std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into())
}

fn main() -> Result<()> {
    let out = PathBuf::from(std::env::args().nth(1).context("usage: make_golden OUTDIR (with STOCKADE_TEST_POSTGRES set)")?);
    let pg_url = std::env::var("STOCKADE_TEST_POSTGRES").context("set STOCKADE_TEST_POSTGRES: the fixtures include an HQ on PostgreSQL")?;
    if out.exists() && std::fs::read_dir(&out)?.next().is_some() {
        bail!("{} is not empty: golden fixtures are never regenerated over old ones", out.display());
    }
    std::fs::create_dir_all(&out)?;
    let commit = commit();

    // ---- SQLite: store/, store.backup, hq/, hq.backup.
    eprintln!("SQLite scenario…");
    let (store_dir, hq_dir) = (out.join("store"), out.join("hq"));
    std::fs::create_dir_all(&hq_dir)?;
    let made = scenario(&store_dir, &hq_dir, Db::open_sqlite(&hq_dir.join(stockade_hq::DB_FILE))?, "Queen St")?;
    let store_backup = made.fx.store.backup()?;
    let b = stockade_journal::backup::decode(std::str::from_utf8(&store_backup)?)?;
    ensure!(b.entries.len() as u64 == made.store["journal_size"].as_u64().unwrap_or(0), "the backup misses entries");
    ensure!(b.checkpoints.iter().any(|c| c.hq_signature.is_some()), "the backup has no co-signature");
    write_private(&out.join("store.backup"), &store_backup)?;
    let hq_backup = made.hq.backup_hq_journal()?;
    stockade_journal::backup::decode(std::str::from_utf8(&hq_backup)?)?;
    write_private(&out.join("hq.backup"), &hq_backup)?;
    let Made { fx, hq, store: sqlite_store, hq_info: sqlite_hq } = made;
    drop(hq);
    drop(fx);
    seal_sqlite(&store_dir.join(stockade_store::node::DB_FILE))?;
    seal_sqlite(&hq_dir.join(stockade_hq::DB_FILE))?;

    // ---- PostgreSQL: store-pg/, hq-pg/, hq-postgres.sql.
    eprintln!("PostgreSQL scenario…");
    let suffix: String = {
        use rand::RngCore;
        let mut b = [0u8; 6];
        rand::rngs::OsRng.fill_bytes(&mut b);
        hex::encode(b)
    };
    let dbname = format!("stockade_golden_r1_{suffix}");
    let mut admin = postgres::Client::connect(&pg_url, postgres::NoTls).context("cannot reach PostgreSQL")?;
    let pg_version: String = admin.query_one("SHOW server_version", &[])?.get(0);
    admin.batch_execute(&format!("CREATE DATABASE {dbname}"))?;
    let db_url = with_dbname(&pg_url, &dbname);
    let (store_pg, hq_pg) = (out.join("store-pg"), out.join("hq-pg"));
    let result = (|| -> Result<(Value, Value)> {
        let made = scenario(&store_pg, &hq_pg, Db::connect_postgres(&db_url)?, "King St")?;
        let Made { fx, hq, store, hq_info } = made;
        drop(hq);
        drop(fx);
        seal_sqlite(&store_pg.join(stockade_store::node::DB_FILE))?;
        let dump = out.join("hq-postgres.sql");
        let st = std::process::Command::new("pg_dump").args(["--no-owner", "--no-privileges", "--dbname", &db_url, "--file"]).arg(&dump).status()?;
        ensure!(st.success(), "pg_dump failed");
        Ok((store, hq_info))
    })();
    admin.batch_execute(&format!("DROP DATABASE IF EXISTS {dbname}"))?;
    let (pg_store, pg_hq) = result?;

    // ---- manifest.json and README.md.
    let manifest = json!({
        "format": "stockade-golden/1",
        "release": "r1",
        "commit": commit,
        "made_by": "STOCKADE_TEST_POSTGRES=postgres://postgres@127.0.0.1:5432/postgres cargo run -p stockade --example make_golden -- crates/cli/tests/golden/r1",
        "clock_start_ms": START_MS,
        "report_date": REPORT_DATE,
        "retailer_id": RETAILER,
        "store_kinds": STORE_KINDS,
        "hq_kinds": HQ_KINDS,
        // The SQLite pair's journals (the PostgreSQL pair has its own under postgres.*.kinds).
        "kinds": {"store": sqlite_store["kinds"].clone(), "hq": sqlite_hq["kinds"].clone()},
        "sqlite": {
            "store_dir": "store",
            "store_backup": "store.backup",
            "hq_dir": "hq",
            "hq_backup": "hq.backup",
            "store": sqlite_store,
            "hq": sqlite_hq,
        },
        "postgres": {
            "store_dir": "store-pg",
            "hq_dir": "hq-pg",
            "hq_dump": "hq-postgres.sql",
            "dumped_database": dbname,
            "server_version": pg_version,
            "store": pg_store,
            "hq": pg_hq,
        },
    });
    std::fs::write(out.join("manifest.json"), format!("{}\n", serde_json::to_string_pretty(&manifest)?))?;
    let readme = format!(
        "# Golden fixtures, release r1\n\n\
Made from release commit `{commit}` (that tree plus this generator,\n\
`crates/cli/examples/make_golden.rs`, nothing else changed) with\n\n\
```sh\nSTOCKADE_TEST_POSTGRES=postgres://postgres@127.0.0.1:5432/postgres \\\n    cargo run -p stockade --example make_golden -- crates/cli/tests/golden/r1\n```\n\n\
on a manual clock from 2026-11-22 10:00 America/Toronto; PostgreSQL {pg_version},\n\
`pg_dump --no-owner --no-privileges`.\n\n\
**These bytes must never be regenerated or edited.** They are what release r1 wrote; later\n\
releases prove with them that they still read r1's journals and backups and migrate r1's\n\
databases. A new release adds its own folder (r2, …) next to this one.\n\n\
- `store/` — a store data folder (`store.db`, `store.key`, `retailer.key`), Ontario (CA-ON),\n\
  whose journal holds every one of the 20 store event kinds, enrolled at `hq/`, every entry\n\
  acknowledged and co-signed. `store.db` is self-contained (write-ahead log checkpointed).\n\
- `store.backup` — `Store::backup()` of that store, taken last (co-signatures included).\n\
- `hq/` — HQ on SQLite (`hq.db`, `hq.key`) holding that store's journal and all 9 HQ event\n\
  kinds, users of every role, an audit log and an export register.\n\
- `hq.backup` — HQ's own journal backup (`stockade hq backup`).\n\
- `store-pg/`, `hq-pg/`, `hq-postgres.sql` — the same scenario with HQ on PostgreSQL: a second\n\
  store enrolled there, HQ's key folder, and `pg_dump` of its database (load it into an empty\n\
  database with `psql -v ON_ERROR_STOP=1 -f hq-postgres.sql`, then\n\
  `stockade hq verify --data hq-pg --database URL`). The dump uses `COPY … FROM stdin` and\n\
  pg_dump's `\\restrict`/`\\unrestrict` lines: load it with psql (15.14 or later), not as one\n\
  SQL batch.\n\
- `manifest.json` — ids, sizes, head hashes, logins, PIN, HQ tokens (test-only secrets), counts,\n\
  and the journal sequence numbers of every event kind: `sqlite.store`, `sqlite.hq`,\n\
  `postgres.store`, `postgres.hq`; `kinds` repeats the SQLite pair's.\n\n\
Copy before use: opening a store or HQ writes to its files.\n"
    );
    std::fs::write(out.join("README.md"), readme)?;
    eprintln!("golden fixtures written to {}", out.display());
    Ok(())
}
