//! The gate's end-to-end stack, all real: Debian's Orthanc 1.10 with the DICOMweb plugin, the
//! application, and Debian's nginx running the shipped snippet
//! (`minimal-setup/nginx/share-gate.conf.template`), each on a free loopback port in a temp dir,
//! stopped on drop. The DICOM data is made by Orthanc itself (`POST /tools/create-dicom`).
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Value};
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};

use crate::helpers::{spawn_app, TestApp, PASSWORD, USER};
use crate::tools::{free_port, Need};

pub const ORTHANC_USER: &str = "gate";
pub const ORTHANC_PASSWORD: &str = "gate-orthanc-pw";
pub const DENIED_URL: &str = "https://pacs.example.test/share/";
const READY_WITHIN: Duration = Duration::from_secs(30);

/// The Debian binaries the stack runs.
pub struct Tools {
    orthanc: PathBuf,
    dicomweb_plugin: PathBuf,
    nginx: PathBuf,
}

impl Tools {
    /// The binaries, or None after a loud SKIPPED line; under `CI=true` a missing one fails
    /// (`.ci/run` installs them).
    pub fn find(test: &str) -> Option<Tools> {
        let found = (|| {
            let orthanc = executable("Orthanc").ok_or("Orthanc (apt-get install -y orthanc)")?;
            let dicomweb_plugin = dicomweb_plugin()
                .ok_or("the DICOMweb plugin (apt-get install -y orthanc-dicomweb)")?;
            let nginx = executable("nginx").ok_or("nginx (apt-get install -y nginx)")?;
            Ok::<_, &str>(Tools {
                orthanc,
                dicomweb_plugin,
                nginx,
            })
        })();
        match found {
            Ok(tools) => Some(tools),
            Err(missing) => {
                crate::tools::unavailable(test, &format!("{missing} not found"), Need::Required);
                None
            }
        }
    }
}

fn executable(name: &str) -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    let found = path
        .split(':')
        .chain(["/usr/sbin", "/usr/bin", "/sbin"])
        .map(|dir| Path::new(dir).join(name))
        .find(|p| p.is_file());
    found
}

fn dicomweb_plugin() -> Option<PathBuf> {
    let fixed = Path::new("/usr/share/orthanc/plugins/libOrthancDicomWeb.so");
    if fixed.is_file() {
        return Some(fixed.to_owned());
    }
    std::fs::read_dir("/usr/lib/orthanc")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("libOrthancDicomWeb.so"))
        })
}

fn basic_token(user: &str, password: &str) -> String {
    STANDARD.encode(format!("{user}:{password}"))
}

/// A real Orthanc: loopback HTTP only, no DICOM server, its own storage, one registered user.
pub struct OrthancServer {
    child: Child,
    dir: TempDir,
    pub port: u16,
    http: reqwest::Client,
}

impl OrthancServer {
    pub async fn start(tools: &Tools) -> OrthancServer {
        // A port taken between our probe and Orthanc's bind makes Orthanc exit: try another.
        for _ in 0..3 {
            if let Some(server) = Self::try_start(tools, free_port()).await {
                return server;
            }
        }
        panic!("Orthanc did not start on three ports");
    }

    async fn try_start(tools: &Tools, port: u16) -> Option<OrthancServer> {
        let dir = tempfile::tempdir().expect("temp dir");
        let storage = dir.path().join("storage");
        let config = json!({
            "Name": "gate-tests",
            "StorageDirectory": storage,
            "IndexDirectory": storage,
            "HttpPort": port,
            "DicomServerEnabled": false,
            "DicomPort": 0,
            "RemoteAccessAllowed": false,
            "AuthenticationEnabled": true,
            "RegisteredUsers": {ORTHANC_USER: ORTHANC_PASSWORD},
            "Plugins": [tools.dicomweb_plugin],
            "DicomWeb": {"Enable": true, "Root": "/dicom-web/", "EnableWado": true, "WadoRoot": "/wado"},
            "HttpCompressionEnabled": false,
        });
        let config_path = dir.path().join("orthanc.json");
        std::fs::write(&config_path, config.to_string()).expect("config written");
        let log = std::fs::File::create(dir.path().join("orthanc.log")).expect("log file");
        // --verbose: Orthanc logs every HTTP request it serves, which the tests count.
        let child = Command::new(&tools.orthanc)
            .arg("--verbose")
            .arg(&config_path)
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .expect("Orthanc starts");
        let mut server = OrthancServer {
            child,
            dir,
            port,
            http: reqwest::Client::new(),
        };
        let started = Instant::now();
        while started.elapsed() < READY_WITHIN {
            if server.child.try_wait().ok().flatten().is_some() {
                eprintln!("Orthanc exited at start: {}", server.log());
                return None;
            }
            if let Ok(res) = server.get("/system").await {
                if res.status().is_success() {
                    return Some(server);
                }
            }
            // Polling readiness (Orthanc loads its DICOM dictionary for about a second).
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("Orthanc not ready in {READY_WITHIN:?}: {}", server.log());
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("orthanc.log")).unwrap_or_default()
    }

    /// How many `{method} {path}` requests Orthanc has served (from its verbose log).
    pub fn served(&self, method: &str, path: &str) -> usize {
        let line_end = format!("(http) {method} {path}");
        self.log()
            .lines()
            .filter(|l| l.trim_end().ends_with(&line_end))
            .count()
    }

    /// A request to Orthanc itself, with its credentials (to set up and to check the data).
    pub async fn get(&self, path: &str) -> reqwest::Result<reqwest::Response> {
        self.http
            .get(format!("{}{path}", self.url()))
            .basic_auth(ORTHANC_USER, Some(ORTHANC_PASSWORD))
            .send()
            .await
    }

    pub async fn stop(&mut self) {
        let _ = self.child.kill().await;
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// One instance with these UIDs and a small 8×8 greyscale image (so previews render).
    pub async fn create_instance(
        &self,
        patient: &str,
        study: &str,
        series: &str,
        sop: &str,
    ) -> Value {
        let res = self
            .http
            .post(format!("{}/tools/create-dicom", self.url()))
            .basic_auth(ORTHANC_USER, Some(ORTHANC_PASSWORD))
            .json(&json!({
                "Force": true,
                "Tags": {
                    "PatientID": patient,
                    "PatientName": format!("GATE^{patient}"),
                    "StudyInstanceUID": study,
                    "SeriesInstanceUID": series,
                    "SOPInstanceUID": sop,
                    "Modality": "OT",
                },
                "Content": format!("data:image/png;base64,{PNG_8X8}"),
            }))
            .send()
            .await
            .expect("create-dicom answers");
        assert_eq!(res.status(), 200, "create-dicom");
        res.json().await.expect("create-dicom JSON")
    }

    /// Two studies of two patients: A with two series (2 + 1 instances), B with one (2).
    pub async fn load_studies(&self) -> Studies {
        let mut studies = Vec::new();
        for (s, (patient, series_sizes)) in [("GATE-P1", vec![2, 1]), ("GATE-P2", vec![2])]
            .into_iter()
            .enumerate()
        {
            let study_uid = format!("1.2.826.0.1.3680043.10.543.{}", s + 1);
            let mut study = Study {
                uid: study_uid.clone(),
                id: String::new(),
                series: Vec::new(),
            };
            for (r, size) in series_sizes.into_iter().enumerate() {
                let series_uid = format!("{study_uid}.{}", r + 1);
                let mut series = Series {
                    uid: series_uid.clone(),
                    id: String::new(),
                    instances: Vec::new(),
                };
                for i in 0..size {
                    let sop = format!("{series_uid}.{}", i + 1);
                    let created = self
                        .create_instance(patient, &study_uid, &series_uid, &sop)
                        .await;
                    series.id = created["ParentSeries"].as_str().expect("series").into();
                    study.id = created["ParentStudy"].as_str().expect("study").into();
                    series.instances.push(Instance {
                        uid: sop,
                        id: created["ID"].as_str().expect("instance id").into(),
                    });
                }
                study.series.push(series);
            }
            studies.push(study);
        }
        let b = studies.pop().expect("study B");
        let a = studies.pop().expect("study A");
        Studies { a, b }
    }
}

/// 8×8 greyscale PNG, a horizontal ramp.
const PNG_8X8: &str = "iVBORw0KGgoAAAANSUhEUgAAAAgAAAAICAAAAADhZOFXAAAAFElEQVR4nGNgUHBIaFhw4AEDZQwAxnUcAVpktvoAAAAASUVORK5CYII=";

pub struct Studies {
    pub a: Study,
    pub b: Study,
}

pub struct Study {
    pub uid: String,
    pub id: String,
    pub series: Vec<Series>,
}

pub struct Series {
    pub uid: String,
    pub id: String,
    pub instances: Vec<Instance>,
}

pub struct Instance {
    pub uid: String,
    pub id: String,
}

impl Study {
    pub fn first_instance(&self) -> &Instance {
        &self.series[0].instances[0]
    }
}

/// Debian's nginx running the shipped snippet, filled in for this stack. Stopped on drop the
/// way nginx expects (SIGTERM to the master, which stops its workers and exits): a SIGKILL to
/// the master alone would leave its workers running, holding the listening socket.
pub struct NginxServer {
    child: Child,
    _dir: TempDir,
    pub port: u16,
}

impl NginxServer {
    /// The master's pid.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }
}

impl Drop for NginxServer {
    fn drop(&mut self) {
        if let Some(pid) = self.child.id() {
            let pid = nix::unistd::Pid::from_raw(pid as i32);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
            // The master waits for its workers; reaping it here leaves no zombie either.
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(10) {
                if self.child.try_wait().ok().flatten().is_some() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            for worker in children_of(pid.as_raw() as u32) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(worker as i32),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            let _ = self.child.start_kill();
        }
    }
}

/// The processes whose parent is `pid` (from /proc).
pub fn children_of(pid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|child| {
            std::fs::read_to_string(format!("/proc/{child}/stat"))
                .ok()
                .and_then(|stat| {
                    // After the command's closing parenthesis: state, then the parent's pid.
                    let rest = stat.rsplit_once(')')?.1;
                    rest.split_whitespace().nth(1)?.parse::<u32>().ok()
                })
                == Some(pid)
        })
        .collect()
}

/// Whether a process of this pid is still there (a zombie counts: nobody reaped it).
pub fn process_exists(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

impl NginxServer {
    pub async fn start(tools: &Tools, auth_service_port: u16, orthanc_port: u16) -> NginxServer {
        for _ in 0..3 {
            if let Some(server) =
                Self::try_start(tools, free_port(), auth_service_port, orthanc_port).await
            {
                return server;
            }
        }
        panic!("nginx did not start on three ports");
    }

    async fn try_start(
        tools: &Tools,
        port: u16,
        auth_port: u16,
        orthanc_port: u16,
    ) -> Option<NginxServer> {
        let dir = tempfile::tempdir().expect("temp dir");
        let snippet = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../minimal-setup/nginx/share-gate.conf.template"),
        )
        .expect("the shipped snippet");
        let filled = [
            ("SHARE_GATE_LISTEN", format!("127.0.0.1:{port}")),
            ("SHARE_GATE_AUTH_SERVICE", format!("127.0.0.1:{auth_port}")),
            ("SHARE_GATE_AUTH_BASIC", basic_token(USER, PASSWORD)),
            ("SHARE_GATE_ORTHANC", format!("127.0.0.1:{orthanc_port}")),
            (
                "SHARE_GATE_ORTHANC_BASIC",
                basic_token(ORTHANC_USER, ORTHANC_PASSWORD),
            ),
            ("SHARE_GATE_DENIED_URL", DENIED_URL.to_owned()),
        ]
        .iter()
        .fold(snippet, |text, (name, value)| {
            text.replace(&format!("${{{name}}}"), value)
        });
        assert!(!filled.contains("${"), "an unfilled placeholder: {filled}");
        let d = dir.path().display();
        // As root, nginx's workers would otherwise run as nobody, who cannot enter the temp dir.
        let user = if running_as_root() { "user root;" } else { "" };
        let conf = format!(
            "{user}\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log info;\n\
             events {{ worker_connections 256; }}\n\
             http {{\n access_log off;\n client_body_temp_path {d}/body;\n proxy_temp_path {d}/proxy;\n\
             fastcgi_temp_path {d}/fastcgi;\n uwsgi_temp_path {d}/uwsgi;\n scgi_temp_path {d}/scgi;\n\
             {filled}\n}}\n"
        );
        let conf_path = dir.path().join("nginx.conf");
        std::fs::write(&conf_path, conf).expect("nginx.conf written");
        let mut child = Command::new(&tools.nginx)
            .arg("-p")
            .arg(dir.path())
            .arg("-e")
            .arg(dir.path().join("error.log"))
            .arg("-c")
            .arg(&conf_path)
            .args(["-g", "daemon off;"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("nginx starts");
        let started = Instant::now();
        while started.elapsed() < READY_WITHIN {
            if child.try_wait().ok().flatten().is_some() {
                let log = std::fs::read_to_string(dir.path().join("error.log")).unwrap_or_default();
                eprintln!("nginx exited at start: {log}");
                return None;
            }
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return Some(NginxServer {
                    child,
                    _dir: dir,
                    port,
                });
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("nginx not listening in {READY_WITHIN:?}");
    }
}

fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|euid| euid == "0"))
        })
        .unwrap_or(false)
}

/// What a visitor gets through nginx.
#[derive(Debug)]
pub struct Visit {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Visit {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn is_png(&self) -> bool {
        self.status == 200 && self.body.starts_with(b"\x89PNG\r\n\x1a\n")
    }

    /// The reason of a denial: nginx's 302 to the landing page.
    pub fn denied_reason(&self) -> Option<&str> {
        if self.status != 302 {
            return None;
        }
        self.header("location")?
            .strip_prefix(DENIED_URL)?
            .strip_prefix("?reason=")
    }
}

/// The whole stack: Orthanc with the two studies, the app as its gate, nginx in front.
pub struct GateStack {
    pub orthanc: OrthancServer,
    pub app: TestApp,
    pub nginx: NginxServer,
    pub studies: Studies,
}

impl GateStack {
    pub async fn start(test: &str) -> Option<GateStack> {
        let tools = Tools::find(test)?;
        let orthanc = OrthancServer::start(&tools).await;
        let studies = orthanc.load_studies().await;
        let app = spawn_gate_app(&orthanc.url()).await;
        let nginx = NginxServer::start(&tools, app.port, orthanc.port).await;
        Some(GateStack {
            orthanc,
            app,
            nginx,
            studies,
        })
    }

    /// A share of study A (both ids) of this type, minted by the app.
    pub async fn token_for_a(&self, token_type: &str) -> String {
        self.app.token(token_type, &share_of(&self.studies.a)).await
    }

    /// A request exactly as written (no client-side normalisation of `..` or `%2e`) through nginx.
    pub async fn visit(&self, method: &str, path: &str, headers: &[(&str, &str)]) -> Visit {
        raw_request(self.nginx.port, method, path, headers).await
    }
}

/// The app with the gate on, looking resources up in this Orthanc.
pub async fn spawn_gate_app(orthanc_url: &str) -> TestApp {
    spawn_app(&gate_settings(orthanc_url)).await
}

/// The settings that turn the gate on, looking resources up in the Orthanc at `orthanc_url`.
pub fn gate_settings(orthanc_url: &str) -> [(&'static str, &str); 7] {
    [
        ("ORTHANC_URL", orthanc_url),
        ("ORTHANC_USER", ORTHANC_USER),
        ("ORTHANC_PASSWORD", ORTHANC_PASSWORD),
        ("ORTHANC_TIMEOUT_SECONDS", "2"),
        ("GATE_PATH_PREFIX", "/orthanc/"),
        ("PUBLIC_ORTHANC_ROOT", "https://pacs.example.test/orthanc/"),
        // Protected links open through the landing page (the gate's denials lead there too).
        ("PUBLIC_LANDING_ROOT", DENIED_URL),
    ]
}

pub fn share_of(study: &Study) -> Value {
    json!({"resources": [{"dicom-uid": study.uid, "orthanc-id": study.id, "level": "study"}]})
}

/// One HTTP/1.1 request written byte for byte, the whole answer read (Connection: close).
pub async fn raw_request(port: u16, method: &str, path: &str, headers: &[(&str, &str)]) -> Visit {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connects");
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if method != "GET" && method != "HEAD" {
        head.push_str("Content-Length: 0\r\n");
    }
    head.push_str("\r\n");
    stream
        .write_all(head.as_bytes())
        .await
        .expect("request written");
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut raw))
        .await
        .expect("answer within 30 s")
        .expect("answer read");
    parse_answer(&raw)
}

fn parse_answer(raw: &[u8]) -> Visit {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an HTTP head");
    let head = String::from_utf8_lossy(&raw[..split]);
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(n, v)| n.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    if chunked {
        body = dechunk(&body);
    }
    Visit {
        status,
        headers,
        body,
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(end) = data.windows(2).position(|w| w == b"\r\n") {
        let size_text = String::from_utf8_lossy(&data[..end]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .expect("a chunk size");
        if size == 0 {
            break;
        }
        let start = end + 2;
        out.extend_from_slice(&data[start..start + size]);
        data = &data[start + size + 2..];
    }
    out
}
