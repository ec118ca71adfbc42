//! The OpenAPI document against the routes that exist, both ways, and both behind Basic auth.
use std::collections::BTreeSet;

use serde_json::Value;

use crate::helpers::{basic, spawn_app, PASSWORD, USER};

async fn openapi(app: &crate::helpers::TestApp) -> Value {
    let res = app.get_authorized("/openapi.json").await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    doc["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .expect("path item")
                .keys()
                .filter(|m| ["get", "put", "post", "delete", "patch"].contains(&m.as_str()))
                .map(move |m| (path.clone(), m.to_uppercase()))
        })
        .collect()
}

/// The routes registered in routes/mod.rs: each `web::resource("PATH")` with the methods chained
/// to it (`.get(`, `.put(`, ...) before its `default_service`.
fn registered() -> BTreeSet<(String, String)> {
    let source = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/routes/mod.rs"),
    )
    .unwrap();
    let mut routes = BTreeSet::new();
    for block in source.split("web::resource(\"").skip(1) {
        let (path, rest) = block.split_once('"').unwrap();
        let chain = rest.split("default_service").next().unwrap();
        for method in ["get", "put", "post", "delete", "patch"] {
            if chain.contains(&format!(".{method}(")) {
                routes.insert((path.to_owned(), method.to_uppercase()));
            }
        }
    }
    routes
}

#[tokio::test]
async fn every_route_is_documented_and_every_documented_route_exists() {
    let app = spawn_app(&[]).await;
    let doc = openapi(&app).await;
    let documented = documented(&doc);
    let registered = registered();
    assert!(registered.len() >= 14, "{registered:?}");
    let undocumented: Vec<_> = registered.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "routes without OpenAPI: {undocumented:?}"
    );
    for (path, method) in &documented {
        let concrete = path
            .replace("{token_type}", "viewer-instant-link")
            .replace("{name}", "layout");
        let res = app
            .client
            .request(method.parse().unwrap(), app.url(&concrete))
            .header("Authorization", basic(USER, PASSWORD))
            .header("Content-Type", "application/json")
            .body("{}")
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        let body = res.text().await.unwrap();
        assert_ne!(status, 405, "{method} {path} documented but not routed");
        assert!(
            !(status == 404 && body == r#"{"detail":"Not Found"}"#),
            "{method} {path} documented but not routed"
        );
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["basic"]["scheme"],
        "basic"
    );
}

#[tokio::test]
async fn the_document_and_its_page_need_credentials() {
    let app = spawn_app(&[]).await;
    for path in ["/openapi.json", "/docs"] {
        let res = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), 401, "{path}");
        assert_eq!(res.headers()["www-authenticate"], "Basic");
    }
    let res = app.get_authorized("/docs").await;
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let page = res.text().await.unwrap();
    assert!(page.contains("Redoc") || page.contains("redoc"), "{page}");
    assert!(
        page.contains("/tokens/validate"),
        "the page carries the document"
    );
    // Nothing from the internet: a hospital network may not reach a CDN.
    assert!(
        !page.contains("https://cdn") && !page.contains("fonts.googleapis"),
        "{page}"
    );
    assert!(page.contains(r#"<script src="docs/redoc.standalone.js">"#));
    let script = |auth: Option<String>| {
        let mut request = app.client.get(app.url("/docs/redoc.standalone.js"));
        if let Some(a) = auth {
            request = request.header("Authorization", a);
        }
        request.send()
    };
    assert_eq!(script(None).await.unwrap().status(), 401);
    let res = script(Some(basic(USER, PASSWORD))).await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/javascript"));
    let js = res.text().await.unwrap();
    assert!(js.len() > 500_000 && js.contains("Redoc"), "the bundle");
}
