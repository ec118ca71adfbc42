//! The `*.html` files of `EMAILS_TEMPLATES_ROOT`, looked up by name without `.html`.
//!
//! A name is a plain file name: no separator, no leading dot, and the file it names, once
//! symlinks are followed, must still be a regular file inside the folder. Anything else is
//! "not found", so a caller cannot read a file outside the folder nor learn whether it exists.
use std::io;
use std::path::{Path, PathBuf};

pub struct Templates {
    root: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    /// The name could never be a template (`..`, `a/b`, `/etc/passwd`).
    #[error("not a template name")]
    BadName,
    #[error("no such template")]
    Unknown,
    #[error("cannot read EMAILS_TEMPLATES_ROOT: {0}")]
    Io(#[from] io::Error),
}

const EXTENSION: &str = ".html";

impl Templates {
    pub fn new(root: PathBuf) -> Self {
        Templates { root }
    }

    /// Names of the templates, sorted.
    pub async fn names(&self) -> Result<Vec<String>, TemplateError> {
        let root = self.canonical_root().await?;
        let mut entries = tokio::fs::read_dir(&root).await?;
        let mut names = Vec::new();
        while let Some(entry) = entries.next_entry().await? {
            let Some(name) = entry
                .file_name()
                .to_str()
                .and_then(|f| f.strip_suffix(EXTENSION))
                .map(str::to_owned)
            else {
                continue;
            };
            if valid_name(&name) && resolve(&root, &name).await.is_ok() {
                names.push(name);
            }
        }
        names.sort();
        Ok(names)
    }

    /// The HTML of one template (invalid UTF-8 replaced, as a mail client would show it).
    pub async fn read(&self, name: &str) -> Result<String, TemplateError> {
        if !valid_name(name) {
            return Err(TemplateError::BadName);
        }
        let root = self.canonical_root().await?;
        let path = resolve(&root, name).await?;
        let bytes = tokio::fs::read(&path).await.map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => TemplateError::Unknown,
            _ => TemplateError::Io(e),
        })?;
        Ok(String::from_utf8(bytes)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
    }

    async fn canonical_root(&self) -> io::Result<PathBuf> {
        tokio::fs::canonicalize(&self.root).await
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 200
        && !name.starts_with('.')
        && !name.contains(['/', '\\', '\0'])
        && !name.chars().any(char::is_control)
}

/// The real path of `<name>.html`, if it is a regular file inside `root` (already canonical).
async fn resolve(root: &Path, name: &str) -> Result<PathBuf, TemplateError> {
    let path = match tokio::fs::canonicalize(root.join(format!("{name}{EXTENSION}"))).await {
        Ok(path) => path,
        // Missing, a dangling or looping symlink, a name too long: no such template.
        Err(_) => return Err(TemplateError::Unknown),
    };
    if !path.starts_with(root) {
        return Err(TemplateError::BadName);
    }
    match tokio::fs::metadata(&path).await {
        Ok(meta) if meta.is_file() => Ok(path),
        Ok(_) => Err(TemplateError::Unknown),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(TemplateError::Unknown),
        Err(e) => Err(TemplateError::Io(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::valid_name;

    #[test]
    fn only_plain_file_names_are_template_names() {
        for good in ["layout", "share-link", "a.b", "étude"] {
            assert!(valid_name(good), "{good}");
        }
        for bad in [
            "",
            ".",
            "..",
            "../permissions",
            "/etc/passwd",
            "a/b",
            "a\\b",
            ".hidden",
            "a\0b",
            "a\nb",
        ] {
            assert!(!valid_name(bad), "{bad:?}");
        }
    }
}
