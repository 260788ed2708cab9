//! Products, their compliance class, and catalog import from CSV (in memory: no I/O).

use crate::money::parse_minor;
use crate::quantity::{find_net_content, parse_mg, parse_percent_bp, NetContent, MG_PER_G};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// Equivalency / limit class of a product. Rule packs say how each class counts toward limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ProductClass {
    /// Dried flower, pre-rolls, milled flower.
    Dried,
    Fresh,
    /// Solid edibles (gummies, chocolate, capsules).
    Edible,
    Topical,
    /// Non-solids other than beverages: oils, tinctures, sprays.
    NonSolid,
    Beverage,
    /// Concentrates and extracts, including vape cartridges, hash, kief.
    Concentrate,
    Seed,
    /// Immature plants and clones.
    Plant,
    /// Accessories and anything without cannabis: never counts toward a limit.
    NonCannabis,
}

impl ProductClass {
    pub const ALL: [ProductClass; 10] = [
        ProductClass::Dried,
        ProductClass::Fresh,
        ProductClass::Edible,
        ProductClass::Topical,
        ProductClass::NonSolid,
        ProductClass::Beverage,
        ProductClass::Concentrate,
        ProductClass::Seed,
        ProductClass::Plant,
        ProductClass::NonCannabis,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            ProductClass::Dried => "dried",
            ProductClass::Fresh => "fresh",
            ProductClass::Edible => "edible",
            ProductClass::Topical => "topical",
            ProductClass::NonSolid => "non_solid",
            ProductClass::Beverage => "beverage",
            ProductClass::Concentrate => "concentrate",
            ProductClass::Seed => "seed",
            ProductClass::Plant => "plant",
            ProductClass::NonCannabis => "non_cannabis",
        }
    }
    pub fn parse(text: &str) -> Option<ProductClass> {
        let t = text.trim().to_ascii_lowercase().replace(['-', ' '], "_");
        ProductClass::ALL.into_iter().find(|c| c.as_str() == t)
    }
    pub fn is_cannabis(self) -> bool {
        self != ProductClass::NonCannabis
    }
    /// Classes sold by count rather than by content.
    fn counted_only(self) -> bool {
        matches!(self, ProductClass::Seed | ProductClass::Plant | ProductClass::NonCannabis)
    }
    /// Classes whose limits are expressed in THC milligrams in some jurisdictions.
    fn needs_thc_mg(self) -> bool {
        matches!(self, ProductClass::Edible | ProductClass::Topical | ProductClass::NonSolid | ProductClass::Beverage)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TaxClass {
    Cannabis,
    General,
}

impl TaxClass {
    pub fn as_str(self) -> &'static str {
        match self {
            TaxClass::Cannabis => "cannabis",
            TaxClass::General => "general",
        }
    }
}

/// What a product is. Plain data; `validate` says whether the compliance rules can use it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProductSpec {
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 64, pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$")
    )]
    pub sku: String,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(pattern = r"^([0-9]{8}|[0-9]{12,14})$"))]
    pub gtin: Option<String>,
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 200, pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$")
    )]
    pub name: String,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 200))]
    pub brand: String,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 200))]
    pub category: String,
    pub class: ProductClass,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 10_000_000))]
    pub net_weight_mg: Option<i64>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 10_000_000))]
    pub net_volume_ml: Option<i64>,
    /// THC per unit sold, in milligrams.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 10_000_000))]
    pub thc_mg: Option<i64>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 10_000_000))]
    pub cbd_mg: Option<i64>,
    /// Shelf price before taxes, minor units. `None`: not for sale until priced.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 100_000_000))]
    pub price_minor: Option<i64>,
    pub tax_class: TaxClass,
}

/// One reason a product (or import row) is not usable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

fn fe(field: &str, message: impl Into<String>) -> FieldError {
    FieldError { field: field.to_string(), message: message.into() }
}

/// Largest net weight accepted for a single unit (10 kg); guards against unit mistakes.
pub const MAX_UNIT_WEIGHT_MG: i64 = 10_000 * MG_PER_G;

/// GS1 check digit for GTIN-8/12/13/14.
pub fn gtin_is_valid(gtin: &str) -> bool {
    let digits: Vec<u32> = match gtin.chars().map(|c| c.to_digit(10)).collect::<Option<Vec<_>>>() {
        Some(d) => d,
        None => return false,
    };
    if ![8, 12, 13, 14].contains(&digits.len()) {
        return false;
    }
    let (body, check) = digits.split_at(digits.len() - 1);
    let sum: u32 = body.iter().rev().enumerate().map(|(i, d)| if i % 2 == 0 { d * 3 } else { *d }).sum();
    (10 - sum % 10) % 10 == check[0]
}

impl ProductSpec {
    /// Checks that the product is well-formed and that every rule pack can measure it.
    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();
        if self.sku.trim().is_empty() || self.sku.chars().count() > 64 {
            errors.push(fe("sku", "a SKU of 1 to 64 characters is required"));
        }
        if self.name.trim().is_empty() || self.name.chars().count() > 200 {
            errors.push(fe("name", "a name of 1 to 200 characters is required"));
        }
        for (field, text) in [("sku", &self.sku), ("name", &self.name), ("brand", &self.brand), ("category", &self.category)] {
            if text.chars().any(char::is_control) {
                errors.push(fe(field, "control characters (line breaks, tabs, escapes) are not allowed"));
            }
        }
        if self.brand.chars().count() > 200 || self.category.chars().count() > 200 {
            errors.push(fe("brand", "brand and category are at most 200 characters"));
        }
        if let Some(g) = &self.gtin {
            if !gtin_is_valid(g) {
                errors.push(fe("gtin", format!("'{g}' is not a valid GTIN-8/12/13/14 (digits and check digit)")));
            }
        }
        for (field, v) in [("net_weight_mg", self.net_weight_mg), ("net_volume_ml", self.net_volume_ml)] {
            if let Some(v) = v {
                if v <= 0 || v > MAX_UNIT_WEIGHT_MG {
                    errors.push(fe(field, format!("must be between 1 and {MAX_UNIT_WEIGHT_MG}")));
                }
            }
        }
        // A unit holds no more THC or CBD than it weighs (a millilitre of drink as a gram).
        let unit_mg = self.net_weight_mg.or(self.net_volume_ml.and_then(|ml| ml.checked_mul(1000))).filter(|w| (1..=MAX_UNIT_WEIGHT_MG * 1000).contains(w));
        for (field, v) in [("thc_mg", self.thc_mg), ("cbd_mg", self.cbd_mg)] {
            if let Some(v) = v {
                let max = unit_mg.unwrap_or(MAX_UNIT_WEIGHT_MG).min(MAX_UNIT_WEIGHT_MG);
                if !(0..=max).contains(&v) {
                    errors.push(fe(field, format!("must be between 0 and the unit's weight ({max} mg)")));
                }
            }
        }
        if let Some(p) = self.price_minor {
            if !(0..=100_000_000).contains(&p) {
                errors.push(fe("price_minor", "must be between 0 and 1,000,000.00"));
            }
        }
        if self.class.is_cannabis() && self.tax_class != TaxClass::Cannabis {
            errors.push(fe("tax_class", "cannabis products are taxed as 'cannabis'"));
        }
        if !self.class.counted_only() {
            let has_weight = self.net_weight_mg.is_some();
            let liquid = matches!(self.class, ProductClass::Beverage | ProductClass::NonSolid);
            if !(has_weight || (liquid && self.net_volume_ml.is_some())) {
                errors.push(fe(
                    "net_weight_mg",
                    "net weight unknown: the purchase limits need the weight of one unit (e.g. '3.5g' in the name or a net_weight column)",
                ));
            }
        }
        if self.class.needs_thc_mg() && self.thc_mg.is_none() {
            errors.push(fe("thc_mg", "THC per unit in mg is required for this class (some jurisdictions limit it by THC)"));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    pub fn limit_facts(&self) -> LimitFacts {
        LimitFacts { class: self.class, net_weight_mg: self.net_weight_mg, net_volume_ml: self.net_volume_ml, thc_mg: self.thc_mg }
    }
}

/// What the compliance rules need to know about one unit of a product.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LimitFacts {
    pub class: ProductClass,
    pub net_weight_mg: Option<i64>,
    pub net_volume_ml: Option<i64>,
    pub thc_mg: Option<i64>,
}

/// Maps catalog category words to a class. Order matters: the most specific wins.
pub fn class_from_category(category: &str) -> Option<ProductClass> {
    let tokens: Vec<String> = category.split([',', '/', ';']).map(|t| t.trim().to_ascii_lowercase()).filter(|t| !t.is_empty()).collect();
    let any = |words: &[&str]| tokens.iter().any(|t| words.contains(&t.as_str()));
    if tokens.is_empty() {
        return None;
    }
    if any(&["accessories", "accessory", "gear", "apparel", "papers", "glass"]) {
        return Some(ProductClass::NonCannabis);
    }
    if any(&["drink", "drinks", "beverage", "beverages"]) {
        return Some(ProductClass::Beverage);
    }
    if any(&["topical", "topicals", "bath", "lotion", "balm"]) {
        return Some(ProductClass::Topical);
    }
    if any(&["tincture", "tinctures", "spray", "sprays"]) {
        return Some(ProductClass::NonSolid);
    }
    if any(&["edibles", "edible", "candy", "snack", "chocolate", "spread", "dressing", "soup", "salt", "pill", "capsules", "baked goods"]) {
        return Some(ProductClass::Edible);
    }
    if any(&[
        "concentrate",
        "concentrates",
        "extract",
        "extracts",
        "wax",
        "shatter",
        "bubble hash",
        "hash",
        "crumble",
        "kief",
        "rso",
        "vapes",
        "vape",
        "vape cartidge",
        "vape cartridge",
        "disposable vape",
        "rosin",
        "resin",
        "distillate",
        "live resin",
    ]) {
        return Some(ProductClass::Concentrate);
    }
    if any(&["oil", "oils"]) {
        return Some(ProductClass::NonSolid);
    }
    if any(&["flowers", "flower", "pre-roll", "pre-rolls", "preroll", "dried", "dried flower", "milled"]) {
        return Some(ProductClass::Dried);
    }
    if any(&["fresh"]) {
        return Some(ProductClass::Fresh);
    }
    if any(&["seeds", "seed"]) {
        return Some(ProductClass::Seed);
    }
    if any(&["clone", "clones", "plant", "plants"]) {
        return Some(ProductClass::Plant);
    }
    None
}

/// A row that could not be imported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RowError {
    /// 1-based line number in the file (the header is line 1).
    pub line: u64,
    pub reason: String,
}

#[derive(Debug, Clone, Default)]
pub struct ImportOutcome {
    /// (line, product) for every good row, in file order.
    pub products: Vec<(u64, ProductSpec)>,
    pub errors: Vec<RowError>,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("the file has no header row")]
    NoHeader,
    #[error(
        "the header has no '{0}' column (recognized: sku or id, name, brand, category or class, thc, cbd, gtin or barcode, price, net_weight, net_volume_ml)"
    )]
    MissingColumn(&'static str),
    #[error("the file has more than {0} rows; split it")]
    TooManyRows(usize),
    #[error("line {line}: {message}")]
    Csv { line: u64, message: String },
}

pub const MAX_IMPORT_ROWS: usize = 1_000_000;

#[derive(Default)]
struct Columns {
    sku: Option<usize>,
    name: Option<usize>,
    brand: Option<usize>,
    category: Option<usize>,
    class: Option<usize>,
    thc: Option<usize>,
    cbd: Option<usize>,
    gtin: Option<usize>,
    price: Option<usize>,
    net_weight: Option<usize>,
    net_volume_ml: Option<usize>,
}

/// Parses a catalog CSV (Stockade's own columns or a Kushy-style export) into products.
/// Every data row ends up either in `products` or in `errors` with its line number.
pub fn parse_catalog_csv(bytes: &[u8]) -> Result<ImportOutcome, ImportError> {
    let mut reader = csv::ReaderBuilder::new().flexible(true).has_headers(true).from_reader(bytes);
    let headers = reader.byte_headers().map_err(|e| ImportError::Csv { line: 1, message: e.to_string() })?.clone();
    if headers.is_empty() {
        return Err(ImportError::NoHeader);
    }
    let mut cols = Columns::default();
    for (i, h) in headers.iter().enumerate() {
        let name = String::from_utf8_lossy(h).trim().trim_start_matches('\u{feff}').to_ascii_lowercase();
        let slot = match name.as_str() {
            "sku" | "id" => &mut cols.sku,
            "name" | "product" | "product_name" => &mut cols.name,
            "brand" => &mut cols.brand,
            "category" => &mut cols.category,
            "class" => &mut cols.class,
            "thc" | "thc_mg" => &mut cols.thc,
            "cbd" | "cbd_mg" => &mut cols.cbd,
            "gtin" | "barcode" | "upc" => &mut cols.gtin,
            "price" => &mut cols.price,
            "net_weight" | "size" | "net_weight_mg" => &mut cols.net_weight,
            "net_volume_ml" | "volume_ml" => &mut cols.net_volume_ml,
            _ => continue,
        };
        if slot.is_none() {
            *slot = Some(i);
        }
    }
    if cols.sku.is_none() {
        return Err(ImportError::MissingColumn("sku"));
    }
    if cols.name.is_none() {
        return Err(ImportError::MissingColumn("name"));
    }
    if cols.category.is_none() && cols.class.is_none() {
        return Err(ImportError::MissingColumn("category"));
    }
    let weight_is_mg = headers.iter().any(|h| h.eq_ignore_ascii_case(b"net_weight_mg"));

    let mut out = ImportOutcome::default();
    let mut seen_sku = HashSet::new();
    let mut seen_gtin = HashSet::new();
    let mut record = csv::ByteRecord::new();
    let mut rows = 0usize;
    loop {
        let line = reader.position().line();
        match reader.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                // A broken quote or similar: report and keep reading the rest.
                out.errors.push(RowError { line, reason: format!("unreadable CSV: {e}") });
                continue;
            }
        }
        rows += 1;
        if rows > MAX_IMPORT_ROWS {
            return Err(ImportError::TooManyRows(MAX_IMPORT_ROWS));
        }
        let line = record.position().map(|p| p.line()).unwrap_or(line);
        match parse_row(&record, &cols, weight_is_mg) {
            Ok(spec) => {
                if !seen_sku.insert(spec.sku.clone()) {
                    out.errors.push(RowError { line, reason: format!("SKU '{}' appears more than once in the file", spec.sku) });
                } else if spec.gtin.as_ref().is_some_and(|g| !seen_gtin.insert(g.clone())) {
                    out.errors.push(RowError { line, reason: "barcode appears more than once in the file".into() });
                } else {
                    out.products.push((line, spec));
                }
            }
            Err(reason) => out.errors.push(RowError { line, reason }),
        }
    }
    Ok(out)
}

fn parse_row(record: &csv::ByteRecord, cols: &Columns, weight_is_mg: bool) -> Result<ProductSpec, String> {
    let field = |idx: Option<usize>, label: &str| -> Result<String, String> {
        match idx.and_then(|i| record.get(i)) {
            None => Ok(String::new()),
            Some(b) => std::str::from_utf8(b).map(|s| s.trim().to_string()).map_err(|_| format!("column '{label}' is not valid UTF-8")),
        }
    };
    let sku = field(cols.sku, "sku")?;
    let name = field(cols.name, "name")?;
    let brand = field(cols.brand, "brand")?;
    let category = field(cols.category, "category")?;
    let class_text = field(cols.class, "class")?;
    let thc_text = field(cols.thc, "thc")?;
    let cbd_text = field(cols.cbd, "cbd")?;
    let gtin = field(cols.gtin, "gtin")?;
    let price_text = field(cols.price, "price")?;
    let weight_text = field(cols.net_weight, "net_weight")?;
    let volume_text = field(cols.net_volume_ml, "net_volume_ml")?;

    if sku.is_empty() {
        return Err("no SKU/id".into());
    }
    if name.is_empty() {
        return Err("no product name".into());
    }
    let class = if !class_text.is_empty() {
        ProductClass::parse(&class_text).ok_or_else(|| format!("unknown class '{class_text}'"))?
    } else if category.trim_matches([',', ' ']).is_empty() {
        return Err("no category: cannot tell the equivalency class".into());
    } else {
        class_from_category(&category).ok_or_else(|| format!("category '{category}' does not map to an equivalency class"))?
    };

    let mut net_weight_mg = None;
    let mut net_volume_ml = None;
    if !weight_text.is_empty() {
        let mg = if weight_is_mg {
            weight_text.parse::<i64>().ok()
        } else {
            match find_net_content(&weight_text) {
                Some(NetContent::Mass { mg }) => Some(mg),
                _ => parse_mg(&weight_text),
            }
        };
        net_weight_mg = Some(mg.ok_or_else(|| format!("net weight '{weight_text}' is not a weight (e.g. 3.5g, 1/8 oz)"))?);
    }
    if !volume_text.is_empty() {
        net_volume_ml = Some(volume_text.parse::<i64>().map_err(|_| format!("net_volume_ml '{volume_text}' is not a whole number"))?);
    }
    if net_weight_mg.is_none() && net_volume_ml.is_none() {
        match find_net_content(&name) {
            Some(NetContent::Mass { mg }) => net_weight_mg = Some(mg),
            Some(NetContent::Volume { ml }) => net_volume_ml = Some(ml),
            None => {}
        }
    }

    let potency = |text: &str, label: &str| -> Result<Option<i64>, String> {
        if text.is_empty() {
            return Ok(None);
        }
        if let Some(mg) = parse_mg(text) {
            return Ok(Some(mg));
        }
        if let Some(bp) = parse_percent_bp(text) {
            return match net_weight_mg {
                Some(w) => Ok(Some((w as i128 * bp as i128 / 10_000) as i64)),
                None => Err(format!("{label} '{text}' is a percentage but the net weight is unknown")),
            };
        }
        if let Ok(mg) = text.parse::<i64>() {
            return Ok(Some(mg));
        }
        Err(format!("{label} '{text}' is not a potency (e.g. 200mg or 18.5%)"))
    };
    let thc_mg = potency(&thc_text, "THC")?;
    let cbd_mg = potency(&cbd_text, "CBD")?;

    let price_minor = if price_text.is_empty() { None } else { Some(parse_minor(&price_text).map_err(|e| e.to_string())?) };
    let spec = ProductSpec {
        sku,
        gtin: if gtin.is_empty() { None } else { Some(gtin) },
        name,
        brand,
        category: category.trim_matches([',', ' ']).to_string(),
        class,
        net_weight_mg,
        net_volume_ml,
        thc_mg,
        cbd_mg,
        price_minor,
        tax_class: if class.is_cannabis() { TaxClass::Cannabis } else { TaxClass::General },
    };
    spec.validate().map_err(|errs| errs.into_iter().map(|e| e.message).collect::<Vec<_>>().join("; "))?;
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gtin_check_digits() {
        assert!(gtin_is_valid("036000291452"));
        assert!(gtin_is_valid("4006381333931"));
        assert!(!gtin_is_valid("4006381333932"));
        assert!(!gtin_is_valid("40063813339a1"));
        assert!(!gtin_is_valid("123"));
    }

    #[test]
    fn kushy_categories_map_to_classes() {
        assert_eq!(class_from_category("Flowers,Pre-Roll"), Some(ProductClass::Dried));
        assert_eq!(class_from_category("Edibles,Spread,"), Some(ProductClass::Edible));
        assert_eq!(class_from_category("Concentrate,Oil,"), Some(ProductClass::Concentrate));
        assert_eq!(class_from_category("Edibles,Drink"), Some(ProductClass::Beverage));
        assert_eq!(class_from_category("Tincture,"), Some(ProductClass::NonSolid));
        assert_eq!(class_from_category(""), None);
        assert_eq!(class_from_category("Mystery"), None);
    }

    #[test]
    fn every_row_is_imported_or_reported_with_its_line() {
        let csv = "\"id\",\"name\",\"slug\",\"brand\",\"category\",\"strain\",\"thc\",\"cbd\",\"lab_test\"\n\
            \"1\",\"1/2 ounce of cannabis\",\"s\",\"Humboldt\",\"Flowers,\",,\"20%\",,\n\
            \"2\",\"Pre-Roll Package\",\"s\",\"Humboldt\",\"Flowers,Pre-Roll\",,,,\n\
            \"3\",\"Gummies 10g (100mg)\",\"s\",\"B&+\",\"Edibles,Candy,\",,\"100mg\",,\n\
            \"4\",\"Mystery\",\"s\",\"X\",,,,,\n\
            \"1\",\"Duplicate 1g\",\"s\",\"X\",\"Flowers\",,,,\n";
        let out = parse_catalog_csv(csv.as_bytes()).unwrap();
        let lines: Vec<u64> = out.products.iter().map(|(l, _)| *l).collect();
        assert_eq!(lines, vec![2, 4]);
        let flower = &out.products[0].1;
        assert_eq!(flower.net_weight_mg, Some(14_175));
        assert_eq!(flower.thc_mg, Some(2_835));
        assert_eq!(out.products[1].1.class, ProductClass::Edible);
        assert_eq!(out.products[1].1.thc_mg, Some(100));
        let errs: Vec<(u64, &str)> = out.errors.iter().map(|e| (e.line, e.reason.as_str())).collect();
        assert_eq!(errs.len(), 3);
        assert_eq!(errs[0].0, 3);
        assert!(errs[0].1.contains("net weight unknown"), "{errs:?}");
        assert_eq!(errs[1], (5, "no category: cannot tell the equivalency class"));
        assert_eq!(errs[2].0, 6);
        assert!(errs[2].1.contains("more than once"));
    }

    #[test]
    fn invalid_utf8_is_reported_not_guessed() {
        let mut csv = b"sku,name,category\nA,Good 1g,Flowers\nB,Bad ".to_vec();
        csv.extend_from_slice(&[0xff, 0xfe]);
        csv.extend_from_slice(b" 1g,Flowers\n");
        let out = parse_catalog_csv(&csv).unwrap();
        assert_eq!(out.products.len(), 1);
        assert_eq!(out.errors, vec![RowError { line: 3, reason: "column 'name' is not valid UTF-8".into() }]);
    }

    #[test]
    fn a_header_without_names_is_refused_whole() {
        assert!(matches!(parse_catalog_csv(b"foo,bar\n1,2\n"), Err(ImportError::MissingColumn("sku"))));
    }
}
