//! Purchase-limit and age checks: pure functions of a rule pack, a cart and the evidence.

use crate::catalog::LimitFacts;
use crate::rules::{Limit, Measure, RulePack, Scope};
use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

/// One cart line as the limits see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitLine {
    pub facts: LimitFacts,
    pub quantity: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AgeEvidence {
    /// The budtender checked ID and confirms the customer is of age.
    pub confirmed: bool,
    /// Optional date of birth read from the ID; never stored.
    pub birth_date: Option<NaiveDate>,
}

/// A violation with its sentence for people, as refusals and quotes show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ExplainedViolation {
    #[serde(flatten)]
    pub violation: Violation,
    pub message: String,
}

impl From<Violation> for ExplainedViolation {
    fn from(violation: Violation) -> Self {
        ExplainedViolation { message: violation.message(), violation }
    }
}

/// Why a sale is refused. Every violated rule is listed, not just the first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum Violation {
    AgeNotConfirmed {
        min_age: u32,
    },
    UnderAge {
        min_age: u32,
        age: u32,
    },
    CustomerIdRequired {
        limit_id: String,
    },
    LimitExceeded {
        limit_id: String,
        label: String,
        unit: String,
        max: i64,
        attempted: i64,
        excess: i64,
    },
    /// A product lacks the measure a limit needs (e.g. THC content): the sale cannot be checked.
    Unmeasurable {
        limit_id: String,
        class: String,
        measure: String,
    },
}

impl Violation {
    pub fn message(&self) -> String {
        match self {
            Violation::AgeNotConfirmed { min_age } => format!("confirm the customer is at least {min_age} (check ID)"),
            Violation::UnderAge { min_age, age } => format!("customer is {age}; the minimum age is {min_age}"),
            Violation::CustomerIdRequired { limit_id } => {
                format!("limit '{limit_id}' counts per customer per day: scan or enter the customer's ID")
            }
            Violation::LimitExceeded { label, unit, max, attempted, excess, .. } => {
                format!("{label}: {attempted} {unit} of {max} {unit}, over by {excess} {unit}")
            }
            Violation::Unmeasurable { limit_id, class, measure } => {
                format!("limit '{limit_id}' needs {measure} for {class} products; complete the product record")
            }
        }
    }
}

/// How much of each limit a cart (plus the customer's earlier purchases today, for per-day limits) uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LimitUsage {
    pub limit_id: String,
    pub label: String,
    pub unit: String,
    pub max: i64,
    /// Used, rounded up to the unit.
    pub used: i64,
}

/// Age in whole years on `on`.
pub fn age_on(birth: NaiveDate, on: NaiveDate) -> u32 {
    let mut years = on.year() - birth.year();
    if (on.month(), on.day()) < (birth.month(), birth.day()) {
        years -= 1;
    }
    years.max(0) as u32
}

fn gcd(a: i128, b: i128) -> i128 {
    if b == 0 {
        a.abs()
    } else {
        gcd(b, a % b)
    }
}

fn amount(facts: &LimitFacts, measure: Measure) -> Option<i64> {
    match measure {
        Measure::NetWeightMg => facts.net_weight_mg,
        Measure::NetContentMg => facts.net_weight_mg.or(facts.net_volume_ml.map(|ml| ml * 1000)),
        Measure::NetVolumeMl => facts.net_volume_ml,
        Measure::ThcMg => facts.thc_mg,
        Measure::Units => Some(1),
    }
}

fn measure_name(m: Measure) -> &'static str {
    match m {
        Measure::NetWeightMg => "net weight",
        Measure::NetContentMg => "net weight or volume",
        Measure::NetVolumeMl => "net volume",
        Measure::ThcMg => "THC content",
        Measure::Units => "a count",
    }
}

/// Sum of the lines' contributions to `limit`, exactly, as (total × scale, scale).
fn contribution(limit: &Limit, lines: &[LimitLine], violations: &mut Vec<Violation>) -> (i128, i128) {
    let scale = limit.terms.iter().fold(1i128, |acc, t| acc / gcd(acc, t.den as i128) * t.den as i128);
    let mut total: i128 = 0;
    for line in lines {
        for term in limit.terms.iter().filter(|t| t.class == line.facts.class) {
            match amount(&line.facts, term.measure) {
                Some(a) => {
                    total += a as i128 * line.quantity as i128 * term.num as i128 * (scale / term.den as i128);
                }
                None => {
                    let v = Violation::Unmeasurable {
                        limit_id: limit.id.clone(),
                        class: line.facts.class.as_str().to_string(),
                        measure: measure_name(term.measure).to_string(),
                    };
                    if !violations.contains(&v) {
                        violations.push(v);
                    }
                }
            }
        }
    }
    (total, scale)
}

fn ceil_div(a: i128, b: i128) -> i64 {
    let q = a / b;
    (if a % b > 0 { q + 1 } else { q }) as i64
}

/// Checks a cart against the pack's age rule and every limit.
/// `earlier_today` are the same customer's lines already sold today (used only by per-day limits);
/// `customer_identified` says whether the sale carries a customer identity for those limits.
pub fn check_sale(
    pack: &RulePack,
    cart: &[LimitLine],
    earlier_today: &[LimitLine],
    customer_identified: bool,
    age: AgeEvidence,
    local_date: NaiveDate,
) -> Result<Vec<LimitUsage>, Vec<Violation>> {
    let mut violations = Vec::new();
    if !age.confirmed {
        violations.push(Violation::AgeNotConfirmed { min_age: pack.min_age });
    }
    if let Some(birth) = age.birth_date {
        let years = age_on(birth, local_date);
        if years < pack.min_age {
            violations.push(Violation::UnderAge { min_age: pack.min_age, age: years });
        }
    }
    let usage = limit_usage(pack, cart, earlier_today, &mut violations);
    for (limit, used) in pack.limits.iter().zip(&usage) {
        let touches_cart = cart.iter().any(|l| limit.terms.iter().any(|t| t.class == l.facts.class));
        if limit.scope == Scope::CustomerDay && !customer_identified && touches_cart {
            violations.push(Violation::CustomerIdRequired { limit_id: limit.id.clone() });
        }
        if used.exact_over {
            violations.push(Violation::LimitExceeded {
                limit_id: limit.id.clone(),
                label: limit.label.clone(),
                unit: limit.unit.clone(),
                max: limit.max,
                attempted: used.usage.used,
                excess: used.excess,
            });
        }
    }
    if violations.is_empty() {
        Ok(usage.into_iter().map(|u| u.usage).collect())
    } else {
        Err(violations)
    }
}

struct Used {
    usage: LimitUsage,
    exact_over: bool,
    excess: i64,
}

fn limit_usage(pack: &RulePack, cart: &[LimitLine], earlier_today: &[LimitLine], violations: &mut Vec<Violation>) -> Vec<Used> {
    pack.limits
        .iter()
        .map(|limit| {
            let (mut total, scale) = contribution(limit, cart, violations);
            if limit.scope == Scope::CustomerDay {
                total += contribution(limit, earlier_today, &mut Vec::new()).0;
            }
            let cap = limit.max as i128 * scale;
            Used {
                usage: LimitUsage {
                    limit_id: limit.id.clone(),
                    label: limit.label.clone(),
                    unit: limit.unit.clone(),
                    max: limit.max,
                    used: ceil_div(total, scale),
                },
                exact_over: total > cap,
                excess: if total > cap { ceil_div(total - cap, scale) } else { 0 },
            }
        })
        .collect()
}

/// The limit meter: usage of every limit without refusing (for the register display).
pub fn meter(pack: &RulePack, cart: &[LimitLine], earlier_today: &[LimitLine]) -> Vec<LimitUsage> {
    limit_usage(pack, cart, earlier_today, &mut Vec::new()).into_iter().map(|u| u.usage).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::ProductClass;
    use crate::rules::RuleBook;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }
    fn line(class: ProductClass, mg: i64, thc: i64, qty: i64) -> LimitLine {
        LimitLine { facts: LimitFacts { class, net_weight_mg: Some(mg), net_volume_ml: None, thc_mg: Some(thc) }, quantity: qty }
    }
    const OK: AgeEvidence = AgeEvidence { confirmed: true, birth_date: None };

    #[test]
    fn sale_over_the_ontario_limit_is_refused_with_the_excess() {
        let book = RuleBook::builtin().unwrap();
        let on = book.pack_for("CA-ON", d(2026, 11, 22)).unwrap();
        // 8 × 3.5 g flower = 28 g, plus 1 g concentrate = 4 g equivalent → 32 g: 2 g over.
        let cart = [line(ProductClass::Dried, 3_500, 0, 8), line(ProductClass::Concentrate, 1_000, 0, 1)];
        let err = check_sale(on, &cart, &[], false, OK, d(2026, 11, 22)).unwrap_err();
        assert_eq!(
            err,
            vec![Violation::LimitExceeded {
                limit_id: "dried_equivalent".into(),
                label: "30 g dried-cannabis equivalent per transaction".into(),
                unit: "mg".into(),
                max: 30_000,
                attempted: 32_000,
                excess: 2_000
            }]
        );
        // exactly at the limit is allowed: 26 g + 1 g concentrate (4 g) = 30 g
        let cart = [line(ProductClass::Dried, 13_000, 0, 2), line(ProductClass::Concentrate, 1_000, 0, 1)];
        assert_eq!(check_sale(on, &cart, &[], false, OK, d(2026, 11, 22)).unwrap()[0].used, 30_000);
    }

    #[test]
    fn colorado_combines_flower_concentrate_and_thc_by_equivalency() {
        let book = RuleBook::builtin().unwrap();
        let co = book.pack_for("US-CO", d(2026, 11, 22)).unwrap();
        // 400 mg THC (half of 800) + 4 g concentrate (half of 8) = exactly the limit.
        let cart = [line(ProductClass::Edible, 50_000, 100, 4), line(ProductClass::Concentrate, 1_000, 0, 4)];
        assert!(check_sale(co, &cart, &[], false, OK, d(2026, 11, 22)).is_ok());
        let cart = [line(ProductClass::Edible, 50_000, 100, 4), line(ProductClass::Concentrate, 1_000, 0, 5)];
        assert!(check_sale(co, &cart, &[], false, OK, d(2026, 11, 22)).is_err());
    }

    #[test]
    fn california_counts_the_customers_whole_day_and_needs_their_id() {
        let book = RuleBook::builtin().unwrap();
        let ca = book.pack_for("US-CA", d(2026, 11, 22)).unwrap();
        let earlier = [line(ProductClass::Concentrate, 1_000, 0, 6)];
        let cart = [line(ProductClass::Concentrate, 1_000, 0, 3)];
        let err = check_sale(ca, &cart, &earlier, true, OK, d(2026, 11, 22)).unwrap_err();
        assert!(matches!(&err[0], Violation::LimitExceeded { limit_id, excess: 1_000, .. } if limit_id == "concentrated"));
        let err = check_sale(ca, &cart, &[], false, OK, d(2026, 11, 22)).unwrap_err();
        assert_eq!(err, vec![Violation::CustomerIdRequired { limit_id: "concentrated".into() }]);
    }

    #[test]
    fn washington_checks_each_class_separately_and_lists_every_violation() {
        let book = RuleBook::builtin().unwrap();
        let wa = book.pack_for("US-WA", d(2026, 11, 22)).unwrap();
        let cart = [line(ProductClass::Dried, 28_350, 0, 1), line(ProductClass::Concentrate, 7_000, 0, 1)];
        assert!(check_sale(wa, &cart, &[], false, OK, d(2026, 11, 22)).is_ok());
        let cart = [line(ProductClass::Dried, 28_351, 0, 1), line(ProductClass::Concentrate, 8_000, 0, 1)];
        let err = check_sale(wa, &cart, &[], false, AgeEvidence::default(), d(2026, 11, 22)).unwrap_err();
        assert_eq!(err.len(), 3, "{err:?}");
    }

    #[test]
    fn age_is_counted_in_whole_years_on_the_local_date() {
        let book = RuleBook::builtin().unwrap();
        let on = book.pack_for("CA-ON", d(2026, 11, 22)).unwrap();
        let born = d(2007, 11, 23); // turns 19 tomorrow
        let ev = AgeEvidence { confirmed: true, birth_date: Some(born) };
        assert_eq!(check_sale(on, &[], &[], false, ev, d(2026, 11, 22)).unwrap_err(), vec![Violation::UnderAge { min_age: 19, age: 18 }]);
        assert!(check_sale(on, &[], &[], false, ev, d(2026, 11, 23)).is_ok());
    }
}
