//! Chooses the chain hash: SHA-256 (sha2, SHA-NI when the CPU has it) vs BLAKE3 on journal-sized
//! entries. Run: `cargo bench -p stockade-journal --bench hashing`. Prints ratios, not absolutes.
use std::hint::black_box;
use std::time::Instant;

fn main() {
    let entry = vec![0x5au8; 420]; // a typical sale entry is 300–600 bytes of JSON
    let n = 400_000;
    let mut prev = [0u8; 32];
    let t = Instant::now();
    for _ in 0..n {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        h.update(prev);
        h.update(&entry);
        prev = h.finalize().into();
    }
    let sha = t.elapsed();
    black_box(prev);
    let t = Instant::now();
    for _ in 0..n {
        let mut h = blake3::Hasher::new();
        h.update(&prev);
        h.update(&entry);
        prev = *h.finalize().as_bytes();
    }
    let b3 = t.elapsed();
    black_box(prev);
    let rate = |d: std::time::Duration| n as f64 / d.as_secs_f64();
    println!("entry bytes: {}", entry.len());
    println!("sha256 chain: {:.0} entries/s", rate(sha));
    println!("blake3 chain: {:.0} entries/s", rate(b3));
    println!("ratio sha256/blake3 throughput: {:.2}", rate(sha) / rate(b3));
}
