//! Every parser of outside input in `domain` (named in ARCHITECTURE.md), fed arbitrary bytes
//! and Unicode: it answers (a value or an error), never panics; where a reading is known it is
//! checked against a reference. 100,000 cases per property, or `STOCKADE_FUZZ_CASES`.

use proptest::prelude::*;
use stockade_domain::bounds::BirthDate;
use stockade_domain::catalog::{class_from_category, parse_catalog_csv, ProductClass};
use stockade_domain::money::{parse_minor, Currency, Money};
use stockade_domain::quantity::{find_net_content, parse_mg, parse_percent_bp, NetContent};
use stockade_domain::rules::RulePack;

fn config() -> ProptestConfig {
    let cases = std::env::var("STOCKADE_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000);
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

/// Text as people and files produce it: any Unicode, or any bytes read leniently.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![any::<String>(), proptest::collection::vec(any::<u8>(), 0..200).prop_map(|b| String::from_utf8_lossy(&b).into_owned()), "\\PC{0,80}",]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn sizes_quantities_and_percentages(s in text()) {
        let _ = find_net_content(&s);
        let _ = parse_mg(&s);
        if let Some(bp) = parse_percent_bp(&s) {
            prop_assert!((0..=10_000).contains(&bp));
        }
    }

    #[test]
    fn a_half_ounce_is_14175_mg_in_any_script_around_it(prefix in "[\\p{L}\\p{M} ]{0,20}", suffix in "[ ,;)][\\p{L}\\p{M} ]{0,20}") {
        // Words in any script and accent around it (a name that states a size of its own
        // first is another matter).
        prop_assume!(find_net_content(&prefix).is_none());
        let name = format!("{prefix} half ounce{suffix}");
        prop_assert_eq!(find_net_content(&name), Some(NetContent::Mass { mg: 14_175 }), "{}", name);
    }

    #[test]
    fn money_amounts_read_back_what_was_written(minor in -1_000_000_000_000i64..1_000_000_000_000, s in text()) {
        let written = Money::new(minor, Currency::Cad).to_string();
        let number = written.trim_end_matches(" CAD");
        prop_assert_eq!(parse_minor(number), Ok(minor));
        let _ = parse_minor(&s);
        let _ = Money::parse(&s, Currency::Usd);
    }

    #[test]
    fn product_classes_and_categories(s in text()) {
        if let Some(c) = ProductClass::parse(&s) {
            prop_assert_eq!(ProductClass::parse(c.as_str()), Some(c));
        }
        let _ = class_from_category(&s);
    }

    #[test]
    fn birth_dates(s in text(), y in -300_000i32..300_000, m in 1u32..13, d in 1u32..29) {
        let _ = s.parse::<BirthDate>();
        let iso = format!("{y:04}-{m:02}-{d:02}");
        let read = iso.parse::<BirthDate>();
        prop_assert_eq!(read.is_ok(), (1900..=2100).contains(&y), "{}", iso);
    }

    #[test]
    fn rule_packs(s in text()) {
        let _ = RulePack::from_toml(&s);
    }

    #[test]
    fn catalog_files_of_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..600), s in text()) {
        let _ = parse_catalog_csv(&bytes);
        let _ = parse_catalog_csv(format!("sku,gtin,name,brand,category,class,net_weight_mg,net_volume_ml,thc_mg,cbd_mg,price\n{s}").as_bytes());
    }

    /// A well-formed row, whatever its name and brand, is read as written.
    #[test]
    fn a_good_catalog_row_is_read_as_written(
        name in "[\\p{L}\\p{N}][\\p{L}\\p{N} '&.-]{0,40}",
        brand in "[\\p{L}][\\p{L}\\p{N} ]{0,20}",
        weight in 1i64..100_000,
        thc_share in 0i64..=100,
        price in 0i64..100_000,
    ) {
        let thc = weight * thc_share / 100;
        let row = format!(
            "sku,gtin,name,brand,category,class,net_weight_mg,net_volume_ml,thc_mg,cbd_mg,price\nSKU-1,,\"{}\",\"{}\",Flower,dried,{weight},,{thc},,{}.{:02}\n",
            name.trim(), brand.trim(), price / 100, price % 100
        );
        let out = parse_catalog_csv(row.as_bytes()).unwrap();
        prop_assert!(out.errors.is_empty(), "{:?}", out.errors);
        let (_, p) = &out.products[0];
        prop_assert_eq!(p.name.as_str(), name.trim());
        prop_assert_eq!(p.brand.as_str(), brand.trim());
        prop_assert_eq!((p.net_weight_mg, p.thc_mg, p.price_minor), (Some(weight), Some(thc), Some(price)));
    }
}
