//! The store's own readers of outside input (named in ARCHITECTURE.md): the retailer key file,
//! the witness file as the store reads it from its folder, and the JSON bodies of its API as
//! the handlers receive them. Arbitrary bytes and Unicode: an answer, never a panic. 100,000
//! cases per property, or `STOCKADE_FUZZ_CASES`.

use proptest::prelude::*;
use stockade_store::cart::CartQuoteRequest;
use stockade_store::commands::{AdjustRequest, CountRequest, ReceiveRequest, SaleRequest};
use stockade_store::customers::{parse_key, CustomerInput};
use stockade_store::orders::OrderRequest;

fn config() -> ProptestConfig {
    let cases = std::env::var("STOCKADE_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000);
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![proptest::collection::vec(any::<u8>(), 0..400), any::<String>().prop_map(String::into_bytes), "\\PC{0,200}".prop_map(String::into_bytes),]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn retailer_key_files(s in any::<String>(), key in any::<[u8; 32]>()) {
        let _ = parse_key(&s);
        prop_assert_eq!(parse_key(&format!(" {}\n", hex::encode(key))), Some(key));
    }

    #[test]
    fn request_bodies_of_any_bytes(b in bytes()) {
        let _ = serde_json::from_slice::<SaleRequest>(&b);
        let _ = serde_json::from_slice::<OrderRequest>(&b);
        let _ = serde_json::from_slice::<ReceiveRequest>(&b);
        let _ = serde_json::from_slice::<AdjustRequest>(&b);
        let _ = serde_json::from_slice::<CountRequest>(&b);
        let _ = serde_json::from_slice::<CustomerInput>(&b);
        let _ = serde_json::from_slice::<CartQuoteRequest>(&b);
    }
}
