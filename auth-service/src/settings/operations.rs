//! Settings of the operability features (health, shutdown, throttling, metrics, logs). Kept apart
//! from the service's own settings (`settings/mod.rs`) so those read as the Python service's do.
use std::time::Duration;

use service_settings::TrustedProxies;

use super::{invalid, SettingsError, Source};

pub use service_telemetry::LogFormat;

/// Failed basic-auth throttling: each client address holds `burst` tries that come back one
/// every `refill`.
#[derive(Clone, Debug)]
pub struct ThrottleSettings {
    pub burst: u32,
    pub refill: Duration,
    /// Peers whose `X-Forwarded-For` names the client (nginx in front); everyone else is keyed
    /// by its own address, so a client cannot dodge the throttle by writing the header.
    pub trusted_proxies: TrustedProxies,
}

#[derive(Clone, Debug)]
pub struct OperationsSettings {
    /// In-flight requests get this long to finish after SIGTERM (docker stop waits 10 s).
    pub shutdown_timeout: Duration,
    /// How long a `/ready` answer is reused.
    pub ready_cache: Duration,
    pub throttle: ThrottleSettings,
    /// When set, `/metrics` is served there without credentials instead of behind basic auth on
    /// the main address.
    pub metrics_bind_address: Option<String>,
    /// ENABLE_METRICS (default true).
    pub metrics_enabled: bool,
    pub log_format: LogFormat,
}

impl OperationsSettings {
    pub fn from_source(src: &Source) -> Result<OperationsSettings, SettingsError> {
        Ok(OperationsSettings {
            // 0 has a meaning for both: no drain, no reuse of a readiness answer.
            shutdown_timeout: src.seconds_between("SHUTDOWN_TIMEOUT_SECONDS", 8.0, 0.0, 3600.0)?,
            ready_cache: src.seconds_between("READY_CACHE_SECONDS", 5.0, 0.0, 3600.0)?,
            throttle: ThrottleSettings {
                burst: match src.get("LOGIN_FAILURE_BURST") {
                    None => 10,
                    Some(t) => t
                        .parse()
                        .ok()
                        .filter(|n| (1..=10_000).contains(n))
                        .ok_or_else(|| invalid("LOGIN_FAILURE_BURST", "must be 1 to 10000"))?,
                },
                refill: refill(src)?,
                trusted_proxies: TrustedProxies::parse(
                    "TRUSTED_PROXIES",
                    src.get("TRUSTED_PROXIES"),
                )?,
            },
            metrics_bind_address: src.get("METRICS_BIND_ADDRESS").map(str::to_owned),
            metrics_enabled: src.flag_or("ENABLE_METRICS", true)?,
            log_format: LogFormat::parse(src.get("LOG_FORMAT"))?,
        })
    }
}

impl Default for OperationsSettings {
    fn default() -> Self {
        OperationsSettings {
            shutdown_timeout: Duration::from_secs(8),
            ready_cache: Duration::from_secs(5),
            throttle: ThrottleSettings {
                burst: 10,
                refill: Duration::from_secs(6),
                trusted_proxies: TrustedProxies::default(),
            },
            metrics_bind_address: None,
            metrics_enabled: true,
            log_format: LogFormat::Human,
        }
    }
}

/// `LOGIN_FAILURE_REFILL_SECONDS`: at least a second (0 would hand a guess back at once,
/// turning the throttle off without a word).
fn refill(src: &Source) -> Result<Duration, SettingsError> {
    const NAME: &str = "LOGIN_FAILURE_REFILL_SECONDS";
    src.seconds_between(NAME, 6.0, 1.0, 3600.0).map_err(|_| {
        invalid(
            NAME,
            "must be a number of seconds from 1 to 3600 (one failed login is forgiven per period; 0 would turn the throttle off)",
        )
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::path::Path;

    use super::*;

    fn load(pairs: &[(&str, &str)]) -> Result<OperationsSettings, SettingsError> {
        let env: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        OperationsSettings::from_source(&Source::new(env, Path::new("/nonexistent-secrets-dir")))
    }

    #[test]
    fn defaults_and_parsed_values() {
        let d = load(&[]).expect("defaults");
        assert_eq!(d.shutdown_timeout, Duration::from_secs(8));
        assert_eq!(d.throttle.burst, 10);
        assert!(d.throttle.trusted_proxies.is_empty());
        assert_eq!(d.log_format, LogFormat::Human);
        let s = load(&[
            ("TRUSTED_PROXIES", "172.18.0.0/16, 10.0.0.5"),
            ("LOG_FORMAT", "JSON"),
            ("LOGIN_FAILURE_BURST", "3"),
        ])
        .expect("valid");
        assert!(s
            .throttle
            .trusted_proxies
            .contains("10.0.0.5".parse().expect("ip")));
        assert!(!s
            .throttle
            .trusted_proxies
            .contains("10.0.0.6".parse().expect("ip")));
        assert_eq!(s.log_format, LogFormat::Json);
        assert_eq!(s.throttle.burst, 3);
    }

    #[test]
    fn bad_values_name_their_variable() {
        let name = |pairs: &[(&str, &str)]| load(pairs).err().map(|e| e.name);
        assert_eq!(
            name(&[("TRUSTED_PROXIES", "nginx")]),
            Some("TRUSTED_PROXIES")
        );
        assert_eq!(name(&[("LOG_FORMAT", "xml")]), Some("LOG_FORMAT"));
        assert_eq!(
            name(&[("LOGIN_FAILURE_BURST", "0")]),
            Some("LOGIN_FAILURE_BURST")
        );
        assert_eq!(
            name(&[("SHUTDOWN_TIMEOUT_SECONDS", "-1")]),
            Some("SHUTDOWN_TIMEOUT_SECONDS")
        );
        for refill in ["0", "0.5", "-6", "3601", "NaN", "six"] {
            assert_eq!(
                name(&[("LOGIN_FAILURE_REFILL_SECONDS", refill)]),
                Some("LOGIN_FAILURE_REFILL_SECONDS"),
                "{refill}"
            );
        }
        let one = load(&[("LOGIN_FAILURE_REFILL_SECONDS", "1")]).expect("1 s is valid");
        assert_eq!(one.throttle.refill, Duration::from_secs(1));
    }
}
