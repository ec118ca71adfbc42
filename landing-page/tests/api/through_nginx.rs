//! The largest publication auth-service hands out, opened end to end through Debian's nginx set
//! up as the compose stacks set it up (`minimal-setup/nginx/proxy-headers.conf` at server level,
//! the landing page under `/share/`, the viewers under `/orthanc/`): the link reaches the page,
//! the page's redirect passes nginx whole, and the viewer link reaches the viewer whole. One
//! study more is refused at creation.
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use serde_json::{json, Value};

use crate::helpers::*;

/// Debian's nginx on a temp dir, as one process (`master_process off`: no workers to outlive
/// it), killed on drop.
struct Nginx {
    child: Child,
    _dir: tempfile::TempDir,
}

impl Nginx {
    fn start(binary: &Path, port: u16, landing_port: u16, viewer_port: u16) -> Nginx {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display();
        let headers = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../minimal-setup/nginx/proxy-headers.conf")
            .canonicalize()
            .expect("the stacks' proxy-headers.conf");
        let conf = format!(
            "master_process off;\npid {d}/nginx.pid;\nerror_log {d}/error.log info;\n\
             events {{ worker_connections 64; }}\n\
             http {{\n access_log off;\n client_body_temp_path {d}/body;\n proxy_temp_path {d}/proxy;\n\
             fastcgi_temp_path {d}/fastcgi;\n uwsgi_temp_path {d}/uwsgi;\n scgi_temp_path {d}/scgi;\n\
             server {{\n  listen 127.0.0.1:{port};\n  include {headers};\n\
               location /share/ {{ rewrite ^/share(/.*)$ $1 break; proxy_pass http://127.0.0.1:{landing_port}; }}\n\
               location /orthanc/ {{ proxy_pass http://127.0.0.1:{viewer_port}; }}\n }}\n}}\n",
            headers = headers.display(),
        );
        let conf_path = dir.path().join("nginx.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let child = Command::new(binary)
            .args(["-p", &d.to_string(), "-e", &format!("{d}/error.log"), "-c"])
            .arg(&conf_path)
            .args(["-g", "daemon off;"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx starts");
        Nginx { child, _dir: dir }
    }

    fn error_log(&self) -> String {
        std::fs::read_to_string(self._dir.path().join("error.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A stand-in viewer under `/orthanc/`: answers 200 and keeps each path and query it was asked.
async fn viewer() -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let shared = web::Data::from(Arc::clone(&seen));
    let server = HttpServer::new(move || {
        App::new().app_data(shared.clone()).default_service(web::to(
            |req: HttpRequest, seen: web::Data<Mutex<Vec<String>>>| async move {
                seen.lock().unwrap().push(req.uri().to_string());
                HttpResponse::Ok().body("stand-in viewer")
            },
        ))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .unwrap()
    .run();
    tokio::spawn(server);
    (port, seen)
}

/// A Stone publication of `n` studies with 64-character UIDs (the largest UIDs there are).
fn studies(n: usize) -> Value {
    let resources: Vec<Value> = (0..n)
        .map(|i| json!({"dicom-uid": format!("1.2.826.0.1.3680043.8.498.{i:0>38}"), "level": "study"}))
        .collect();
    json!({"resources": resources, "validity-duration": 3600})
}

#[tokio::test]
async fn the_largest_share_opens_end_to_end_through_nginx() {
    let Some(nginx_bin) = tool("/usr/sbin/nginx", "nginx") else {
        return;
    };
    let (viewer_port, seen) = viewer().await;
    let port = free_port();
    let public = format!("http://127.0.0.1:{port}");
    let orthanc_root = format!("{public}/orthanc/");
    let auth = spawn_auth(&[
        ("PUBLIC_ORTHANC_ROOT", &orthanc_root),
        ("PUBLIC_LANDING_ROOT", &format!("{public}/share/")),
    ])
    .await;
    let landing = spawn_landing(&auth.url, &[("PUBLIC_ORTHANC_ROOT", &orthanc_root)]).await;
    let landing_port: u16 = landing.address.rsplit(':').next().unwrap().parse().unwrap();
    let nginx = Nginx::start(&nginx_bin, port, landing_port, viewer_port);
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "nginx: {}",
            nginx.error_log()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // The largest share auth-service accepts; one study more is refused.
    let create = |n| {
        let body = studies(n);
        let auth = &auth;
        async move {
            reqwest::Client::new()
                .put(format!("{}tokens/stone-viewer-publication", auth.url))
                .basic_auth(USER, Some(PASSWORD))
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    let mut n = 1;
    while create(n + 1).await.status() == 200 {
        n += 1;
        assert!(n < 100, "{n} studies accepted");
    }
    let refused = create(n + 1).await;
    assert_eq!(refused.status(), 400);
    assert_eq!(
        refused.json::<Value>().await.unwrap()["error"],
        "share too large"
    );
    let answer: Value = create(n).await.json().await.unwrap();
    let link = answer["url"].as_str().unwrap().to_owned();
    let token = answer["token"].as_str().unwrap().to_owned();
    assert!(
        link.starts_with(&format!("{public}/share/?token=")),
        "{link}"
    );

    // The link through nginx: the page's redirect arrives whole.
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let res = client.get(&link).send().await.unwrap();
    assert_eq!(res.status(), 302, "nginx: {}", nginx.error_log());
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    let uids: Vec<String> = (0..n)
        .map(|i| format!("1.2.826.0.1.3680043.8.498.{i:0>38}"))
        .collect();
    let list = uids.join(",");
    assert_eq!(
        location,
        format!("{orthanc_root}stone-webviewer/index.html?study={list}&selectedStudies={list}&token={token}")
    );
    eprintln!(
        "largest share: {n} studies of 64-character UIDs, a landing link of {} bytes, a viewer link of {} bytes",
        link.len(),
        location.len()
    );
    // The viewer link through nginx: it reaches the viewer whole.
    let res = client.get(&location).send().await.unwrap();
    assert_eq!(res.status(), 200, "nginx: {}", nginx.error_log());
    let asked = seen.lock().unwrap().clone();
    assert_eq!(asked.len(), 1);
    assert_eq!(
        format!("{public}{}", asked[0]),
        location,
        "the viewer was not asked for the whole link"
    );
}
