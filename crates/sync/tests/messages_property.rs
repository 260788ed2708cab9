//! Every message a store or HQ reads from the other (named in ARCHITECTURE.md) — requests'
//! signature headers, pushes, journal and registry pages, HQ entries handed to a store — fed
//! arbitrary bytes and Unicode: refused or read, never a panic. 100,000 cases per property, or
//! `STOCKADE_FUZZ_CASES`.

use proptest::prelude::*;
use stockade_store::evidence::HqTrust;
use stockade_sync::{
    check_registry_page, verify_publication, verify_request, Addressee, CatalogPage, EnrollRequest, JournalPage, Publication, PushRequest, RegistryPage,
};

fn config() -> ProptestConfig {
    let cases = std::env::var("STOCKADE_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000);
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![proptest::collection::vec(any::<u8>(), 0..400), any::<String>().prop_map(String::into_bytes), "\\PC{0,200}".prop_map(String::into_bytes),]
}

/// JSON shaped like a publication, with arbitrary values where the fields go.
fn publication() -> impl Strategy<Value = Publication> {
    (any::<u64>(), any::<u64>(), any::<String>(), "[0-9a-f]{0,130}|\\PC{0,20}").prop_map(|(hq_seq, seq, entry, signature)| Publication {
        hq_seq,
        seq,
        entry,
        signature,
    })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn wire_bodies_of_any_bytes(b in bytes()) {
        let _ = serde_json::from_slice::<PushRequest>(&b);
        let _ = serde_json::from_slice::<EnrollRequest>(&b);
        let _ = serde_json::from_slice::<JournalPage>(&b);
        let _ = serde_json::from_slice::<RegistryPage>(&b);
        let _ = serde_json::from_slice::<CatalogPage>(&b);
    }

    #[test]
    fn signed_request_headers(method in "\\PC{0,8}", path in "\\PC{0,60}", time in "\\PC{0,30}|-?[0-9]{1,25}", signature in "\\PC{0,140}|[0-9a-f]{128}", body in bytes(), now in any::<i64>(), skew in any::<i64>()) {
        let key = ed25519_dalek::SigningKey::from_bytes(&[4u8; 32]).verifying_key();
        prop_assert!(verify_request(&key, &method, &path, &time, &signature, &body, now, skew).is_err(), "nothing unsigned passes");
    }

    #[test]
    fn hq_entries_handed_to_a_store(p in publication(), last in any::<u64>()) {
        let key = ed25519_dalek::SigningKey::from_bytes(&[6u8; 32]).verifying_key();
        prop_assert!(verify_publication(&key, Addressee::Retailer(""), last, &p).is_err(), "nothing unsigned passes");
        let to = Addressee::Store { retailer: "r", store: "s" };
        prop_assert!(verify_publication(&key, to, last, &p).is_err(), "nothing unsigned passes");
    }

    #[test]
    fn registry_pages(entries in proptest::collection::vec(publication(), 0..4), next_after in any::<u64>(), rebuilt_at in any::<Option<u64>>(), after in any::<u64>()) {
        let key = ed25519_dalek::SigningKey::from_bytes(&[6u8; 32]).verifying_key();
        let trust = HqTrust { keys: vec![key], root: None, after, rebuilt_at: 0 };
        let page = RegistryPage { entries, next_after, rebuilt_at };
        let _ = check_registry_page("hq", &trust, &page);
    }
}
