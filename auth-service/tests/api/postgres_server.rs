//! A real PostgreSQL server (Debian's `postgresql` package) for the tests: initdb in a temp dir,
//! started as a non-root user on a free loopback port, stopped and removed on drop.
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::tools::{free_port, unavailable, Need};

pub struct PostgresServer {
    dir: tempfile::TempDir,
    bin: PathBuf,
    /// Run the server as this user (`runuser`): PostgreSQL refuses to run as root.
    run_as: Option<String>,
    pub port: u16,
    child: Option<Child>,
}

/// The bin folder of the newest installed PostgreSQL, or why there is none.
fn bin_dir() -> Result<PathBuf, String> {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map_err(|_| "PostgreSQL is not installed (apt-get install -y postgresql)".to_owned())?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|bin| bin.join("initdb").is_file() && bin.join("postgres").is_file())
        .collect();
    found.sort();
    found
        .pop()
        .ok_or_else(|| "no initdb under /usr/lib/postgresql (apt-get install -y postgresql)".into())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

impl PostgresServer {
    /// Starts a server, or gives `None` when PostgreSQL is not installed (through
    /// `tools::unavailable`: SKIPPED, a failure under `CI=true`).
    pub async fn start(test: &str) -> Option<PostgresServer> {
        let bin = match bin_dir() {
            Ok(bin) => bin,
            Err(reason) => {
                unavailable(&format!("{test} on PostgreSQL"), &reason, Need::Required);
                return None;
            }
        };
        let dir = tempfile::Builder::new()
            .prefix("auth-service-pg-")
            .tempdir()
            .expect("temp dir");
        let run_as = is_root().then(|| "postgres".to_owned());
        if let Some(user) = &run_as {
            let status = Command::new("chown")
                .arg(format!("{user}:"))
                .arg(dir.path())
                .status()
                .expect("chown runs");
            assert!(
                status.success(),
                "chown of the PostgreSQL temp dir to {user} failed"
            );
        }
        let mut server = PostgresServer {
            dir,
            bin,
            run_as,
            port: free_port(),
            child: None,
        };
        let data = server.data_dir();
        let out = server
            .command("initdb")
            .args([
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--no-sync",
                "-D",
            ])
            .arg(&data)
            .output()
            .expect("initdb runs");
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        server.resume().await;
        Some(server)
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(path);
                c
            }
            None => Command::new(path),
        }
    }

    /// Starts (again) the server on its port and waits until it accepts connections.
    pub async fn resume(&mut self) {
        let log = std::fs::File::create(self.dir.path().join("server.log")).expect("log file");
        let child = self
            .command("postgres")
            .arg("-D")
            .arg(self.data_dir())
            .args(["-p", &self.port.to_string()])
            .args(["-c", "listen_addresses=127.0.0.1"])
            .arg("-c")
            .arg(format!(
                "unix_socket_directories={}",
                self.dir.path().display()
            ))
            .args(["-c", "fsync=off", "-c", "full_page_writes=off"])
            // A test's few hundred MB of writes keep little WAL on disk.
            .args(["-c", "wal_level=minimal", "-c", "max_wal_senders=0"])
            .args(["-c", "max_wal_size=64MB", "-c", "min_wal_size=32MB"])
            .args(["-c", "max_connections=200"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("postgres starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(conn) = sqlx::postgres::PgPool::connect(&self.url("postgres")).await {
                conn.close().await;
                return;
            }
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!("postgres exited ({status}): {}", self.log());
                }
            }
            assert!(
                Instant::now() < deadline,
                "postgres not ready: {}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stops the server (fast shutdown: connections are cut), keeping its data. The signal goes
    /// to the postmaster itself (its pid is in postmaster.pid): runuser does not pass SIGINT on.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let pid = std::fs::read_to_string(self.data_dir().join("postmaster.pid"))
                .ok()
                .and_then(|text| text.lines().next().map(str::to_owned))
                .unwrap_or_else(|| child.id().to_string());
            let _ = Command::new("kill").args(["-INT", &pid]).status();
            let _ = child.wait();
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// A new empty database; its URL.
    pub async fn database(&self, name: &str) -> String {
        let pool = sqlx::postgres::PgPool::connect(&self.url("postgres"))
            .await
            .expect("connect to postgres");
        sqlx::query(&format!("CREATE DATABASE \"{name}\""))
            .execute(&pool)
            .await
            .expect("create database");
        pool.close().await;
        self.url(name)
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        self.stop();
    }
}
