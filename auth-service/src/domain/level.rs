use serde::{Deserialize, Serialize};

/// Orthanc resource levels as the authorization plugin names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Patient,
    Study,
    Series,
    Instance,
    System,
}

impl Level {
    pub fn parse(name: &str) -> Option<Level> {
        Some(match name {
            "patient" => Level::Patient,
            "study" => Level::Study,
            "series" => Level::Series,
            "instance" => Level::Instance,
            "system" => Level::System,
            _ => return None,
        })
    }
}
