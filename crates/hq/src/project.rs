//! How journal entries change HQ's derived tables. The only code that writes them: ingest calls
//! it as batches arrive, and `verify`/`rebuild` replay through it, so stored and replayed state
//! cannot drift apart unseen. Reads no clock.

use crate::db::{Tx, Val};
use crate::HqError;
use stockade_journal::hq_event::{HqEnvelope, HqEvent};
use stockade_journal::{Envelope, Event, Hash};

/// Applies one entry of HQ's own journal (the registry).
pub fn apply_hq(tx: &mut dyn Tx, env: &HqEnvelope) -> Result<(), HqError> {
    match &env.event {
        HqEvent::Unknown(u) => {
            return Err(HqError::Corrupt(format!(
                "HQ journal entry {} is of kind {}, written by a newer release of stockade: run that release",
                env.seq,
                stockade_journal::describe_kind(&u.kind)
            )))
        }
        // Trust and history of HQ itself: read from the journal where needed, no table.
        HqEvent::HqInitialized { .. } | HqEvent::HqRootKeySet { .. } | HqEvent::HqKeyRotated { .. } | HqEvent::HqRebuilt { .. } | HqEvent::EntryLost {} => {}
        HqEvent::RetailerAdded { retailer_id, name } => {
            tx.exec("INSERT INTO retailers (retailer_id, name) VALUES ($1, $2)", &[retailer_id.into(), name.into()])?;
        }
        HqEvent::StoreRegistered { retailer_id, public_key, name, code_hash } => {
            tx.exec(
                "INSERT INTO stores (retailer_id, public_key, name, code_hash, store_id) VALUES ($1, $2, $3, $4, '')",
                &[retailer_id.into(), public_key.into(), name.into(), code_hash.into()],
            )?;
        }
        HqEvent::StoreEnrolled { retailer_id, public_key, store_id } => {
            let n = tx.exec(
                "UPDATE stores SET store_id = $1 WHERE retailer_id = $2 AND public_key = $3",
                &[store_id.into(), retailer_id.into(), public_key.into()],
            )?;
            if n != 1 {
                return Err(HqError::Corrupt(format!("HQ journal entry {}: enrols an unregistered key", env.seq)));
            }
        }
        HqEvent::UserGranted { user_id, name, role, retailer_id } => {
            tx.exec(
                "INSERT INTO hq_users (user_id, name, role, retailer_id, active) VALUES ($1, $2, $3, $4, 1)",
                &[user_id.into(), name.into(), role.into(), retailer_id.as_deref().unwrap_or("").into()],
            )?;
        }
        HqEvent::UserRevoked { user_id } => {
            if tx.exec("UPDATE hq_users SET active = 0 WHERE user_id = $1", &[user_id.into()])? != 1 {
                return Err(HqError::Corrupt(format!("HQ journal entry {}: revokes an unknown user", env.seq)));
            }
        }
        HqEvent::SharingSet { retailer_id, store_level } => {
            tx.exec(
                "INSERT INTO sharing (retailer_id, store_level) VALUES ($1, $2)
                 ON CONFLICT (retailer_id) DO UPDATE SET store_level = excluded.store_level",
                &[retailer_id.into(), (*store_level as i64).into()],
            )?;
        }
        HqEvent::PurchaseOrderIssued { retailer_id, store_id, store_seq, po_id, approved_by, lines } => {
            tx.exec(
                "INSERT INTO purchase_orders (retailer_id, store_id, store_seq, po_id, hq_seq, approved_by, at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                &[retailer_id.into(), store_id.into(), (*store_seq).into(), po_id.into(), env.seq.into(), approved_by.into(), env.at_ms.into()],
            )?;
            for l in lines {
                tx.exec(
                    "INSERT INTO purchase_order_lines (retailer_id, store_id, po_id, product_id, sku, units) VALUES ($1, $2, $3, $4, $5, $6)",
                    &[retailer_id.into(), store_id.into(), po_id.into(), (&l.product_id).into(), (&l.sku).into(), l.units.into()],
                )?;
                // The proposal it came from (none when replaying into an empty database).
                tx.exec(
                    "UPDATE forecasts SET status = 'approved', po_id = $1 WHERE retailer_id = $2 AND store_id = $3 AND product_id = $4 AND status = 'open'",
                    &[po_id.into(), retailer_id.into(), store_id.into(), (&l.product_id).into()],
                )?;
            }
        }
        HqEvent::CatalogPublished { retailer_id, retailer_seq, products } => {
            tx.exec(
                "INSERT INTO publications (retailer_id, retailer_seq, hq_seq, products) VALUES ($1, $2, $3, $4)",
                &[retailer_id.into(), (*retailer_seq).into(), env.seq.into(), (products.len() as u64).into()],
            )?;
        }
    }
    Ok(())
}

/// What ingest knows about the store whose entries it applies.
#[derive(Clone)]
pub struct StoreCtx {
    pub retailer_id: String,
    pub store_id: String,
    pub tz: Option<chrono_tz::Tz>,
    /// Kinds this HQ treats as unknown although it could read them: how a test stands in for
    /// an older release during a rollout (empty in production).
    pub unknown_kinds: Vec<String>,
}

impl StoreCtx {
    pub fn load(tx: &mut dyn Tx, retailer_id: &str, store_id: &str) -> Result<StoreCtx, HqError> {
        let row = tx.one("SELECT timezone FROM store_heads WHERE retailer_id = $1 AND store_id = $2", &[retailer_id.into(), store_id.into()])?;
        let tz = match row.as_ref().and_then(|r| r[0].t().map(str::to_string)) {
            Some(t) => Some(t.parse().map_err(|_| HqError::Corrupt(format!("store {store_id}: unknown time zone '{t}'")))?),
            None => None,
        };
        Ok(StoreCtx { retailer_id: retailer_id.to_string(), store_id: store_id.to_string(), tz, unknown_kinds: vec![] })
    }
    fn unprojectable(&self, env: &Envelope, reason: String) -> HqError {
        HqError::Unprojectable { store_id: self.store_id.clone(), seq: env.seq, kind: env.event.kind().to_string(), reason }
    }
    fn key(&self) -> [Val; 2] {
        [Val::T(self.retailer_id.clone()), Val::T(self.store_id.clone())]
    }
    fn day(&self, seq: u64, at_ms: i64) -> Result<String, HqError> {
        let tz = self.tz.ok_or_else(|| HqError::Corrupt(format!("store {}: entry {seq} comes before the store was initialized", self.store_id)))?;
        Ok(stockade_domain::local_date(tz, at_ms))
    }
}

/// Records the store's new head after a batch (or a replay).
pub fn set_head(tx: &mut dyn Tx, ctx: &StoreCtx, size: u64, head: &Hash) -> Result<(), HqError> {
    let [r, s] = ctx.key();
    let n = tx.exec("UPDATE store_heads SET size = $1, head = $2 WHERE retailer_id = $3 AND store_id = $4", &[size.into(), Val::B(head.to_vec()), r, s])?;
    if n != 1 {
        return Err(HqError::Corrupt(format!("store {}: no store_heads row (its first entry was never applied)", ctx.store_id)));
    }
    Ok(())
}

fn product_weight(tx: &mut dyn Tx, ctx: &StoreCtx, product_id: &str) -> Result<i64, HqError> {
    let [r, s] = ctx.key();
    let row = tx.one("SELECT net_weight_mg FROM products WHERE retailer_id = $1 AND store_id = $2 AND product_id = $3", &[r, s, product_id.into()])?;
    Ok(row.and_then(|r| r[0].i()).unwrap_or(0))
}

/// How the reason of an entry left out for its kind begins (`hq reproject` looks for it).
pub const UNKNOWN_KIND: &str = "unknown event kind";

/// Largest magnitude of any figure HQ adds up (see `stockade_domain::bounds`): inputs and
/// stored totals within it can be summed without wrapping on either engine.
const MAX: i64 = stockade_domain::MAX_TOTAL;

/// `v` if it is within ±[`MAX`], else the entry is unprojectable.
fn bounded(ctx: &StoreCtx, env: &Envelope, what: &str, v: Option<i64>) -> Result<i64, HqError> {
    match v {
        Some(v) if v.checked_abs().is_some_and(|a| a <= MAX) => Ok(v),
        Some(v) => Err(ctx.unprojectable(env, format!("{what} {v} is out of range"))),
        None => Err(ctx.unprojectable(env, format!("{what} overflows"))),
    }
}

/// Sum of `vs`, bounded.
fn sum(ctx: &StoreCtx, env: &Envelope, what: &str, vs: impl IntoIterator<Item = i64>) -> Result<i64, HqError> {
    let mut total = 0i64;
    for v in vs {
        total = bounded(ctx, env, what, total.checked_add(bounded(ctx, env, what, Some(v))?))?;
    }
    Ok(total)
}

fn move_stock(tx: &mut dyn Tx, ctx: &StoreCtx, env: &Envelope, day: &str, product_id: &str, delta: i64) -> Result<(), HqError> {
    let delta = bounded(ctx, env, "a stock change of", Some(delta))?;
    if delta == 0 {
        return Ok(());
    }
    let [r, s] = ctx.key();
    // The WHERE keeps the total in range on both engines (SQLite would turn an overflowing
    // sum into a float, PostgreSQL would fail the transaction): no row means out of range.
    let row = tx.one(
        &format!(
            "INSERT INTO stock (retailer_id, store_id, product_id, on_hand) VALUES ($1, $2, $3, $4)
             ON CONFLICT (retailer_id, store_id, product_id) DO UPDATE SET on_hand = stock.on_hand + excluded.on_hand
             WHERE stock.on_hand + excluded.on_hand BETWEEN -{MAX} AND {MAX}
             RETURNING on_hand"
        ),
        &[r.clone(), s.clone(), product_id.into(), delta.into()],
    )?;
    let on_hand = row.and_then(|r| r[0].i()).ok_or_else(|| ctx.unprojectable(env, format!("stock of product '{product_id}' would leave the range ±{MAX}")))?;
    tx.exec(
        "INSERT INTO daily_stock (retailer_id, store_id, day, product_id, closing) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (retailer_id, store_id, day, product_id) DO UPDATE SET closing = excluded.closing",
        &[r, s, day.into(), product_id.into(), on_hand.into()],
    )?;
    Ok(())
}

/// Adds to one day × product row of daily sales: (sold, returned, weight, net, tax, refund).
fn add_sales(tx: &mut dyn Tx, ctx: &StoreCtx, env: &Envelope, day: &str, product_id: &str, d: [Option<i64>; 6]) -> Result<(), HqError> {
    let mut v = [0i64; 6];
    for (i, x) in d.into_iter().enumerate() {
        v[i] = bounded(ctx, env, "a daily sales figure", x)?;
    }
    let [r, s] = ctx.key();
    let n = tx.exec(
        &format!(
            "INSERT INTO daily_sales (retailer_id, store_id, day, product_id, units_sold, units_returned, weight_mg, net_minor, tax_minor, refund_minor)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
             ON CONFLICT (retailer_id, store_id, day, product_id) DO UPDATE SET
                units_sold = daily_sales.units_sold + excluded.units_sold,
                units_returned = daily_sales.units_returned + excluded.units_returned,
                weight_mg = daily_sales.weight_mg + excluded.weight_mg,
                net_minor = daily_sales.net_minor + excluded.net_minor,
                tax_minor = daily_sales.tax_minor + excluded.tax_minor,
                refund_minor = daily_sales.refund_minor + excluded.refund_minor
             WHERE daily_sales.units_sold + excluded.units_sold BETWEEN -{MAX} AND {MAX}
                AND daily_sales.units_returned + excluded.units_returned BETWEEN -{MAX} AND {MAX}
                AND daily_sales.weight_mg + excluded.weight_mg BETWEEN -{MAX} AND {MAX}
                AND daily_sales.net_minor + excluded.net_minor BETWEEN -{MAX} AND {MAX}
                AND daily_sales.tax_minor + excluded.tax_minor BETWEEN -{MAX} AND {MAX}
                AND daily_sales.refund_minor + excluded.refund_minor BETWEEN -{MAX} AND {MAX}"
        ),
        &[r, s, day.into(), product_id.into(), v[0].into(), v[1].into(), v[2].into(), v[3].into(), v[4].into(), v[5].into()],
    )?;
    if n != 1 {
        return Err(ctx.unprojectable(env, format!("daily sales of product '{product_id}' on {day} would leave the range ±{MAX}")));
    }
    Ok(())
}

/// Applies a run of one store's entries (already stored). An entry that cannot be projected
/// (a kind this release does not know, a figure out of range) is rolled back alone, recorded
/// in `unprojected` with an alert naming it, and the entries after it are applied: one bad
/// entry never stops a store's later ones. Returns the entries left out.
pub fn apply_store_entries(tx: &mut dyn Tx, ctx: &mut StoreCtx, envs: &[&Envelope]) -> Result<Vec<HqError>, HqError> {
    // The common case costs one savepoint per batch; only a batch holding a bad entry is
    // redone entry by entry.
    tx.exec("SAVEPOINT batch", &[])?;
    let saved = ctx.clone();
    let mut clean = true;
    for env in envs {
        match apply_store(tx, ctx, env) {
            Ok(()) => {}
            Err(HqError::Unprojectable { .. }) => {
                clean = false;
                break;
            }
            Err(e) => return Err(e),
        }
    }
    if clean {
        tx.exec("RELEASE SAVEPOINT batch", &[])?;
        return Ok(vec![]);
    }
    tx.exec("ROLLBACK TO SAVEPOINT batch", &[])?;
    tx.exec("RELEASE SAVEPOINT batch", &[])?;
    *ctx = saved;
    let mut left_out = Vec::new();
    for env in envs {
        tx.exec("SAVEPOINT entry", &[])?;
        let before = ctx.clone();
        match apply_store(tx, ctx, env) {
            Ok(()) => tx.exec("RELEASE SAVEPOINT entry", &[]).map(|_| ())?,
            Err(e @ HqError::Unprojectable { .. }) => {
                tx.exec("ROLLBACK TO SAVEPOINT entry", &[])?;
                tx.exec("RELEASE SAVEPOINT entry", &[])?;
                *ctx = before;
                let HqError::Unprojectable { seq, kind, reason, .. } = &e else { unreachable!() };
                let [r, s] = ctx.key();
                tx.exec(
                    "INSERT INTO unprojected (retailer_id, store_id, seq, kind, reason) VALUES ($1, $2, $3, $4, $5)",
                    &[r.clone(), s.clone(), (*seq).into(), kind.into(), reason.into()],
                )?;
                tx.exec(
                    "INSERT INTO alerts (at_ms, retailer_id, store_id, kind, message) VALUES ($1, $2, $3, $4, $5)",
                    &[env.at_ms.into(), r, s, "unprojected".into(), e.to_string().into()],
                )?;
                left_out.push(e);
            }
            Err(e) => return Err(e),
        }
    }
    Ok(left_out)
}

/// Applies one store journal entry to the derived tables (see [`apply_store_entries`]).
fn apply_store(tx: &mut dyn Tx, ctx: &mut StoreCtx, env: &Envelope) -> Result<(), HqError> {
    let [r, s] = ctx.key();
    if ctx.unknown_kinds.iter().any(|k| k == env.event.kind()) {
        return Err(ctx.unprojectable(
            env,
            format!(
                "{UNKNOWN_KIND} {}: written by a newer release; run `stockade hq reproject` after upgrading HQ",
                stockade_journal::describe_kind(env.event.kind())
            ),
        ));
    }
    match &env.event {
        Event::Unknown(u) => {
            return Err(ctx.unprojectable(
                env,
                format!(
                    "{UNKNOWN_KIND} {}: written by a newer release; run `stockade hq reproject` after upgrading HQ",
                    stockade_journal::describe_kind(&u.kind)
                ),
            ));
        }
        Event::EntryReconciled { entry, .. } => {
            // An entry of the store's stale branch, recorded again after the recovered ones:
            // its event counts at this place (and its own time).
            let inner = Envelope::decode(entry.as_bytes()).map_err(|e| ctx.unprojectable(env, format!("the re-recorded entry is unreadable: {e}")))?;
            if matches!(inner.event, Event::EntryReconciled { .. }) || inner.store != env.store {
                return Err(ctx.unprojectable(env, "the re-recorded entry is not one of this store's own entries".into()));
            }
            return apply_store(tx, ctx, &Envelope { seq: env.seq, ..inner });
        }
        Event::StoreInitialized { name, jurisdiction, timezone, .. } => {
            ctx.tz = Some(timezone.parse().map_err(|_| HqError::Corrupt(format!("store {}: unknown time zone '{timezone}'", ctx.store_id)))?);
            tx.exec(
                "INSERT INTO store_heads (retailer_id, store_id, size, head, name, jurisdiction, timezone) VALUES ($1, $2, 0, $3, $4, $5, $6)",
                &[r, s, Val::B(vec![0; 32]), name.into(), jurisdiction.into(), timezone.into()],
            )?;
        }
        Event::ProductCreated { product_id, spec } | Event::ProductUpdated { product_id, spec } => {
            tx.exec(
                "INSERT INTO products (retailer_id, store_id, product_id, sku, gtin, name, class, net_weight_mg, price_minor)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                 ON CONFLICT (retailer_id, store_id, product_id) DO UPDATE SET sku = excluded.sku, gtin = excluded.gtin,
                    name = excluded.name, class = excluded.class, net_weight_mg = excluded.net_weight_mg, price_minor = excluded.price_minor",
                &[
                    r,
                    s,
                    product_id.into(),
                    (&spec.sku).into(),
                    spec.gtin.clone().map(Val::T).unwrap_or(Val::Null),
                    (&spec.name).into(),
                    spec.class.as_str().into(),
                    spec.net_weight_mg.into(),
                    spec.price_minor.into(),
                ],
            )?;
        }
        Event::PriceChanged { product_id, new_price_minor, .. } => {
            tx.exec(
                "UPDATE products SET price_minor = $1 WHERE retailer_id = $2 AND store_id = $3 AND product_id = $4",
                &[(*new_price_minor).into(), r, s, product_id.into()],
            )?;
        }
        Event::StockReceived { document, lines, .. } => {
            po_received(tx, ctx, document, env.seq)?;
            let day = ctx.day(env.seq, env.at_ms)?;
            for l in lines {
                move_stock(tx, ctx, env, &day, &l.product_id, l.quantity)?;
            }
        }
        Event::StockAdjusted { product_id, changes, .. } => {
            let day = ctx.day(env.seq, env.at_ms)?;
            let delta = sum(ctx, env, "an adjustment", changes.iter().map(|c| c.quantity))?;
            move_stock(tx, ctx, env, &day, product_id, delta)?;
        }
        Event::StockCounted { lines, .. } => {
            let day = ctx.day(env.seq, env.at_ms)?;
            for l in lines {
                let delta = sum(ctx, env, "a count", l.changes.iter().map(|c| c.quantity))?;
                move_stock(tx, ctx, env, &day, &l.product_id, delta)?;
            }
        }
        Event::SaleRecorded { sale_id, lines, .. } => {
            let day = ctx.day(env.seq, env.at_ms)?;
            for (line_no, l) in lines.iter().enumerate() {
                let tax = sum(ctx, env, "a line's tax", l.taxes.iter().map(|t| t.amount_minor))?;
                let taken = sum(ctx, env, "a line's lots", l.lots.iter().map(|t| t.quantity))?;
                tx.exec(
                    "INSERT INTO sale_lines (retailer_id, store_id, sale_id, line_no, product_id, quantity, net_minor, tax_minor, lots_quantity)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                    &[
                        r.clone(),
                        s.clone(),
                        sale_id.into(),
                        (line_no as i64).into(),
                        (&l.product_id).into(),
                        l.quantity.into(),
                        l.net_minor.into(),
                        tax.into(),
                        taken.into(),
                    ],
                )?;
                let w = product_weight(tx, ctx, &l.product_id)?;
                add_sales(tx, ctx, env, &day, &l.product_id, [Some(l.quantity), Some(0), l.quantity.checked_mul(w), Some(l.net_minor), Some(tax), Some(0)])?;
                move_stock(tx, ctx, env, &day, &l.product_id, -taken)?;
            }
        }
        Event::SaleVoided { sale_id, .. } => {
            // The store refuses to void a sale with returns, so the whole sale is reversed.
            let day = ctx.day(env.seq, env.at_ms)?;
            let lines = tx.query(
                "SELECT product_id, quantity, net_minor, tax_minor, lots_quantity FROM sale_lines
                 WHERE retailer_id = $1 AND store_id = $2 AND sale_id = $3 ORDER BY line_no",
                &[r, s, sale_id.into()],
            )?;
            if lines.is_empty() {
                // The sale's own entry was left out (or never arrived): so is its void.
                return Err(ctx.unprojectable(env, format!("it voids sale {sale_id}, which is not in HQ's figures (an earlier entry was left out)")));
            }
            for l in lines {
                let (Some(pid), Some(q), Some(net), Some(tax), Some(taken)) = (l[0].t(), l[1].i(), l[2].i(), l[3].i(), l[4].i()) else {
                    return Err(HqError::Corrupt(format!("sale_lines of {sale_id}: unreadable row")));
                };
                let pid = pid.to_string();
                let w = product_weight(tx, ctx, &pid)?;
                add_sales(
                    tx,
                    ctx,
                    env,
                    &day,
                    &pid,
                    [q.checked_neg(), Some(0), q.checked_mul(w).and_then(i64::checked_neg), net.checked_neg(), tax.checked_neg(), Some(0)],
                )?;
                move_stock(tx, ctx, env, &day, &pid, taken)?;
            }
        }
        Event::SaleReturned { lines, .. } => {
            let day = ctx.day(env.seq, env.at_ms)?;
            for l in lines {
                let w = product_weight(tx, ctx, &l.product_id)?;
                add_sales(
                    tx,
                    ctx,
                    env,
                    &day,
                    &l.product_id,
                    [Some(0), Some(l.quantity), l.quantity.checked_mul(w).and_then(i64::checked_neg), Some(0), Some(0), Some(l.refund_minor)],
                )?;
                let back = sum(ctx, env, "a return", l.restocked.iter().map(|t| t.quantity))?;
                move_stock(tx, ctx, env, &day, &l.product_id, back)?;
            }
        }
        Event::SecurityAlert { alert_kind, message } => {
            tx.exec(
                "INSERT INTO alerts (at_ms, retailer_id, store_id, kind, message) VALUES ($1, $2, $3, $4, $5)",
                &[env.at_ms.into(), r, s, alert_kind.into(), message.into()],
            )?;
        }
        // Orders reach HQ's figures through the sale recorded at hand-over; reservations are
        // the store's business.
        Event::OrderPlaced { .. } | Event::OrderStatusChanged { .. } | Event::OrderCompleted { .. } => {}
        // HQ issued the order itself; what it follows is the receipt.
        Event::StaffAdded { .. }
        | Event::StaffDisabled { .. }
        | Event::TillOpened { .. }
        | Event::TillClosed { .. }
        | Event::HqCatalogApplied { .. }
        | Event::HqPurchaseOrderApplied { .. } => {}
    }
    Ok(())
}

/// Records that a store received purchase order `po_id` (the first receipt only; any receipt
/// document that looks like an order id is recorded, known to HQ or not, so replay order does
/// not matter).
fn po_received(tx: &mut dyn Tx, ctx: &StoreCtx, po_id: &str, seq: u64) -> Result<(), HqError> {
    if !po_id.starts_with("PO-") {
        return Ok(());
    }
    let [r, s] = ctx.key();
    tx.exec(
        "INSERT INTO po_events (retailer_id, store_id, po_id, kind, seq) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (retailer_id, store_id, po_id, kind) DO NOTHING",
        &[r, s, po_id.into(), "received".into(), seq.into()],
    )?;
    Ok(())
}
