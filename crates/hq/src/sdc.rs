//! Statistical disclosure control for market reports. Pure: no I/O.
//!
//! A market table is a cube of base cells (region × category × month) and every margin of it
//! (totals over categories, over regions, over months, and the grand totals): one cell per
//! combination where each dimension is a value or `*`. Each base cell holds the contributions
//! of the stores in it; a margin's contributions are its stores' sums.
//!
//! 1. **Primary suppression**: a cell is unsafe when fewer than `min_stores` stores contribute,
//!    or by the **p % rule**: the total minus the two largest contributions is less than p % of
//!    the largest (the second-largest store could estimate the largest too closely).
//! 2. **Secondary suppression**: publishing the margins (and the other month, through the
//!    totals over months) could let anyone solve for a suppressed cell. For each unsafe cell
//!    the attacker's problem is solved as a linear program — minimise and maximise the cell
//!    given every published value and non-negativity — and while the interval is narrower than
//!    p % of the cell's largest contribution on either side, one more cell (the smallest
//!    published cell that shares a total with it) is suppressed.
//!
//! The LP runs on f64; published values are the exact integer sums.

use microlp::{ComparisonOp, OptimizationDirection, Problem};
use std::collections::BTreeMap;

pub const STAR: &str = "*";

/// Disclosure rules; defaults N = 5, p = 10. Keep `p_percent` out of published material.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rules {
    pub min_stores: usize,
    pub p_percent: i64,
}

impl Default for Rules {
    fn default() -> Self {
        Rules { min_stores: 5, p_percent: 10 }
    }
}

/// A cell's coordinates: one value per dimension, or [`STAR`] for a total over it.
pub type Key = [String; 3];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Why {
    TooFewStores,
    Dominance,
    /// Suppressed so that an unsafe cell cannot be solved for.
    Complementary,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cell {
    pub key: Key,
    /// `None` when suppressed.
    pub value: Option<i64>,
    pub stores: usize,
    pub suppressed: Option<Why>,
}

/// Contributions to base cells: (region, category, month) → store → value (minor units ≥ 0).
pub type Contributions = BTreeMap<Key, BTreeMap<String, i64>>;

/// The full table with its margins, each cell's per-store contributions.
pub struct Table {
    pub keys: Vec<Key>,
    pub per_store: Vec<BTreeMap<String, i64>>,
    /// Every additivity relation: (total cell, its parts).
    pub relations: Vec<(usize, Vec<usize>)>,
}

pub fn build(base: &Contributions) -> Table {
    let mut dims: [Vec<String>; 3] = Default::default();
    for k in base.keys() {
        for d in 0..3 {
            if !dims[d].contains(&k[d]) {
                dims[d].push(k[d].clone());
            }
        }
    }
    for d in dims.iter_mut() {
        d.sort();
    }
    let mut keys: Vec<Key> = Vec::new();
    let opts = |d: usize| dims[d].iter().cloned().chain(std::iter::once(STAR.to_string())).collect::<Vec<_>>();
    for a in opts(0) {
        for b in opts(1) {
            for c in opts(2) {
                keys.push([a.clone(), b.clone(), c.clone()]);
            }
        }
    }
    let index: BTreeMap<Key, usize> = keys.iter().cloned().enumerate().map(|(i, k)| (k, i)).collect();
    let per_store: Vec<BTreeMap<String, i64>> = keys
        .iter()
        .map(|k| {
            let mut m: BTreeMap<String, i64> = BTreeMap::new();
            for (bk, stores) in base {
                if (0..3).all(|d| k[d] == STAR || k[d] == bk[d]) {
                    for (s, v) in stores {
                        *m.entry(s.clone()).or_default() += v;
                    }
                }
            }
            m
        })
        .collect();
    let mut relations = Vec::new();
    for (i, k) in keys.iter().enumerate() {
        for d in 0..3 {
            if k[d] == STAR {
                let parts = dims[d]
                    .iter()
                    .map(|v| {
                        let mut p = k.clone();
                        p[d] = v.clone();
                        index[&p]
                    })
                    .collect();
                relations.push((i, parts));
            }
        }
    }
    Table { keys, per_store, relations }
}

/// Whether a cell with these contributions may not be published on its own.
pub fn primary_unsafe(contrib: &BTreeMap<String, i64>, rules: &Rules) -> Option<Why> {
    let n = contrib.values().filter(|v| **v != 0).count();
    if n == 0 {
        return None; // nothing sold: an empty cell reveals no store
    }
    if n < rules.min_stores {
        return Some(Why::TooFewStores);
    }
    let mut v: Vec<i64> = contrib.values().copied().collect();
    v.sort_unstable_by(|a, b| b.cmp(a));
    let total: i64 = v.iter().sum();
    let rest = total - v[0] - v.get(1).copied().unwrap_or(0);
    (rest * 100 < rules.p_percent * v[0]).then_some(Why::Dominance)
}

/// How far from the true value the attacker's interval must reach on each side.
pub fn protection(contrib: &BTreeMap<String, i64>, rules: &Rules) -> f64 {
    let largest = contrib.values().copied().max().unwrap_or(0);
    (rules.p_percent * largest) as f64 / 100.0
}

/// The attacker's bounds on cell `target`: every cell not in `hidden` is known exactly,
/// hidden cells are unknown and non-negative, every relation holds. `None` means unbounded.
pub fn bounds(table: &Table, values: &[i64], hidden: &[bool], target: usize) -> (f64, Option<f64>) {
    let solve = |dir: OptimizationDirection| -> Option<f64> {
        let mut p = Problem::new(dir);
        let vars: Vec<_> = (0..values.len())
            .map(|i| {
                let obj = if i == target { 1.0 } else { 0.0 };
                if hidden[i] {
                    p.add_var(obj, (0.0, f64::INFINITY))
                } else {
                    p.add_var(obj, (values[i] as f64, values[i] as f64))
                }
            })
            .collect();
        for (total, parts) in &table.relations {
            if !hidden[*total] && parts.iter().all(|q| !hidden[*q]) {
                continue; // all known: nothing to learn
            }
            let mut row: Vec<_> = parts.iter().map(|q| (vars[*q], 1.0)).collect();
            row.push((vars[*total], -1.0));
            p.add_constraint(&row, ComparisonOp::Eq, 0.0);
        }
        match p.solve() {
            Ok(outcome) => outcome.into_solution().ok().map(|s| s.objective()),
            Err(_) => None, // unbounded (or no answer): the attacker learns no bound
        }
    };
    let lo = solve(OptimizationDirection::Minimize).unwrap_or(0.0).max(0.0);
    (lo, solve(OptimizationDirection::Maximize))
}

/// Suppresses what `rules` require, primary then complementary cells, and returns every cell.
pub fn protect(base: &Contributions, rules: &Rules) -> Vec<Cell> {
    let table = build(base);
    let n = table.keys.len();
    let values: Vec<i64> = table.per_store.iter().map(|m| m.values().sum()).collect();
    let mut why: Vec<Option<Why>> = table.per_store.iter().map(|m| primary_unsafe(m, rules)).collect();
    let primaries: Vec<usize> = (0..n).filter(|i| why[*i].is_some()).collect();
    loop {
        let hidden: Vec<bool> = why.iter().map(Option::is_some).collect();
        let exposed = primaries.iter().copied().find(|&c| {
            let need = protection(&table.per_store[c], rules);
            let (lo, hi) = bounds(&table, &values, &hidden, c);
            let v = values[c] as f64;
            lo > v - need + 1e-6 || hi.is_some_and(|hi| hi < v + need - 1e-6)
        });
        if exposed.is_none() {
            break;
        }
        // The smallest published cell in a total that involves a hidden cell, base cells before
        // margins (totals are what readers want most).
        let mut candidates: Vec<usize> = table
            .relations
            .iter()
            .filter(|(t, parts)| hidden[*t] || parts.iter().any(|q| hidden[*q]))
            .flat_map(|(t, parts)| std::iter::once(*t).chain(parts.iter().copied()))
            .filter(|i| !hidden[*i])
            .collect();
        candidates.sort_by_key(|i| (table.keys[*i].iter().filter(|d| *d == STAR).count(), values[*i], *i));
        match candidates.first() {
            Some(&pick) => why[pick] = Some(Why::Complementary),
            None => break, // everything related is hidden already
        }
    }
    table
        .keys
        .iter()
        .enumerate()
        .map(|(i, k)| Cell {
            key: k.clone(),
            value: if why[i].is_some() { None } else { Some(values[i]) },
            stores: table.per_store[i].values().filter(|v| **v != 0).count(),
            suppressed: why[i].clone(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(a: &str, b: &str, c: &str) -> Key {
        [a.into(), b.into(), c.into()]
    }

    #[test]
    fn the_p_percent_rule_and_the_minimum_count() {
        let r = Rules::default();
        let m = |v: &[i64]| v.iter().enumerate().map(|(i, x)| (format!("s{i}"), *x)).collect::<BTreeMap<_, _>>();
        assert_eq!(primary_unsafe(&m(&[10, 10, 10, 10]), &r), Some(Why::TooFewStores));
        assert_eq!(primary_unsafe(&m(&[1000, 50, 10, 10, 10, 10]), &r), Some(Why::Dominance), "40 < 10 % of 1000");
        assert_eq!(primary_unsafe(&m(&[1000, 50, 40, 30, 20, 10]), &r), None, "100 ≥ 100");
        assert_eq!(primary_unsafe(&m(&[]), &r), None);
    }

    #[test]
    fn a_lone_suppressed_cell_gets_a_partner_in_every_total_it_is_in() {
        let mut base = Contributions::new();
        for (region, cat, stores) in [("ON", "flower", 6), ("ON", "edible", 2), ("BC", "flower", 7), ("BC", "edible", 6)] {
            base.insert(key(region, cat, "2026-11"), (0..stores).map(|s| (format!("{region}{s}"), 100 + s as i64)).collect());
        }
        let cells = protect(&base, &Rules::default());
        let hidden: Vec<&Cell> = cells.iter().filter(|c| c.suppressed.is_some()).collect();
        assert!(hidden.iter().any(|c| c.key == key("ON", "edible", "2026-11") && c.suppressed == Some(Why::TooFewStores)));
        assert!(hidden.len() >= 4, "a 2×2 table needs a rectangle of suppressions: {hidden:?}");
    }
}
