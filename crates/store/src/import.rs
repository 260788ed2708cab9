//! Catalog import: every row becomes a product or is reported with its line and reason.
//! All or nothing by default; with `skip_invalid` the good rows are imported in one commit.

use crate::auth::Actor;
use crate::error::StoreError;
use crate::node::Store;
use rusqlite::params;
use serde::Serialize;
use stockade_domain::catalog::{parse_catalog_csv, RowError};

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ImportReport {
    pub rows: usize,
    pub imported: usize,
    pub rejected: Vec<RowError>,
}

impl Store {
    pub async fn import_products(&self, actor: &Actor, bytes: Vec<u8>, skip_invalid: bool) -> Result<ImportReport, StoreError> {
        actor.require_manager()?;
        let outcome = parse_catalog_csv(&bytes).map_err(|e| StoreError::invalid("invalid_file", e.to_string()))?;
        let by = actor.user_id.clone();
        self.write(move |tx| {
            let mut rejected = outcome.errors;
            let mut good = Vec::new();
            for (line, spec) in outcome.products {
                let sku_taken: bool = tx.conn().query_row("SELECT EXISTS(SELECT 1 FROM products WHERE sku = ?1)", params![spec.sku], |r| r.get(0))?;
                let gtin_taken: bool = match &spec.gtin {
                    Some(g) => tx.conn().query_row("SELECT EXISTS(SELECT 1 FROM products WHERE gtin = ?1)", params![g], |r| r.get(0))?,
                    None => false,
                };
                if sku_taken {
                    rejected.push(RowError { line, reason: format!("SKU '{}' is already in the catalog", spec.sku) });
                } else if gtin_taken {
                    rejected.push(RowError { line, reason: "barcode is already in the catalog".into() });
                } else {
                    good.push(spec);
                }
            }
            rejected.sort_by_key(|e| e.line);
            let rows = good.len() + rejected.len();
            if !rejected.is_empty() && !skip_invalid {
                return Ok(ImportReport { rows, imported: 0, rejected });
            }
            let imported = good.len();
            for spec in good {
                crate::commands::create_product_in_tx(tx, &by, spec)?;
            }
            Ok(ImportReport { rows, imported, rejected })
        })
        .await
    }
}
