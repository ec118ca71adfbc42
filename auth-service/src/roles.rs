//! The roles file (`PERMISSIONS_FILE_PATH`): which permissions and labels each Keycloak realm role
//! grants. Read once at start (JSON with comments), kept in memory, rewritten whole by
//! `PUT /settings/roles`.
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use crate::jsonc;
use crate::settings::DEFAULT_PERMISSIONS_FILE;
use anyhow::Context;

// The file's shape and the merge rules are the wire crate's (the `/settings/roles` bodies).
pub use auth_wire::{RolePermissions, RolesConfig};

/// The roles in force, and the one writer of the file.
pub struct RolesStore {
    path: PathBuf,
    current: RwLock<Arc<RolesConfig>>,
    writer: tokio::sync::Mutex<()>,
}

impl RolesStore {
    /// Reads the file. A file that cannot be read or parsed is an error naming the path, except
    /// a missing file at the default path: the built-in roles then apply (a service started
    /// without PERMISSIONS_FILE_PATH outside the Docker image, which ships that file).
    pub fn load(path: &Path) -> anyhow::Result<RolesStore> {
        let config = match std::fs::read_to_string(path) {
            Ok(text) => jsonc::from_str::<RolesConfig>(&text)
                .with_context(|| format!("The roles file {} is not valid", path.display()))?,
            Err(e)
                if e.kind() == std::io::ErrorKind::NotFound
                    && path == Path::new(DEFAULT_PERMISSIONS_FILE) =>
            {
                tracing::warn!(path = %path.display(), "no roles file at the default path: using the built-in roles");
                RolesConfig::built_in()
            }
            Err(e) => {
                return Err(anyhow::Error::new(e)
                    .context(format!("Failed to read the roles file {}", path.display())))
            }
        };
        Ok(RolesStore {
            path: path.to_owned(),
            current: RwLock::new(Arc::new(config)),
            writer: tokio::sync::Mutex::new(()),
        })
    }

    pub fn current(&self) -> Arc<RolesConfig> {
        match self.current.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Writes `config` to the file atomically (temporary file in the same folder, fsync, rename),
    /// one writer at a time, then makes it the roles in force.
    pub async fn replace(&self, config: RolesConfig) -> anyhow::Result<Arc<RolesConfig>> {
        let _one_writer = self.writer.lock().await;
        let text =
            serde_json::to_string_pretty(&config).context("Failed to serialise the roles")?;
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || write_atomically(&path, text.as_bytes()))
            .await
            .context("The roles file writer stopped")??;
        let config = Arc::new(config);
        match self.current.write() {
            Ok(mut guard) => *guard = config.clone(),
            Err(poisoned) => *poisoned.into_inner() = config.clone(),
        }
        Ok(config)
    }
}

fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "roles.json".into());
    let temp = dir.join(format!(".{name}.{}.tmp", rand::random::<u64>()));
    let result = (|| {
        let mut file = std::fs::File::create(&temp)
            .with_context(|| format!("Failed to create {}", temp.display()))?;
        file.write_all(bytes)
            .and_then(|()| file.write_all(b"\n"))
            .and_then(|()| file.sync_all())
            .with_context(|| format!("Failed to write {}", temp.display()))?;
        std::fs::rename(&temp, path)
            .with_context(|| format!("Failed to replace the roles file {}", path.display()))?;
        // The rename is durable once the folder is synced.
        if let Ok(d) = std::fs::File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Permission;

    fn config(text: &str) -> RolesConfig {
        jsonc::from_str(text).unwrap_or_else(|_| RolesConfig::built_in())
    }

    #[test]
    fn grants_are_the_union_of_the_user_roles() {
        let c = config(
            r#"{"roles": {"a": {"authorized-labels": ["x"], "permissions": ["view", "share"]},
                         "b": {"authorized_labels": ["y", "x"], "permissions": ["share", "delete"]}}}"#,
        );
        let g = c.grants(&["offline_access".into(), "a".into(), "b".into()]);
        assert_eq!(
            g.permissions,
            vec![Permission::View, Permission::Share, Permission::Delete]
        );
        assert_eq!(g.authorized_labels, vec!["x", "y"]);
        assert_eq!(c.grants(&[]), RolePermissions::default());
    }

    #[test]
    fn merge_drops_unknown_roles_and_adds_new_ones_empty() {
        let c = config(
            r#"{"roles": {"a": {"authorized-labels": ["*"], "permissions": ["all"]}, "gone": {}}, "available-labels": ["l"]}"#,
        );
        let m = c.merged_with(&["a".into(), "new".into()]);
        assert_eq!(m.roles.keys().collect::<Vec<_>>(), vec!["a", "new"]);
        assert_eq!(m.roles["a"], c.roles["a"]);
        assert_eq!(m.roles["new"], RolePermissions::default());
        assert_eq!(m.available_labels, vec!["l"]);
    }

    #[test]
    fn unknown_permission_in_the_file_is_an_error_naming_the_path() {
        let dir = std::env::temp_dir().join(format!("roles-test-{}", rand::random::<u32>()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("permissions.json");
        let _ = std::fs::write(&path, r#"{"roles": {"a": {"permissions": ["fly"]}}}"#);
        let e = RolesStore::load(&path).err().map(|e| format!("{e:#}"));
        let e = e.unwrap_or_default();
        assert!(
            e.contains(&path.display().to_string()) && e.contains("fly"),
            "{e}"
        );
        let missing = dir.join("absent.json");
        assert!(RolesStore::load(&missing).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
