//! The journal's stored bytes are forever. These entries were written by release r1 (copied
//! verbatim from the golden fixtures in `crates/cli/tests/golden/r1`): one of every store and HQ
//! event kind (and several shapes of `sale_recorded`). Every later release must read each one as
//! its kind (never as unknown) and, for kinds it still writes, write exactly the same bytes for
//! the same event. A change to a released kind's encoding fails here; the fix is a new version
//! (`sale_recorded_v2`), pinned in a new file, never an edit of these.

use sha2::{Digest, Sha256};
use stockade_journal::hq_event::{HqEnvelope, HqEvent};
use stockade_journal::{Envelope, Event};

const STORE_R1: &str = include_str!("pinned/store-r1.jsonl");
/// Kinds added by release 3 (`entry_reconciled`).
const STORE_R3: &str = include_str!("pinned/store-r3.jsonl");
const HQ_R1: &str = include_str!("pinned/hq-r1.jsonl");
/// HQ kinds added by release 4 (root key, key rotation, rebuild from the stores).
const HQ_R4: &str = include_str!("pinned/hq-r4.jsonl");

fn sha(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

#[test]
fn the_pinned_files_are_the_released_bytes() {
    // Editing a pinned file to make a test pass is the one change this test exists to stop.
    assert_eq!(sha(STORE_R1), "cb7859d66e984bd574d4c2ba7bcd8f75ef5889afd064fce218ceaf2c04d2d8a4");
    assert_eq!(sha(HQ_R1), "40c03da2f81a84872c1600688947cd9fad37cf45c7c65c4409a8cf9e30961ce2");
    assert_eq!(sha(STORE_R3), "6d271e1109a7d925751d53164b7ad635af8f41c917573443a61f9a1434ed49a4");
    assert_eq!(sha(HQ_R4), "ae0f84cabb00d011301ebaefd806859f6f610267b9893d4bec9ecd2a78631bd8");
}

#[test]
fn every_store_kind_of_r1_reads_as_itself_and_is_written_back_byte_for_byte() {
    let mut seen = std::collections::BTreeSet::new();
    for line in STORE_R1.lines().chain(STORE_R3.lines()) {
        let env = Envelope::decode(line.as_bytes()).unwrap_or_else(|e| panic!("pinned entry unreadable: {e}: {line}"));
        assert!(!matches!(env.event, Event::Unknown(_)), "r1 kind read as unknown: {line}");
        assert_eq!(env.encode().unwrap(), line.as_bytes(), "this release would write {} differently", env.event.kind());
        seen.insert(env.event.kind().to_string());
    }
    let all: std::collections::BTreeSet<String> = Event::KINDS.iter().map(|k| k.to_string()).collect();
    assert_eq!(seen, all, "every kind this release knows has a pinned entry (a new kind or version adds one in a new file)");
}

#[test]
fn every_hq_kind_of_r1_reads_as_itself_and_is_written_back_byte_for_byte() {
    let mut seen = std::collections::BTreeSet::new();
    for line in HQ_R1.lines().chain(HQ_R4.lines()) {
        let env = HqEnvelope::decode(line.as_bytes()).unwrap_or_else(|e| panic!("r1 HQ entry unreadable: {e}: {line}"));
        assert!(!matches!(env.event, HqEvent::Unknown(_)), "r1 kind read as unknown: {line}");
        assert_eq!(env.encode().unwrap(), line.as_bytes(), "this release would write {} differently", env.event.kind());
        seen.insert(env.event.kind().to_string());
    }
    let all: std::collections::BTreeSet<String> = HqEvent::KINDS.iter().map(|k| k.to_string()).collect();
    assert_eq!(seen, all);
}

#[test]
fn domain_values_round_trip_through_the_stored_types_without_changing_the_bytes() {
    // The edge conversions (domain → stored → domain → stored) keep every r1 entry's bytes.
    for line in STORE_R1.lines() {
        let env = Envelope::decode(line.as_bytes()).unwrap();
        let event = match env.event.clone() {
            Event::ProductCreated { product_id, spec } => {
                let d: stockade_domain::catalog::ProductSpec = spec.into();
                Event::ProductCreated { product_id, spec: d.into() }
            }
            Event::SaleRecorded { sale_id, sale_no, till_id, idempotency_key, request_digest, customer_hash, lines, totals, tenders, settlement } => {
                let t: stockade_domain::pricing::Totals = totals.into();
                let s: stockade_domain::pricing::Settlement = settlement.into();
                let tn: Vec<stockade_domain::pricing::Tender> = tenders.into_iter().map(Into::into).collect();
                Event::SaleRecorded {
                    sale_id,
                    sale_no,
                    till_id,
                    idempotency_key,
                    request_digest,
                    customer_hash,
                    lines,
                    totals: t.into(),
                    tenders: tn.into_iter().map(Into::into).collect(),
                    settlement: s.into(),
                }
            }
            other => other,
        };
        let again = Envelope { event, ..env };
        assert_eq!(again.encode().unwrap(), line.as_bytes());
    }
}

#[test]
fn every_stored_enum_spelling_is_r1s() {
    // Release r1's spellings (its domain enums' serde names at bec1a23), for every variant: the
    // pinned entries show only some of them.
    use stockade_journal::payload::*;
    fn spelled<T: serde::Serialize>(all: &[T]) -> Vec<String> {
        all.iter().map(|k| serde_json::to_string(k).unwrap().trim_matches('"').to_string()).collect()
    }
    assert_eq!(spelled(ProductClass::ALL), ["dried", "fresh", "edible", "topical", "non_solid", "beverage", "concentrate", "seed", "plant", "non_cannabis"]);
    assert_eq!(spelled(TaxClass::ALL), ["cannabis", "general"]);
    assert_eq!(spelled(TenderKind::ALL), ["cash", "debit", "credit", "gift_card"]);
    assert_eq!(spelled(AdjustReason::ALL), ["damage", "theft", "expired", "entry_error", "sample", "destruction", "recall", "found"]);
    assert_eq!(spelled(OrderKind::ALL), ["pickup", "delivery"]);
    assert_eq!(spelled(OrderStatus::ALL), ["placed", "accepted", "picked", "ready", "out_for_delivery", "completed", "cancelled", "expired", "refused"]);
    // And each reads back as itself.
    for s in spelled(OrderStatus::ALL) {
        let back: OrderStatus = serde_json::from_str(&format!("\"{s}\"")).unwrap();
        assert_eq!(back.as_str(), s);
    }
}
