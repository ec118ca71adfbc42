//! `--dev`: one command on a fresh machine gives a working service with generated credentials,
//! kept in a local data folder so links stay valid across restarts.
use std::path::{Path, PathBuf};

use anyhow::Context;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use serde::{Deserialize, Serialize};

use crate::roles::RolesConfig;
use crate::settings::Source;

#[derive(Serialize, Deserialize)]
struct DevCredentials {
    secret_key: String,
    user: String,
    password: String,
}

/// What to tell the person who started the service.
pub struct DevBanner {
    pub user: String,
    pub password: String,
    pub credentials_file: PathBuf,
}

/// Fills what dev mode defaults: SECRET_KEY and USERS (generated once, stored under `data_dir`),
/// a loopback BIND_ADDRESS, a local Orthanc as PUBLIC_ORTHANC_ROOT so viewer links work, and a
/// roles file under `data_dir` (the production default path does not exist on a dev machine).
/// Values set in the environment are kept.
pub fn prepare(src: &mut Source, data_dir: &Path) -> anyhow::Result<Option<DevBanner>> {
    if src.get("BIND_ADDRESS").is_none() {
        src.set("BIND_ADDRESS", "127.0.0.1:8000".into());
    }
    if src.get("PUBLIC_ORTHANC_ROOT").is_none() {
        src.set("PUBLIC_ORTHANC_ROOT", "http://localhost:8042/".into());
    }
    if src.get("PERMISSIONS_FILE_PATH").is_none() {
        let roles = data_dir.join("permissions.json");
        if !roles.exists() {
            let text = serde_json::to_string_pretty(&RolesConfig::built_in())?;
            write_private(&roles, &text)?;
        }
        src.set("PERMISSIONS_FILE_PATH", roles.display().to_string());
    }
    if src.get("SECRET_KEY").is_some() && src.get("USERS").is_some() {
        return Ok(None);
    }
    let file = data_dir.join("dev-credentials.json");
    let creds = match std::fs::read_to_string(&file) {
        Ok(text) => serde_json::from_str(&text)
            .with_context(|| format!("Failed to read {}", file.display()))?,
        Err(_) => {
            let creds = DevCredentials {
                secret_key: random(32),
                user: "dev".into(),
                password: random(18),
            };
            write_private(&file, &serde_json::to_string_pretty(&creds)?)?;
            creds
        }
    };
    if src.get("SECRET_KEY").is_none() {
        src.set("SECRET_KEY", creds.secret_key.clone());
    }
    if src.get("USERS").is_some() {
        return Ok(None);
    }
    src.set(
        "USERS",
        serde_json::json!({ &creds.user: &creds.password }).to_string(),
    );
    Ok(Some(DevBanner {
        user: creds.user,
        password: creds.password,
        credentials_file: file,
    }))
}

fn random(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

fn write_private(file: &Path, text: &str) -> anyhow::Result<()> {
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("Failed to create {}", dir.display()))?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f = options
        .open(file)
        .with_context(|| format!("Failed to create {}", file.display()))?;
    std::io::Write::write_all(&mut f, text.as_bytes())
        .with_context(|| format!("Failed to write {}", file.display()))?;
    Ok(())
}

impl DevBanner {
    /// Printed on stdout once at start, while the logs go to stderr: these are throw-away dev
    /// credentials, and the next steps to try.
    pub fn text(&self, port: u16) -> String {
        let base = format!("http://127.0.0.1:{port}");
        let auth = format!("-u '{}:{}'", self.user, self.password);
        let json = "-H 'Content-Type: application/json'";
        format!(
            "\nauth-service dev mode: listening on {base}\n\
             basic-auth user: {user}  password: {password}  (stored in {file})\n\n\
             1. create a share (its answer holds \"token\" and a viewer \"url\"):\n  \
             curl -s {auth} -X PUT {base}/tokens/stone-viewer-publication {json} \\\n    \
             -d '{{\"id\":\"demo\",\"resources\":[{{\"dicom-uid\":\"1.2.3\",\"level\":\"study\"}}],\"validity-duration\":3600}}'\n\
             2. ask what the Orthanc plugin asks (TOKEN=the token of step 1):\n  \
             curl -s {auth} -X POST {base}/tokens/validate {json} -H \"token: $TOKEN\" \\\n    \
             -d '{{\"dicom-uid\":\"1.2.3\",\"level\":\"study\",\"method\":\"get\"}}'\n\
             3. read the token as the landing page does:\n  \
             curl -s {auth} -X POST {base}/tokens/decode {json} \\\n    \
             -d \"{{\\\"token-value\\\": \\\"$TOKEN\\\"}}\"\n",
            user = self.user,
            password = self.password,
            file = self.credentials_file.display(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn dev_mode_keeps_its_roles_file_in_the_data_folder() {
        let data = tempfile::tempdir().expect("temp dir");
        let mut src = Source::new(HashMap::new(), Path::new("/nonexistent"));
        prepare(&mut src, data.path()).expect("prepared");
        let roles = data.path().join("permissions.json");
        assert_eq!(
            src.get("PERMISSIONS_FILE_PATH"),
            Some(roles.display().to_string().as_str())
        );
        let stored: RolesConfig =
            serde_json::from_str(&std::fs::read_to_string(&roles).expect("written")).expect("JSON");
        assert_eq!(stored, RolesConfig::built_in());
        // Set by the environment: kept.
        let mut src = Source::new(
            HashMap::from([(
                "PERMISSIONS_FILE_PATH".to_owned(),
                "/etc/roles.json".to_owned(),
            )]),
            Path::new("/nonexistent"),
        );
        prepare(&mut src, data.path()).expect("prepared");
        assert_eq!(src.get("PERMISSIONS_FILE_PATH"), Some("/etc/roles.json"));
    }
}
