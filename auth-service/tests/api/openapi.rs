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
/// to it (`.get(`, `.put(`, ...) before its `default_service`, and the route of each token type
/// (`token_type_routes`). `/tokens/{token_type}` only answers the 404 of an unknown type: the
/// document has each type's route instead.
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
    assert!(source.contains("web::resource(format!(\"/tokens/{}\", token_type.as_str()))"));
    assert!(routes.remove(&("/tokens/{token_type}".into(), "PUT".into())));
    for token_type in auth_wire::TokenType::ALL {
        routes.insert((format!("/tokens/{token_type}"), "PUT".into()));
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
            .replace("{name}", "layout")
            .replace("{id}", "3f0c9d8e5b7a41c2a6d4e8f1b2c3d4e5")
            .replace("{username}", "doctor");
        assert!(!concrete.contains('{'), "{concrete}");
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

/// Every viewer configured, and MedDream on its double: every token type can be created.
async fn every_type_app(
    meddream: &meddream_bridge::double::MeddreamDouble,
    ohif: &str,
) -> crate::helpers::TestApp {
    let url = meddream.url().to_string();
    spawn_app(&[
        ("PUBLIC_ORTHANC_ROOT", "https://pacs.example.test/orthanc/"),
        ("PUBLIC_LANDING_ROOT", "https://pacs.example.test/share/"),
        ("PUBLIC_OHIF_ROOT", "https://pacs.example.test/ohif/"),
        ("OHIF_DATA_SOURCE", ohif),
        ("MEDDREAM_TOKEN_SERVICE_URL", &url),
        (
            "PUBLIC_MEDDREAM_ROOT",
            "https://pacs.example.test/meddream/",
        ),
    ])
    .await
}

/// The schema a `$ref` names, or the schema itself.
fn resolve<'d>(doc: &'d Value, schema: &'d Value) -> &'d Value {
    match schema["$ref"].as_str() {
        Some(name) => {
            let name = name.rsplit('/').next().unwrap();
            let found = &doc["components"]["schemas"][name];
            assert!(found.is_object(), "no schema {name}");
            found
        }
        None => schema,
    }
}

fn collect_refs(node: &Value, refs: &mut Vec<String>) {
    match node {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get("$ref") {
                refs.push(r.clone());
            }
            map.values().for_each(|v| collect_refs(v, refs));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, refs)),
        _ => {}
    }
}

fn operations(doc: &Value) -> Vec<(String, String, &Value)> {
    let mut all = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            all.push((method.to_uppercase(), path.clone(), op));
        }
    }
    all
}

#[tokio::test]
async fn every_body_is_typed_and_every_operation_lists_the_statuses_all_routes_share() {
    let app = spawn_app(&[]).await;
    let doc = openapi(&app).await;
    for (method, path, op) in operations(&doc) {
        let open = op["security"] == serde_json::json!([{}]);
        let responses = op["responses"].as_object().unwrap();
        let mut expected = vec!["405"];
        if !open {
            expected.extend(["401", "429"]);
        }
        if let Some(body) = op.get("requestBody") {
            expected.extend(["413", "422"]);
            let schema = resolve(&doc, &body["content"]["application/json"]["schema"]);
            // An object, or one of several objects (unlock: a password or a code).
            let shapes = match schema["oneOf"].as_array() {
                Some(shapes) => shapes.iter().collect(),
                None => vec![schema],
            };
            for shape in shapes {
                assert_eq!(shape["type"], "object", "{method} {path}: {schema}");
                assert!(
                    shape["properties"]
                        .as_object()
                        .is_some_and(|p| !p.is_empty()),
                    "{method} {path}: a body of no known shape"
                );
            }
        }
        for status in expected {
            assert!(
                responses.contains_key(status),
                "{method} {path} lacks {status}"
            );
        }
        for (status, response) in responses {
            let response = match response["$ref"].as_str() {
                Some(name) => &doc["components"]["responses"][name.rsplit('/').next().unwrap()],
                None => response,
            };
            if status == "204" {
                continue;
            }
            let content = response["content"].as_object();
            assert!(
                content.is_some_and(|c| c.values().all(|m| m["schema"].is_object())),
                "{method} {path} {status}: an answer without a typed body: {response}"
            );
        }
    }
    let mut refs = Vec::new();
    collect_refs(&doc, &mut refs);
    assert!(refs.len() > 50, "{refs:?}");
    for r in refs {
        let target = r
            .strip_prefix("#/")
            .unwrap()
            .split('/')
            .fold(&doc, |node, key| &node[key]);
        assert!(target.is_object(), "{r} names nothing");
    }
    let components = &doc["components"];
    assert_eq!(
        components["responses"]["Unauthorized"]["headers"]["WWW-Authenticate"]["schema"]["pattern"],
        "^Basic$"
    );
    assert!(components["responses"]["TooManyRequests"]["headers"]["Retry-After"].is_object());
    assert!(components["responses"]["MethodNotAllowed"]["headers"]["Allow"].is_object());
    assert_eq!(
        components["schemas"]["PythonError"]["required"],
        serde_json::json!(["detail"])
    );
    assert_eq!(
        components["schemas"]["ErrorBody"]["required"],
        serde_json::json!(["error", "detail"])
    );
    // The document says what the service itself answers: one of them for real.
    let res = app
        .client
        .post(app.url("/tokens/decode"))
        .header("Authorization", basic(USER, PASSWORD))
        .body("[]")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    assert_eq!(
        res.json::<Value>().await.unwrap(),
        serde_json::json!({"error": "invalid request body", "detail": "the body must be a JSON object"})
    );
}

#[tokio::test]
async fn each_token_type_has_its_route_with_the_ids_its_viewer_needs_here() {
    let meddream = meddream_bridge::double::MeddreamDouble::start().await;
    for (ohif_source, ohif_id) in [("dicom-web", "dicom-uid"), ("dicom-json", "orthanc-id")] {
        let app = every_type_app(&meddream, ohif_source).await;
        let doc = openapi(&app).await;
        let body = |token_type: &str| {
            let op = &doc["paths"][format!("/tokens/{token_type}")]["put"];
            assert_eq!(
                op["operationId"],
                format!("create_{}", token_type.replace('-', "_"))
            );
            resolve(
                &doc,
                &op["requestBody"]["content"]["application/json"]["schema"],
            )
            .clone()
        };
        for (token_type, id) in [
            ("stone-viewer-publication", Some("dicom-uid")),
            ("osimis-viewer-publication", Some("orthanc-id")),
            ("volview-viewer-publication", Some("orthanc-id")),
            ("ohif-viewer-publication", Some(ohif_id)),
            ("meddream-instant-link", Some("dicom-uid")),
            ("meddream-viewer-publication", Some("dicom-uid")),
            ("viewer-instant-link", None),
            ("download-instant-link", None),
        ] {
            let body = body(token_type);
            assert_eq!(
                body["properties"]["type"]["enum"],
                serde_json::json!([token_type])
            );
            let item = &body["properties"]["resources"]["items"];
            let shapes = item["oneOf"]
                .as_array()
                .cloned()
                .unwrap_or_else(|| vec![item.clone()]);
            for shape in &shapes {
                let required: Vec<&str> = shape["required"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| r.as_str().unwrap())
                    .collect();
                assert_eq!(
                    required,
                    [Some("level"), id]
                        .into_iter()
                        .flatten()
                        .collect::<Vec<_>>(),
                    "{token_type}"
                );
            }
            if token_type.starts_with("meddream") {
                assert_eq!(
                    shapes[0]["properties"]["level"]["enum"],
                    serde_json::json!(["study"])
                );
                assert_eq!(body["properties"]["resources"]["minItems"], 1);
            } else {
                assert_eq!(
                    shapes.len(),
                    2,
                    "patient level reads a PatientID: {token_type}"
                );
            }
            // Its example is a real request: the route takes it.
            let example = &body["examples"][0];
            let (status, answer) = app.create(token_type, example).await;
            assert_eq!(status, 200, "{token_type}: {example} -> {answer}");
        }
        assert!(doc["paths"].get("/tokens/{token_type}").is_none());
    }
}

#[tokio::test]
async fn a_type_that_is_off_here_says_so_and_answers_404() {
    let app = spawn_app(&[]).await;
    let doc = openapi(&app).await;
    let not_found = doc["paths"]["/tokens/ohif-viewer-publication"]["put"]["responses"]["404"]
        ["description"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        not_found.contains("Off on this server: PUBLIC_OHIF_ROOT is not set"),
        "{not_found}"
    );
    let body = serde_json::json!({"resources": [{"dicom-uid": "1.2.3", "level": "study"}]});
    assert_eq!(
        app.create("ohif-viewer-publication", &body).await,
        (
            404,
            serde_json::json!({"error": "token type not configured", "detail": "ohif-viewer-publication links need PUBLIC_OHIF_ROOT to be set on auth-service"})
        )
    );
}

#[tokio::test]
async fn the_page_shows_typed_bodies() {
    let app = spawn_app(&[]).await;
    let page = app.get_authorized("/docs").await.text().await.unwrap();
    for schema in [
        "CreateStoneViewerPublication",
        "ValidateRequest",
        "DecodeResponse",
        "UserProfile",
        "RolesUpdate",
        "SendEmailRequest",
        "SharePage",
        "PythonError",
        "ErrorBody",
    ] {
        assert!(
            page.contains(&format!("\"{schema}\"")),
            "{schema} not on the page"
        );
    }
}
