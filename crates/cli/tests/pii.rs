//! Personal data: a customer's ID number and date of birth, given at the register where the
//! jurisdiction counts purchases per customer per day (California), never reach the database
//! files, the journal, backups, head office or the logs in plaintext, nor any error message.

mod common;
use common::*;
use serde_json::{json, Value};
use std::time::Duration;

const ID_NUMBER: &str = "D4829173";
const BIRTH_DATE: &str = "1987-03-14";
/// A customer record for delivery: name and contact details.
const NAME: &str = "Jane Q. Sample";
const PHONE: &str = "+1 416 555 0199";
const EMAIL: &str = "jane.sample@example.org";
const POSTAL_CODE: &str = "M5V 2T6";

/// Every file under `dir`, as bytes.
fn files(dir: &std::path::Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files(&p));
        } else {
            out.push((p.clone(), std::fs::read(&p).unwrap()));
        }
    }
    out
}

fn holds(bytes: &[u8], needle: &str) -> bool {
    let variants = [needle.to_string(), needle.to_lowercase(), needle.replace('-', ""), needle.replace('-', "/")];
    variants.iter().any(|v| bytes.windows(v.len()).any(|w| w == v.as_bytes()))
}

#[test]
fn a_customers_id_and_birth_date_appear_nowhere_in_plaintext() {
    let tmp = tempfile::tempdir().unwrap();
    let pair = hq_and_store(tmp.path(), "US-CA", "20", &[]);
    let logs = tmp.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let hq_addr = free_addr();
    let (mut hq, hq_url) = serve_logging(&["hq", "serve", "--data", pair.h(), "--listen", &hq_addr], &[], &logs.join("hq.log"), "debug");
    run_ok(&["store", "enroll", "--data", pair.s(), "--hq", &hq_url, "--code", &pair.code], &[]);
    let store_args = ["store", "serve", "--data", pair.s(), "--listen", "127.0.0.1:0", "--sync-max-backoff-ms", "1000", "--sync-idle-ms", "200"];
    let (mut store, url) = serve_logging(&store_args, &[], &logs.join("store.log"), "debug");
    let client = reqwest::blocking::Client::new();
    let token = login(&client, &url);
    let (till, product) = till_and_product(&client, &url, &token);
    let customer = json!({"age_confirmed": true, "birth_date": BIRTH_DATE, "id_number": ID_NUMBER});
    let sale = |body: Value| {
        let r = client.post(format!("{url}/api/sales")).bearer_auth(&token).json(&body).send().unwrap();
        (r.status().as_u16(), r.text().unwrap())
    };
    let tender = json!([{"kind": "cash", "amount_minor": 100_000}]);

    // A sale with the customer's ID: accepted, and the receipt does not repeat the ID.
    let (s, receipt) = sale(json!({"till_id": till, "lines": [{"product_id": product, "quantity": 1}], "customer": customer, "tenders": tender}));
    assert_eq!(s, 200, "{receipt}");
    // Refusals and bad input answer without echoing what was sent.
    let mut answers = vec![receipt];
    let (s, over) = sale(json!({"till_id": till, "lines": [{"product_id": product, "quantity": 500}], "customer": customer, "tenders": tender}));
    assert!(s == 422 || s == 409, "{over}");
    answers.push(over);
    let bad_id = json!({"age_confirmed": true, "birth_date": BIRTH_DATE, "id_number": ID_NUMBER.repeat(6)});
    let (s, bad) = sale(json!({"till_id": till, "lines": [{"product_id": product, "quantity": 1}], "customer": bad_id, "tenders": tender}));
    assert_eq!(s, 422, "{bad}");
    answers.push(bad);
    let minor = json!({"age_confirmed": true, "birth_date": "2012-03-14", "id_number": ID_NUMBER});
    let (s, young) = sale(json!({"till_id": till, "lines": [{"product_id": product, "quantity": 1}], "customer": minor, "tenders": tender}));
    assert_eq!(s, 422, "{young}");
    assert!(!young.contains("2012"), "the refusal names the age rule, not the date: {young}");
    answers.push(young);
    for a in &answers {
        assert!(!holds(a.as_bytes(), ID_NUMBER) && !holds(a.as_bytes(), BIRTH_DATE), "an answer repeats personal data: {a}");
    }

    // A customer record for delivery, sealed with the retailer's key.
    let person = json!({"name": NAME, "birth_date": BIRTH_DATE, "id_number": ID_NUMBER, "phone": PHONE, "email": EMAIL, "postal_code": POSTAL_CODE});
    let r = client.post(format!("{url}/api/customers")).bearer_auth(&token).json(&person).send().unwrap();
    assert_eq!(r.status(), 201);
    let id = r.json::<Value>().unwrap()["customer_id"].as_str().unwrap().to_string();
    let rec: Value = client.get(format!("{url}/api/customers/{id}")).bearer_auth(&token).send().unwrap().json().unwrap();
    assert_eq!(rec["email"], EMAIL, "the manager reads it back");

    // The journal reaches head office; a backup is written.
    wait_caught_up(&client, &url, &token, Duration::from_secs(30));
    run_ok(&["backup", "--data", pair.s(), "--out", tmp.path().join("store.backup").to_str().unwrap()], &[]);
    kill(&mut store);
    kill(&mut hq);

    let mut searched = 0;
    for (path, bytes) in files(tmp.path()) {
        searched += 1;
        assert!(!holds(&bytes, ID_NUMBER), "{} holds the ID number in plaintext", path.display());
        assert!(!holds(&bytes, BIRTH_DATE), "{} holds the date of birth in plaintext", path.display());
        for value in [NAME, "Sample", PHONE, "555 0199", EMAIL, POSTAL_CODE] {
            assert!(!holds(&bytes, value), "{} holds '{value}' in plaintext", path.display());
        }
    }
    let log = std::fs::read_to_string(logs.join("store.log")).unwrap();
    assert!(log.lines().count() > 5, "the store logged at debug level: {log}");
    assert!(searched >= 8, "databases, WAL files, keys, backups and logs were searched: {searched}");
    // The sale did count against the customer's day: the keyed hash is there instead.
    let db = rusqlite::Connection::open_with_flags(pair.store_dir.join("store.db"), rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let hashed: i64 = db.query_row("SELECT COUNT(*) FROM sales WHERE customer_hash IS NOT NULL AND length(customer_hash) >= 32", [], |r| r.get(0)).unwrap();
    assert_eq!(hashed, 1);
}
