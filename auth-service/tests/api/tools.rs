//! What the tests need beyond Rust, and the one place that decides what a missing tool means:
//! under `CI=true` a missing required tool (Node, npm, python3 with pip, openssl) fails the test,
//! since CI must install it (`.ci/run`); elsewhere the test prints SKIPPED loudly and stops.
//! Optional ones (a Docker engine holding the Keycloak image) skip
//! everywhere. Tools are installed under `target/test-tools/`, never into the source tree nor
//! into the user's Python.
//!
//! Every test that may skip lives in a module named in `.config/nextest.toml`'s output rule, so
//! its SKIPPED line shows even when it passes (`skipping_tests_are_shown_by_nextest` checks it).
use std::path::PathBuf;

/// How much a test needs a tool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// CI installs it: missing there is a failure.
    Required,
    /// Not installable in CI (no registry for it): always a loud skip.
    Optional,
}

pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| matches!(v.to_ascii_lowercase().as_str(), "true" | "1"))
}

/// Says that `test` cannot run because of `reason`: panics under CI for a required tool,
/// prints SKIPPED otherwise. The caller then returns.
pub fn unavailable(test: &str, reason: &str, need: Need) {
    if need == Need::Required && in_ci() {
        panic!("{test}: {reason}. CI=true: a missing test tool is a failure (.ci/run installs it)");
    }
    eprintln!("\n!!!!! SKIPPED {test}: {reason} !!!!!\n");
}

/// `target/test-tools/NAME`: next to the test binary (`target/debug/deps/api-...`), so a
/// `cargo clean` removes it and the source tree stays as checked out.
pub fn tools_dir(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let target = exe
        .ancestors()
        .nth(3)
        .expect("the test binary sits in target/<profile>/deps");
    let dir = target.join("test-tools").join(name);
    std::fs::create_dir_all(&dir).expect("test tools folder created");
    dir
}

/// One installer at a time across test processes (nextest runs each test in its own): a lock
/// folder, taken over when older than ten minutes (a killed run).
pub fn with_install_lock<T>(dir: &std::path::Path, install: impl FnOnce() -> T) -> T {
    let lock = dir.join(".install.lock");
    let started = std::time::Instant::now();
    while std::fs::create_dir(&lock).is_err() {
        let stale = std::fs::metadata(&lock)
            .and_then(|m| m.modified())
            .is_ok_and(|t| t.elapsed().unwrap_or_default() > std::time::Duration::from_secs(600));
        if stale {
            let _ = std::fs::remove_dir(&lock);
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(900),
            "waited 15 minutes for another test's install in {}",
            dir.display()
        );
        // Polling another process's lock: there is no event to wait on.
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let result = install();
    let _ = std::fs::remove_dir(&lock);
    result
}

/// A folder under `target/test-tools/` from which python3 imports `module`, pip having installed
/// `requirements` (pip arguments: package specs, or `-r FILE`) there once, never into the
/// machine's Python. A marker holding the arguments (and the requirement file's text) says the
/// install finished, so a changed pin installs again. `Err(reason)` without python3 or pip.
pub fn python_packages(
    folder: &str,
    requirements: &[&str],
    module: &str,
) -> Result<PathBuf, String> {
    if !runs("python3") {
        return Err("`python3` not found (apt-get install python3 python3-pip)".into());
    }
    let dir = tools_dir(folder);
    let mut wanted = requirements.join(" ");
    if let Some(file) = requirements.iter().skip_while(|a| **a != "-r").nth(1) {
        wanted.push('\n');
        wanted.push_str(&std::fs::read_to_string(file).map_err(|e| format!("{file}: {e}"))?);
    }
    let marker = dir.join(".installed");
    let importable = || {
        std::process::Command::new("python3")
            .args(["-c", &format!("import {module}")])
            .env("PYTHONPATH", &dir)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    with_install_lock(&dir, || {
        if std::fs::read_to_string(&marker).is_ok_and(|m| m == wanted) && importable() {
            return Ok(dir.clone());
        }
        let out = std::process::Command::new("python3")
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--upgrade",
            ])
            .arg("--target")
            .arg(&dir)
            .args(requirements)
            .output()
            .map_err(|e| format!("pip did not run ({e})"))?;
        if out.status.success() && importable() {
            std::fs::write(&marker, &wanted).map_err(|e| format!("{}: {e}", marker.display()))?;
            return Ok(dir.clone());
        }
        Err(format!(
            "pip could not install {} into {} (apt-get install python3-pip): {}",
            requirements.join(" "),
            dir.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    })
}

/// Whether `tool --version` runs.
pub fn runs(tool: &str) -> bool {
    std::process::Command::new(tool)
        .arg("--version")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The calling test's name (`module::test`), for SKIPPED lines.
macro_rules! test_name {
    () => {{
        fn here() {}
        let mut name = std::any::type_name_of_val(&here);
        name = name.strip_suffix("::here").unwrap_or(name);
        while let Some(outer) = name.strip_suffix("::{{closure}}") {
            name = outer;
        }
        name.strip_prefix("api::").unwrap_or(name)
    }};
}

/// The value of a helper that needs a tool, or the test stops here (the helper said why through
/// `unavailable`: a failure under CI, SKIPPED elsewhere).
macro_rules! or_skip {
    ($helper:expr) => {
        match $helper {
            Some(value) => value,
            None => return,
        }
    };
}

/// The Keycloak realm double for the calling test (needs Node).
macro_rules! realm_or_skip {
    () => {
        or_skip!($crate::realm::Realm::start(test_name!()).await)
    };
}

#[test]
fn skipping_tests_are_shown_by_nextest() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = std::fs::read_to_string(root.join("../.config/nextest.toml"))
        .expect(".config/nextest.toml read");
    let rule = config
        .lines()
        .skip_while(|l| !l.contains("[[profile.default.overrides]]"))
        .find_map(|l| l.trim().strip_prefix("filter = "))
        .expect("an output rule with a filter");
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(root.join("tests/api")).expect("tests/api listed") {
        let path = entry.expect("entry").path();
        let module = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        if module == "tools" || module == "main" {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("test module read");
        let has_tests = text.contains("#[test]") || text.contains("#[tokio::test]");
        let may_skip = ["or_skip!", "unavailable("]
            .iter()
            .any(|call| text.contains(call));
        if has_tests && may_skip && !rule.contains(&format!("{module}::")) {
            missing.push(module.to_owned());
        }
    }
    assert!(
        missing.is_empty(),
        "modules with tests that may skip, not in the nextest output rule {rule}: {missing:?}"
    );
}

/// A loopback port free now, for a server a test starts as another process. The kernel may hand
/// the same port to another pick once this socket closes, so a test that starts several servers
/// gets ports never handed out before in this process.
pub fn free_port() -> u16 {
    static HANDED_OUT: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
    let mut held = Vec::new();
    loop {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free loopback port");
        let port = listener.local_addr().expect("a bound address").port();
        held.push(listener);
        if !handed_out.contains(&port) {
            handed_out.push(port);
            return port;
        }
    }
}
