//! Jurisdiction rule packs: data files with an effective date and a source line.
//! The built-in packs are the TOML files in `crates/domain/rules/`, embedded at build time;
//! a deployment may load its own with [`RulePack::from_toml`].

use crate::catalog::{ProductClass, TaxClass};
use crate::money::Currency;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Counted over one sale.
    Transaction,
    /// Counted over all of one customer's purchases in the store's local calendar day.
    CustomerDay,
}

/// How one unit of a product is measured for a limit term.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Measure {
    NetWeightMg,
    /// Net weight, or for liquids without one, the volume taken as 1 ml = 1 g.
    NetContentMg,
    NetVolumeMl,
    ThcMg,
    Units,
}

/// `class` counts toward the limit as `measure × num / den`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Term {
    pub class: ProductClass,
    pub measure: Measure,
    pub num: i64,
    pub den: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Limit {
    pub id: String,
    pub label: String,
    pub scope: Scope,
    /// Unit of `max`, for display ("mg", "ml", "plants").
    pub unit: String,
    pub max: i64,
    pub terms: Vec<Term>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Tax {
    pub id: String,
    pub label: String,
    /// Rate in parts per million (13 % = 130000).
    pub rate_ppm: i64,
    pub applies_to: Vec<TaxClass>,
    /// Charged on the price plus the taxes listed before it.
    #[serde(default)]
    pub compound: bool,
    /// Must be itemized on its own receipt line (e.g. Washington's excise).
    #[serde(default)]
    pub separate_on_receipt: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RulePack {
    pub id: String,
    pub name: String,
    pub effective_from: NaiveDate,
    pub source: String,
    pub currency: Currency,
    pub timezone: String,
    pub min_age: u32,
    #[serde(default)]
    pub limits: Vec<Limit>,
    #[serde(default)]
    pub taxes: Vec<Tax>,
}

#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    #[error("rule pack is not valid TOML: {0}")]
    Parse(String),
    #[error("rule pack {pack}: {message}")]
    Invalid { pack: String, message: String },
    #[error("no rule pack for jurisdiction '{0}' (known: {1})")]
    UnknownJurisdiction(String, String),
    #[error("no rule pack for '{0}' is in effect on {1}")]
    NotInEffect(String, NaiveDate),
}

const BUILTIN: &[&str] = &[
    include_str!("../rules/ca-on.toml"),
    include_str!("../rules/us-co.toml"),
    include_str!("../rules/us-ca.toml"),
    include_str!("../rules/us-wa.toml"),
    include_str!("../rules/us-ma.toml"),
    include_str!("../rules/us-mi.toml"),
];

impl RulePack {
    pub fn from_toml(text: &str) -> Result<RulePack, RuleError> {
        let pack: RulePack = toml::from_str(text).map_err(|e| RuleError::Parse(e.to_string()))?;
        pack.check()?;
        Ok(pack)
    }

    fn check(&self) -> Result<(), RuleError> {
        let bad = |message: String| Err(RuleError::Invalid { pack: self.id.clone(), message });
        if self.timezone.parse::<chrono_tz::Tz>().is_err() {
            return bad(format!("unknown time zone '{}'", self.timezone));
        }
        if !(16..=25).contains(&self.min_age) {
            return bad(format!("minimum age {} is implausible", self.min_age));
        }
        let mut ids = std::collections::HashSet::new();
        for l in &self.limits {
            if !ids.insert(&l.id) {
                return bad(format!("limit id '{}' is used twice", l.id));
            }
            if l.max <= 0 || l.terms.is_empty() {
                return bad(format!("limit '{}' needs a positive max and at least one term", l.id));
            }
            for t in &l.terms {
                if t.num <= 0 || t.den <= 0 || t.num > 1_000_000 || t.den > 1_000_000 {
                    return bad(format!("limit '{}': factors must be positive and at most 1,000,000", l.id));
                }
            }
        }
        for t in &self.taxes {
            if !(0..=1_000_000).contains(&t.rate_ppm) {
                return bad(format!("tax '{}': rate must be between 0 and 1,000,000 ppm", t.id));
            }
        }
        Ok(())
    }

    pub fn tz(&self) -> chrono_tz::Tz {
        // Checked in `check`; UTC is only reachable for a pack built by hand in code.
        self.timezone.parse().unwrap_or(chrono_tz::UTC)
    }

    pub fn has_customer_scope(&self) -> bool {
        self.limits.iter().any(|l| l.scope == Scope::CustomerDay)
    }
}

/// All known packs, every version.
#[derive(Debug, Clone)]
pub struct RuleBook {
    packs: Vec<RulePack>,
}

impl RuleBook {
    pub fn builtin() -> Result<RuleBook, RuleError> {
        let packs = BUILTIN.iter().map(|t| RulePack::from_toml(t)).collect::<Result<Vec<_>, _>>()?;
        Ok(RuleBook { packs })
    }

    pub fn with_pack(mut self, pack: RulePack) -> RuleBook {
        self.packs.push(pack);
        self
    }

    pub fn jurisdictions(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.packs.iter().map(|p| p.id.clone()).collect();
        ids.sort();
        ids.dedup();
        ids
    }

    /// The version of `jurisdiction`'s pack in effect on `date`: the latest `effective_from` not after it.
    pub fn pack_for(&self, jurisdiction: &str, date: NaiveDate) -> Result<&RulePack, RuleError> {
        let versions: Vec<&RulePack> = self.packs.iter().filter(|p| p.id.eq_ignore_ascii_case(jurisdiction)).collect();
        if versions.is_empty() {
            return Err(RuleError::UnknownJurisdiction(jurisdiction.to_string(), self.jurisdictions().join(", ")));
        }
        versions.into_iter().filter(|p| p.effective_from <= date).max_by_key(|p| p.effective_from).ok_or(RuleError::NotInEffect(jurisdiction.to_string(), date))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_packs_load_and_cover_the_required_jurisdictions() {
        let book = RuleBook::builtin().unwrap();
        for id in ["CA-ON", "US-CO", "US-CA", "US-WA"] {
            let d = NaiveDate::from_ymd_opt(2026, 11, 22).unwrap();
            let p = book.pack_for(id, d).unwrap();
            assert!(!p.source.is_empty());
            assert!(!p.limits.is_empty());
        }
    }

    #[test]
    fn the_version_in_effect_is_chosen_by_date() {
        let old = RulePack::from_toml(&include_str!("../rules/ca-on.toml").replace("2023-01-01", "2019-04-01").replace("den = 570", "den = 70")).unwrap();
        let book = RuleBook::builtin().unwrap().with_pack(old);
        let before = book.pack_for("CA-ON", NaiveDate::from_ymd_opt(2020, 1, 1).unwrap()).unwrap();
        let after = book.pack_for("ca-on", NaiveDate::from_ymd_opt(2024, 1, 1).unwrap()).unwrap();
        let bev = |p: &RulePack| p.limits[0].terms.iter().find(|t| t.class == ProductClass::Beverage).unwrap().den;
        assert_eq!(bev(before), 70);
        assert_eq!(bev(after), 570);
        assert!(matches!(book.pack_for("CA-ON", NaiveDate::from_ymd_opt(2018, 1, 1).unwrap()), Err(RuleError::NotInEffect(..))));
        assert!(matches!(book.pack_for("XX", NaiveDate::from_ymd_opt(2024, 1, 1).unwrap()), Err(RuleError::UnknownJurisdiction(..))));
    }

    #[test]
    fn an_invalid_pack_is_refused_with_the_reason() {
        let text = include_str!("../rules/us-wa.toml").replace("den = 1 }", "den = 0 }");
        let err = RulePack::from_toml(&text).unwrap_err().to_string();
        assert!(err.contains("factors must be positive"), "{err}");
    }
}
