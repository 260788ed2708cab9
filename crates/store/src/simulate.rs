//! `store simulate`: random valid sales through the same use case the API calls (`Store::sell`).
//! Deterministic for a given seed and starting state.

use crate::auth::Actor;
use crate::commands::{CustomerEvidence, OpenTillRequest, ReceiveLineRequest, ReceiveRequest, SaleLineRequest, SaleRequest, TenderRequest};
use crate::error::StoreError;
use crate::node::Store;
use crate::queries::{list_tills, search_products, Product, ProductQuery};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use stockade_domain::pricing;

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct SimulationReport {
    pub sales: u64,
    pub refused_by_limits: u64,
    pub revenue_minor: i64,
}

impl Store {
    /// Receives `quantity` units of every priced product, 100 per receipt (set-up for demos,
    /// simulations, tests and benchmarks). Returns how many products were received.
    pub async fn receive_all(&self, actor: &Actor, quantity: i64) -> Result<usize, StoreError> {
        let mut offset = 0;
        let mut total = 0;
        loop {
            let page = self.read_async(move |c| search_products(c, &ProductQuery { q: None, limit: Some(100), offset: Some(offset), sellable: None })).await?;
            if page.is_empty() {
                return Ok(total);
            }
            offset += page.len() as u32;
            let lines: Vec<ReceiveLineRequest> = page
                .iter()
                .filter(|p| p.spec.price_minor.is_some())
                .map(|p| ReceiveLineRequest {
                    product_id: p.product_id.clone(),
                    quantity,
                    lot_code: "OPENING-1".into(),
                    package_tag: None,
                    unit_cost_minor: p.spec.price_minor.unwrap_or(0) / 2,
                    lab_thc_mg: None,
                })
                .collect();
            if lines.is_empty() {
                continue;
            }
            total += lines.len();
            self.receive(actor, ReceiveRequest { supplier: "Opening stock".into(), document: format!("OPENING-{offset}"), lines }).await?;
        }
    }

    /// Total of a prospective cart (prices and taxes as a sale would compute them).
    pub fn quote(&self, lines: &[(Product, i64)]) -> Result<i64, StoreError> {
        let pack = self.pack_at(self.clock().now_ms())?;
        let mut priced = Vec::new();
        for (p, q) in lines {
            let price = p.spec.price_minor.unwrap_or(0);
            priced.push(pricing::price_line(pack, p.spec.tax_class, price, *q).map_err(|e| StoreError::Io(e.to_string()))?);
        }
        Ok(pricing::totals(pack, &priced).total_minor)
    }

    /// Records `n` random valid sales. `on_sale` is called after each acknowledged sale.
    pub async fn simulate(&self, actor: &Actor, n: u64, seed: u64, mut on_sale: impl FnMut(u64)) -> Result<SimulationReport, StoreError> {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let tills = self.read_async(|c| list_tills(c, true)).await?;
        let till_id = match tills.into_iter().find(|t| t.register == "SIM") {
            Some(t) => t.till_id,
            None => self.open_till(actor, OpenTillRequest { register: "SIM".into(), float_minor: 20_000 }).await?.till_id,
        };
        let load = |s: &Store| {
            let s = s.clone();
            async move { s.read_async(|c| search_products(c, &ProductQuery { q: None, limit: Some(200), offset: None, sellable: Some(true) })).await }
        };
        let mut products = load(self).await?;
        let mut report = SimulationReport::default();
        let mut attempts = 0u64;
        while report.sales < n {
            attempts += 1;
            if attempts > n * 20 + 100 {
                return Err(StoreError::conflict("simulation_stuck", "could not build valid sales: receive more stock"));
            }
            products.retain(|p| p.on_hand > 0);
            if products.is_empty() {
                products = load(self).await?;
                if products.is_empty() {
                    return Err(StoreError::conflict("nothing_to_sell", "no product has both stock and a price: receive stock first"));
                }
            }
            let n_lines = rng.gen_range(1..=3usize).min(products.len());
            let mut cart: Vec<(Product, i64)> = Vec::new();
            for _ in 0..n_lines {
                let p = &products[rng.gen_range(0..products.len())];
                if cart.iter().any(|(c, _)| c.product_id == p.product_id) {
                    continue;
                }
                cart.push((p.clone(), rng.gen_range(1..=2i64).min(p.on_hand)));
            }
            let total = self.quote(&cart)?;
            let tenders = if rng.gen_bool(0.5) {
                vec![TenderRequest { kind: "debit".into(), amount_minor: total }]
            } else {
                vec![TenderRequest { kind: "cash".into(), amount_minor: (total + 499) / 500 * 500 }]
            };
            let req = SaleRequest {
                till_id: till_id.clone(),
                lines: cart.iter().map(|(p, q)| SaleLineRequest { product_id: p.product_id.clone(), quantity: *q }).collect(),
                customer: CustomerEvidence { age_confirmed: true, birth_date: None, id_number: Some(format!("SIM{:06}", rng.gen_range(0..5_000))) },
                tenders,
            };
            match self.sell(actor, req, None).await {
                Ok(receipt) => {
                    for (p, q) in &cart {
                        if let Some(x) = products.iter_mut().find(|x| x.product_id == p.product_id) {
                            x.on_hand -= q;
                        }
                    }
                    report.sales += 1;
                    report.revenue_minor += receipt.total_minor;
                    on_sale(report.sales);
                }
                Err(StoreError::Refused(_)) => report.refused_by_limits += 1,
                Err(StoreError::Conflict { code: "insufficient_stock", .. }) => products = load(self).await?,
                Err(e) => return Err(e),
            }
        }
        Ok(report)
    }
}
