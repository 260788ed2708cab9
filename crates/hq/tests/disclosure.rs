//! Disclosure control of market reports: a property test over random tables, and an attacker
//! who solves the published cells, margins and the other month (through the totals over months)
//! as a linear program. The attacker is written here, independently of `sdc::bounds`.

use microlp::{ComparisonOp, OptimizationDirection, Problem};
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};
use stockade_hq::sdc::{self, Cell, Contributions, Rules, STAR};

/// Random stores spread over regions, each selling some categories in two months; a few
/// stores dominate some cells.
fn tables() -> impl Strategy<Value = Contributions> {
    (2usize..=3, 2usize..=4, 3usize..=14, any::<u64>()).prop_map(|(regions, cats, stores, seed)| {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut base = Contributions::new();
        for s in 0..stores {
            let region = format!("R{}", rng.gen_range(0..regions));
            for c in 0..cats {
                for month in ["2026-10", "2026-11"] {
                    if rng.gen_bool(0.7) {
                        let big = rng.gen_bool(0.1);
                        let v = if big { rng.gen_range(50_000..500_000) } else { rng.gen_range(100..20_000) };
                        base.entry([region.clone(), format!("C{c}"), month.to_string()]).or_default().insert(format!("store{s}"), v);
                    }
                }
            }
        }
        base
    })
}

/// What an attacker can prove about each suppressed cell from the published table alone.
fn attack(cells: &[Cell]) -> BTreeMap<usize, (f64, Option<f64>)> {
    let index: BTreeMap<&[String; 3], usize> = cells.iter().enumerate().map(|(i, c)| (&c.key, i)).collect();
    let dims: Vec<BTreeSet<&String>> = (0..3).map(|d| cells.iter().map(|c| &c.key[d]).filter(|v| *v != STAR).collect()).collect();
    // Every published total equals the sum of its parts, along each dimension it totals.
    let mut sums: Vec<(usize, Vec<usize>)> = Vec::new();
    for (i, c) in cells.iter().enumerate() {
        for d in 0..3 {
            if c.key[d] == STAR {
                let parts = dims[d]
                    .iter()
                    .map(|v| {
                        let mut k = c.key.clone();
                        k[d] = (*v).clone();
                        index[&k]
                    })
                    .collect();
                sums.push((i, parts));
            }
        }
    }
    let mut out = BTreeMap::new();
    for (target, cell) in cells.iter().enumerate().filter(|(_, c)| c.value.is_none()) {
        let _ = cell;
        let solve = |dir| {
            let mut p = Problem::new(dir);
            let vars: Vec<_> = cells
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    let obj = if i == target { 1.0 } else { 0.0 };
                    match c.value {
                        Some(v) => p.add_var(obj, (v as f64, v as f64)),
                        None => p.add_var(obj, (0.0, f64::INFINITY)),
                    }
                })
                .collect();
            for (t, parts) in &sums {
                let mut row: Vec<_> = parts.iter().map(|q| (vars[*q], 1.0)).collect();
                row.push((vars[*t], -1.0));
                p.add_constraint(&row, ComparisonOp::Eq, 0.0);
            }
            p.solve().ok().and_then(|o| o.into_solution().ok()).map(|s| s.objective())
        };
        out.insert(target, (solve(OptimizationDirection::Minimize).unwrap_or(0.0), solve(OptimizationDirection::Maximize)));
    }
    out
}

fn check(base: &Contributions, rules: &Rules) -> Result<usize, TestCaseError> {
    let cells = sdc::protect(base, rules);
    let table = sdc::build(base);
    prop_assert_eq!(cells.len(), table.keys.len());
    let bounds = attack(&cells);
    let mut primaries = 0;
    for (i, cell) in cells.iter().enumerate() {
        let contrib = &table.per_store[i];
        let truth: i64 = contrib.values().sum();
        match (&cell.value, sdc::primary_unsafe(contrib, rules)) {
            (Some(v), None) => prop_assert_eq!(*v, truth, "published values are exact"),
            (Some(_), Some(why)) => prop_assert!(false, "unsafe cell {:?} published ({:?})", cell.key, why),
            (None, Some(_)) => {
                primaries += 1;
                // No store's value can be pinned to within p % of the largest contribution.
                let need = sdc::protection(contrib, rules);
                let (lo, hi) = bounds[&i];
                let v = truth as f64;
                prop_assert!(lo <= v - need + 1e-3, "cell {:?} = {} has a lower bound {} (need ≤ {})", cell.key, v, lo, v - need);
                if let Some(hi) = hi {
                    prop_assert!(hi >= v + need - 1e-3, "cell {:?} = {} has an upper bound {} (need ≥ {})", cell.key, v, hi, v + need);
                }
            }
            (None, None) => prop_assert_eq!(cell.suppressed.clone(), Some(sdc::Why::Complementary)),
        }
    }
    Ok(primaries)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
    #[test]
    fn no_unsafe_cell_is_published_and_no_suppressed_cell_can_be_solved_for(base in tables(), n in 3usize..=5, p in 5i64..=15) {
        check(&base, &Rules { min_stores: n, p_percent: p })?;
    }
}

/// A table built so that one store dominates its cell in one month, and the month totals,
/// regional and category totals are all published: the naive answer (suppress only that cell)
/// would be solved by subtraction; the attacker recovers nothing.
#[test]
fn a_dominant_store_cannot_be_recovered_from_totals_or_the_previous_month() {
    let mut base = Contributions::new();
    for month in ["2026-10", "2026-11"] {
        for region in ["ON", "BC"] {
            for cat in ["flower", "edible", "vape"] {
                let mut stores: BTreeMap<String, i64> = (0..6).map(|s| (format!("{region}-{s}"), 1_000 + 37 * s as i64)).collect();
                if month == "2026-11" && region == "ON" && cat == "vape" {
                    stores.insert("ON-0".into(), 60_000); // one big store dominates this cell, not the totals
                }
                base.insert([region.into(), cat.into(), month.into()], stores);
            }
        }
    }
    let primaries = check(&base, &Rules::default()).unwrap();
    assert!(primaries >= 1);
    let cells = sdc::protect(&base, &Rules::default());
    let dominated = cells.iter().find(|c| c.key == ["ON".to_string(), "vape".into(), "2026-11".into()]).unwrap();
    assert_eq!(dominated.suppressed, Some(sdc::Why::Dominance));
    let complementary = cells.iter().filter(|c| c.suppressed == Some(sdc::Why::Complementary)).count();
    assert!(complementary >= 3, "at least a rectangle of partners: {complementary}");
    // Without them, subtraction would give the cell away; with them, readers still get the totals.
    let published = |k: [&str; 3]| cells.iter().find(|c| c.key == k.map(str::to_string)).and_then(|c| c.value).is_some();
    assert!(published(["*", "*", "*"]) && published(["*", "*", "2026-11"]) && published(["ON", "*", "*"]), "{cells:?}");
    // The naive table: only the primary cells hidden, everything else published.
    let table = sdc::build(&base);
    let naive: Vec<Cell> = cells
        .iter()
        .enumerate()
        .map(|(i, c)| Cell { value: (c.suppressed != Some(sdc::Why::Dominance)).then(|| table.per_store[i].values().sum()), ..c.clone() })
        .collect();
    let i = naive.iter().position(|c| c.value.is_none()).unwrap();
    let (lo, hi) = attack(&naive)[&i];
    let truth: i64 = table.per_store[i].values().sum();
    assert!(
        (lo - truth as f64).abs() < 1e-3 && hi.is_some_and(|h| (h - truth as f64).abs() < 1e-3),
        "the naive table gives the cell away exactly: [{lo}, {hi:?}] vs {truth}"
    );
}
