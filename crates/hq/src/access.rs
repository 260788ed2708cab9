//! Who may do what at head office. Pure rules, no I/O: every HQ use case asks [`decide`] with the
//! caller and the action, and anything not allowed here is denied.
//!
//! Roles (store staff — managers and budtenders — live on the store nodes):
//! - **admin**: runs HQ: retailers, stores, users, catalog publications, every report.
//! - **analyst** (the wholesaler): reports across retailers; store-level sales only for retailers
//!   whose agreement shares them, otherwise per-retailer aggregates.
//! - **owner** (a retailer owner): their own retailer's stores only, at store level.
//! - **auditor**: reads everything, changes nothing; every read is in the audit log.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HqRole {
    Admin,
    Analyst,
    Owner,
    Auditor,
}

impl HqRole {
    pub const ALL: [HqRole; 4] = [HqRole::Admin, HqRole::Analyst, HqRole::Owner, HqRole::Auditor];

    pub fn as_str(self) -> &'static str {
        match self {
            HqRole::Admin => "admin",
            HqRole::Analyst => "analyst",
            HqRole::Owner => "owner",
            HqRole::Auditor => "auditor",
        }
    }
    pub fn parse(s: &str) -> Option<HqRole> {
        HqRole::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// An authenticated HQ user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    pub user_id: String,
    pub name: String,
    pub role: HqRole,
    /// The one retailer an owner belongs to; `None` for the other roles.
    pub retailer_id: Option<String>,
}

impl Principal {
    /// Whoever runs `stockade hq …` on HQ's own machine, with its key file and database: the
    /// root of trust that creates the first administrator.
    pub fn local_admin() -> Principal {
        Principal { user_id: "local-admin".into(), name: "local administrator (command line)".into(), role: HqRole::Admin, retailer_id: None }
    }
}

/// What a caller asks to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action<'a> {
    /// Stores' sync state, lag and integrity, and alerts.
    ViewStatus,
    /// Sales and stock figures; `retailer` is the one asked for, or all when `None`.
    ReadSales {
        retailer: Option<&'a str>,
    },
    /// Retailers, stores, enrolment codes, catalog publications.
    ManageStores {
        retailer: &'a str,
    },
    ManageUsers,
    ReadAudit,
    /// Market reports: aggregates under disclosure control, fit for the whole industry.
    ReadMarket,
    /// Turn a store's replenishment proposals into a purchase order.
    ApproveOrders {
        retailer: &'a str,
    },
}

/// How much of the asked-for data the caller may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Everything asked for.
    All,
    /// Only this retailer's data.
    Retailer(String),
    /// Store-level rows only for retailers in `store_level`; the others as retailer totals.
    Aggregated { store_level: Vec<String> },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allow(Scope),
    Deny(&'static str),
}

/// The rules. `sharing` lists the retailers whose agreement lets the wholesaler see store-level
/// sales.
pub fn decide(p: &Principal, action: &Action<'_>, sharing: &[String]) -> Decision {
    use Decision::*;
    match (p.role, action) {
        (HqRole::Admin, _) => Allow(Scope::All),
        (_, Action::ReadMarket) => Allow(Scope::All),
        (HqRole::Auditor, Action::ViewStatus | Action::ReadSales { .. } | Action::ReadAudit) => Allow(Scope::All),
        (HqRole::Auditor, _) => Deny("auditors read; they change nothing"),
        (HqRole::Analyst, Action::ViewStatus) => Allow(Scope::All),
        // The wholesaler replenishes the stores whose agreement shares their store-level sales
        // (a proposal is store-level demand).
        (HqRole::Analyst, Action::ApproveOrders { retailer }) if sharing.iter().any(|r| r == retailer) => Allow(Scope::Retailer(retailer.to_string())),
        (HqRole::Analyst, Action::ApproveOrders { .. }) => Deny("this retailer does not share store-level data with the wholesaler"),
        (HqRole::Analyst, Action::ReadSales { .. }) => Allow(Scope::Aggregated { store_level: sharing.to_vec() }),
        (HqRole::Analyst, _) => Deny("analysts read reports only"),
        (HqRole::Owner, Action::ViewStatus) => owner_scope(p, None),
        (HqRole::Owner, Action::ReadSales { retailer }) => owner_scope(p, *retailer),
        (HqRole::Owner, Action::ApproveOrders { retailer }) => owner_scope(p, Some(retailer)),
        (HqRole::Owner, _) => Deny("retailer owners read their own retailer's reports only"),
    }
}

fn owner_scope(p: &Principal, asked: Option<&str>) -> Decision {
    match (&p.retailer_id, asked) {
        (None, _) => Decision::Deny("this owner account has no retailer"),
        (Some(own), Some(asked)) if own != asked => Decision::Deny("that is another retailer's data"),
        (Some(own), _) => Decision::Allow(Scope::Retailer(own.clone())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who(role: HqRole, retailer: Option<&str>) -> Principal {
        Principal { user_id: "u".into(), name: "n".into(), role, retailer_id: retailer.map(str::to_string) }
    }

    #[test]
    fn owners_see_only_their_retailer_and_analysts_see_store_level_only_where_shared() {
        let sharing = vec!["acme".to_string()];
        let owner = who(HqRole::Owner, Some("acme"));
        assert_eq!(decide(&owner, &Action::ReadSales { retailer: None }, &sharing), Decision::Allow(Scope::Retailer("acme".into())));
        assert!(matches!(decide(&owner, &Action::ReadSales { retailer: Some("other") }, &sharing), Decision::Deny(_)));
        assert!(matches!(decide(&owner, &Action::ManageUsers, &sharing), Decision::Deny(_)));
        let analyst = who(HqRole::Analyst, None);
        assert_eq!(decide(&analyst, &Action::ReadSales { retailer: None }, &sharing), Decision::Allow(Scope::Aggregated { store_level: sharing.clone() }));
        assert!(matches!(decide(&analyst, &Action::ManageStores { retailer: "acme" }, &sharing), Decision::Deny(_)));
        let auditor = who(HqRole::Auditor, None);
        assert_eq!(decide(&auditor, &Action::ReadAudit, &sharing), Decision::Allow(Scope::All));
        assert!(matches!(decide(&auditor, &Action::ManageUsers, &sharing), Decision::Deny(_)));
        assert!(matches!(decide(&who(HqRole::Owner, None), &Action::ViewStatus, &sharing), Decision::Deny(_)));
    }

    #[test]
    fn purchase_orders_are_approved_by_the_owner_or_by_the_wholesaler_where_shared() {
        let sharing = vec!["acme".to_string()];
        let approve = |role, r: Option<&str>, retailer| decide(&who(role, r), &Action::ApproveOrders { retailer }, &sharing);
        assert_eq!(approve(HqRole::Analyst, None, "acme"), Decision::Allow(Scope::Retailer("acme".into())));
        assert!(matches!(approve(HqRole::Analyst, None, "other"), Decision::Deny(_)));
        assert_eq!(approve(HqRole::Owner, Some("other"), "other"), Decision::Allow(Scope::Retailer("other".into())));
        assert!(matches!(approve(HqRole::Owner, Some("other"), "acme"), Decision::Deny(_)));
        assert!(matches!(approve(HqRole::Auditor, None, "acme"), Decision::Deny(_)));
        assert_eq!(approve(HqRole::Admin, None, "acme"), Decision::Allow(Scope::All));
    }
}
