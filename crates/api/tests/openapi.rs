//! The published contract: `GET /api/v1/openapi.json` is generated from the handlers, and
//! `docs/openapi.json` is a committed copy of it. A change to the API that changes the document
//! fails here until the copy is updated, so every API change is a visible contract change.
//!
//! To update the copy after an intended change:
//! `PRICETRACK_UPDATE_OPENAPI=1 cargo test -p pricetrack-api --test openapi`.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::PathBuf;

use reqwest::{Method, StatusCode};
use serde_json::Value;

fn committed_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json")
}

/// The document `pricetrack serve` publishes: every route, the page preview included.
fn generated() -> String {
    pricetrack_api::openapi_document(true)
}

#[test]
fn the_committed_contract_is_the_generated_one() {
    let generated = generated();
    let path = committed_path();
    if std::env::var_os("PRICETRACK_UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, format!("{generated}\n")).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed.trim_end() == generated.trim_end(),
        "docs/openapi.json differs from the contract the code generates: if the API change is intended, \
         run `PRICETRACK_UPDATE_OPENAPI=1 cargo test -p pricetrack-api --test openapi` and commit the file"
    );
}

#[tokio::test]
async fn the_server_serves_its_contract() {
    let app = common::spawn_app().await;
    let response = app.request(Method::GET, "/api/v1/openapi.json").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/json");
    let served: Value = response.json().await.unwrap();
    // This server has no page previewer, so its contract is the committed one without the preview.
    let full: Value = serde_json::from_str(&generated()).unwrap();
    let mut without_preview = full.clone();
    without_preview["paths"].as_object_mut().unwrap().remove("/api/v1/preview");
    let mut served_cmp = served.clone();
    // Schemas only the preview uses are left in the full document; compare paths and the rest.
    for doc in [&mut served_cmp, &mut without_preview] {
        doc["components"]["schemas"].as_object_mut().unwrap().retain(|name, _| !name.starts_with("Preview"));
        doc["components"]["schemas"].as_object_mut().unwrap().remove("PagePreview");
    }
    assert_eq!(served_cmp, without_preview);
    app.stop().await;
}

#[test]
fn every_route_is_described_with_the_error_shape_and_the_session_scheme() {
    let doc: Value = serde_json::from_str(&generated()).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let scheme = &doc["components"]["securitySchemes"]["session"];
    assert_eq!(scheme["type"], "apiKey");
    assert_eq!(scheme["in"], "cookie");
    let paths = doc["paths"].as_object().unwrap();
    let expected = [
        ("/healthz", "get"),
        ("/readyz", "get"),
        ("/api/v1/signup", "post"),
        ("/api/v1/signin", "post"),
        ("/api/v1/signout", "post"),
        ("/api/v1/validate", "get"),
        ("/api/v1/me", "get"),
        ("/api/v1/me", "delete"),
        ("/api/v1/me/password", "post"),
        ("/api/v1/jobs", "post"),
        ("/api/v1/jobs", "get"),
        ("/api/v1/jobs", "delete"),
        ("/api/v1/jobs/{id}", "get"),
        ("/api/v1/jobs/{id}", "patch"),
        ("/api/v1/jobs/{id}", "delete"),
        ("/api/v1/jobs/{id}/history", "get"),
        ("/api/v1/channels", "post"),
        ("/api/v1/channels", "get"),
        ("/api/v1/channels/{id}", "get"),
        ("/api/v1/channels/{id}", "patch"),
        ("/api/v1/channels/{id}", "delete"),
        ("/api/v1/channels/{id}/test", "post"),
        ("/api/v1/alerts", "get"),
        ("/api/v1/preview", "post"),
    ];
    let mut described = 0;
    for (path, ops) in paths {
        for (method, op) in ops.as_object().unwrap() {
            described += 1;
            assert!(expected.contains(&(path.as_str(), method.as_str())), "undocumented in this test: {method} {path}");
            let responses = op["responses"].as_object().unwrap();
            assert!(responses.keys().any(|s| s.starts_with('2')), "{method} {path} has no success answer");
            if !path.ends_with("z") {
                assert_eq!(
                    responses["default"]["content"]["application/json"]["schema"]["$ref"], "#/components/schemas/Error",
                    "{method} {path}: errors are not in the one error shape"
                );
            }
            let public = ["/api/v1/signup", "/api/v1/signin", "/api/v1/signout", "/healthz", "/readyz"];
            if !public.contains(&path.as_str()) {
                assert_eq!(
                    op["security"][0]["session"],
                    Value::Array(vec![]),
                    "{method} {path} is not marked as needing a session"
                );
            }
        }
    }
    assert_eq!(described, expected.len());
}
