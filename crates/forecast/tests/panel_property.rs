//! The demand panel reader (named in ARCHITECTURE.md), fed arbitrary bytes and Unicode: an
//! answer, never a panic; a panel written as CSV reads back as written. 100,000 cases per
//! property, or `STOCKADE_FUZZ_CASES`.

use proptest::prelude::*;
use stockade_forecast::eval::parse;

fn config() -> ProptestConfig {
    let cases = std::env::var("STOCKADE_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000);
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn panels_of_any_text(b in proptest::collection::vec(any::<u8>(), 0..400), s in any::<String>()) {
        let _ = parse(&String::from_utf8_lossy(&b));
        let _ = parse(&format!("series,period,demand\n{s}"));
    }

    #[test]
    fn a_panel_reads_back_as_written(series in proptest::collection::vec(("[A-Za-z][A-Za-z0-9_-]{0,10}", proptest::collection::vec(proptest::option::of(0u32..1_000_000), 1..12)), 1..5)) {
        let mut seen = std::collections::BTreeSet::new();
        let series: Vec<_> = series.into_iter().filter(|(name, _)| seen.insert(name.clone())).collect();
        let mut csv = String::from("series,period,demand\n");
        for (name, values) in &series {
            for (i, v) in values.iter().enumerate() {
                csv.push_str(&format!("{name},{},{}\n", i + 1, v.map(|v| v.to_string()).unwrap_or_default()));
            }
        }
        let panel = parse(&csv).unwrap();
        let expected: Vec<(String, Vec<Option<f64>>)> = series.iter().map(|(n, vs)| (n.clone(), vs.iter().map(|v| v.map(f64::from)).collect())).collect();
        prop_assert_eq!(panel, expected);
    }
}
