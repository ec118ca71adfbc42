//! Use counts that could not be written before the process stopped (the database was down),
//! kept in a file under `DATA_DIR` and written at the next start, before the shares are loaded:
//! a share's use limit holds across a restart during an outage. Each batch keeps its id, so a
//! batch whose commit outcome was unknown is still counted once.
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::known::UseDelta;
use crate::domain::ShareId;

const FILE_NAME: &str = "share-uses-pending.json";

/// A batch of uses and its id (see `ShareStore::apply_uses`).
pub type UseBatch = (String, Vec<UseDelta>);

#[derive(Serialize, Deserialize)]
struct Kept {
    batches: Vec<KeptBatch>,
}

#[derive(Serialize, Deserialize)]
struct KeptBatch {
    id: String,
    uses: Vec<KeptUse>,
}

#[derive(Serialize, Deserialize)]
struct KeptUse {
    share: String,
    uses: u64,
    #[serde(rename = "last-used")]
    last_used: Option<i64>,
}

pub struct UseJournal {
    path: PathBuf,
}

impl UseJournal {
    pub fn new(data_dir: &Path) -> UseJournal {
        UseJournal {
            path: data_dir.join(FILE_NAME),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Keeps `batches` for the next start (replacing what was kept), written whole or not at all.
    pub fn keep(&self, batches: &[UseBatch]) -> anyhow::Result<()> {
        let kept = Kept {
            batches: batches
                .iter()
                .map(|(id, deltas)| KeptBatch {
                    id: id.clone(),
                    uses: deltas
                        .iter()
                        .map(|d| KeptUse {
                            share: d.id.to_string(),
                            uses: d.uses,
                            last_used: d.last_used,
                        })
                        .collect(),
                })
                .collect(),
        };
        let text = serde_json::to_vec(&kept).context("Failed to serialise the pending uses")?;
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("Failed to create {}", dir.display()))?;
        }
        let temporary = self.path.with_extension("json.new");
        std::fs::write(&temporary, text)
            .with_context(|| format!("Failed to write {}", temporary.display()))?;
        std::fs::rename(&temporary, &self.path)
            .with_context(|| format!("Failed to move {} in place", self.path.display()))
    }

    /// What the last stop kept (nothing when there is no file).
    pub fn kept(&self) -> anyhow::Result<Vec<UseBatch>> {
        let text = match std::fs::read(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => {
                return Err(e).with_context(|| format!("Failed to read {}", self.path.display()))
            }
        };
        let kept: Kept = serde_json::from_slice(&text).with_context(|| {
            format!(
                "{} does not hold pending share uses (move it away to start without them)",
                self.path.display()
            )
        })?;
        Ok(kept
            .batches
            .into_iter()
            .map(|b| {
                let deltas = b
                    .uses
                    .into_iter()
                    .filter_map(|u| {
                        Some(UseDelta {
                            id: ShareId::parse(&u.share)?,
                            uses: u.uses,
                            last_used: u.last_used,
                        })
                    })
                    .collect();
                (b.id, deltas)
            })
            .collect())
    }

    /// Forgets what was kept, once it is written to the database.
    pub fn clear(&self) -> anyhow::Result<()> {
        match std::fs::remove_file(&self.path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(e).with_context(|| format!("Failed to remove {}", self.path.display()))
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_batches_come_back_whole_and_clearing_forgets_them() {
        let dir = tempfile::tempdir().expect("temp dir");
        let journal = UseJournal::new(dir.path());
        assert!(journal.kept().expect("no file").is_empty());
        let batches = vec![(
            "batch-1".to_owned(),
            vec![UseDelta {
                id: ShareId::of_token("t"),
                uses: 3,
                last_used: Some(7),
            }],
        )];
        journal.keep(&batches).expect("kept");
        assert_eq!(journal.kept().expect("read"), batches);
        journal.clear().expect("cleared");
        assert!(journal.kept().expect("no file").is_empty());
        std::fs::write(journal.path(), "garbage").expect("written");
        let error = journal.kept().expect_err("garbage refused").to_string();
        assert!(error.contains(FILE_NAME), "{error}");
    }
}
