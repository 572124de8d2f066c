//! docs/api.md names every method and every error code the daemon has, and the daemon
//! answers every documented method (no method documented that does not exist).

mod common;

use ringmon::api::proto::{ErrorCode, METHODS};

fn api_md() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/api.md"))
        .expect("docs/api.md")
}

#[test]
fn every_method_and_error_code_is_documented() {
    let doc = api_md();
    for m in METHODS {
        assert!(
            doc.contains(&format!("`{m}`")),
            "docs/api.md does not document method `{m}`"
        );
    }
    for code in ErrorCode::ALL {
        let wire = serde_json::to_value(code).expect("code");
        let wire = wire.as_str().expect("string");
        assert!(
            doc.contains(&format!("`{wire}`")),
            "docs/api.md does not document error code `{wire}`"
        );
    }
}

#[test]
fn every_method_is_known_to_the_daemon() {
    let d = common::TestDaemon::start();
    let mut c = d.client();
    let v = c.call("version", serde_json::json!({})).expect("version");
    let served: Vec<String> = serde_json::from_value(v["methods"].clone()).expect("methods");
    assert_eq!(
        served,
        METHODS.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    );
    for m in METHODS {
        // Empty params: either a result or a parameter error, never unknown_method.
        let err = c.call(m, serde_json::json!({})).err();
        if let Some(ringmon::api::client::ClientError::Api(e)) = err {
            assert_ne!(e.code, ErrorCode::UnknownMethod, "{m}");
        }
    }
}
