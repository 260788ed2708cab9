//! Every parser of outside input in `journal` (named in ARCHITECTURE.md) — journal entries,
//! HQ entries, backup files, witness files, tree heads, keys — fed arbitrary bytes and
//! Unicode: an answer, never a panic; round trips where there is a writer. 100,000 cases per
//! property, or `STOCKADE_FUZZ_CASES`.

use proptest::prelude::*;
use stockade_journal::backup::{self, Header, HqEntryCopy, HqEvidence, SignedCheckpoint};
use stockade_journal::event::Event;
use stockade_journal::hq_event::HqEnvelope;
use stockade_journal::tree::TreeHead;
use stockade_journal::witness::Witness;
use stockade_journal::{keyfile, verifying_key_from_hex, ChainVerifier, Envelope, StoredEntry, GENESIS};

fn config() -> ProptestConfig {
    let cases = std::env::var("STOCKADE_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000);
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![proptest::collection::vec(any::<u8>(), 0..400), any::<String>().prop_map(String::into_bytes), "\\PC{0,200}".prop_map(String::into_bytes),]
}

/// A valid five-entry journal, its backup text, and the pieces it was made from.
fn sample_backup(alert: &str) -> (String, Vec<(u64, Vec<u8>)>) {
    let mut prev = GENESIS;
    let mut entries = Vec::new();
    for seq in 1..=5u64 {
        let env = Envelope {
            v: 1,
            store: "s1".into(),
            seq,
            at_ms: 1_795_000_000_000 + seq as i64,
            actor: "system".into(),
            event: Event::SecurityAlert { alert_kind: "test".into(), message: format!("{alert} {seq}") },
        };
        let e = StoredEntry::seal(&env, prev).unwrap();
        prev = e.hash;
        entries.push((seq, e.bytes));
    }
    let header = Header { format: backup::FORMAT.into(), journal: "store".into(), id: "s1".into(), public_key: "00".into(), created_ms: 1 };
    let cps = vec![SignedCheckpoint { size: 5, head: hex::encode(prev), signature: "cd".into(), hq_signature: None }];
    let evidence = HqEvidence { hq_entries: vec![HqEntryCopy { hq_seq: 1, entry: "{}".into(), signature: "00".into() }], hq_seen: 1, ..Default::default() };
    (String::from_utf8(backup::encode_with(&header, &entries, &cps, &evidence)).unwrap(), entries)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn journal_entries_of_any_bytes(b in bytes()) {
        let _ = Envelope::decode(&b);
        let _ = HqEnvelope::decode(&b);
        let mut chain = ChainVerifier::new("s1");
        let _ = chain.push_bytes(1, &b);
    }

    /// An entry written with any text in it reads back as written, and chains.
    #[test]
    fn an_entry_reads_back_as_written(message in any::<String>(), actor in "\\PC{1,30}", at_ms in any::<i64>()) {
        let env = Envelope { v: 1, store: "s1".into(), seq: 1, at_ms, actor, event: Event::SecurityAlert { alert_kind: "k".into(), message } };
        let e = StoredEntry::seal(&env, GENESIS).unwrap();
        prop_assert_eq!(Envelope::decode(&e.bytes).unwrap(), env);
        let mut chain = ChainVerifier::new("s1");
        prop_assert!(chain.push_bytes(1, &e.bytes).is_ok());
    }

    #[test]
    fn backup_files_of_any_text(s in bytes()) {
        let _ = backup::decode(&String::from_utf8_lossy(&s));
    }

    /// A valid backup with one byte changed, or cut anywhere: refused or read, never a panic;
    /// never read as the original with different entries.
    #[test]
    fn damaged_backups(alert in "\\PC{0,30}", at in any::<prop::sample::Index>(), byte in any::<u8>(), cut in any::<prop::sample::Index>()) {
        let (text, entries) = sample_backup(&alert);
        let mut b = text.clone().into_bytes();
        let i = at.index(b.len());
        b[i] = byte;
        if let Ok(read) = backup::decode(&String::from_utf8_lossy(&b)) {
            // Only a change the chain does not cover (the header's time, say) can pass.
            prop_assert_eq!(read.entries, entries.clone());
        }
        let c = cut.index(text.len());
        if c < text.trim_end().len() && text.is_char_boundary(c) {
            prop_assert!(backup::decode(&text[..c]).is_err(), "a backup cut at {} was read", c);
        }
        prop_assert_eq!(backup::decode(&text).unwrap().entries, entries);
    }

    #[test]
    fn witness_files_tree_heads_and_keys(b in bytes(), s in "\\PC{0,100}") {
        let key = ed25519_dalek::SigningKey::from_bytes(&[5u8; 32]);
        let _ = Witness::read(&b, "s1", &key.verifying_key());
        if let Ok(head) = serde_json::from_slice::<TreeHead>(&b) {
            let _ = head.verify(&key.verifying_key());
            let _ = head.leaf_of("s1");
        }
        let _ = verifying_key_from_hex(&s);
        let _ = keyfile::parse(&s);
        let _ = keyfile::parse(&String::from_utf8_lossy(&b));
    }

    #[test]
    fn a_key_file_reads_back_the_key_it_holds(secret in any::<[u8; 32]>(), pad in "[ \\t\\n]{0,3}") {
        let key = ed25519_dalek::SigningKey::from_bytes(&secret);
        let text = format!("{pad}{}{pad}", hex::encode(key.to_bytes()));
        prop_assert_eq!(keyfile::parse(&text).map(|k| k.to_bytes()), Some(secret));
        prop_assert_eq!(verifying_key_from_hex(&hex::encode(key.verifying_key().to_bytes())), Some(key.verifying_key()));
    }
}
