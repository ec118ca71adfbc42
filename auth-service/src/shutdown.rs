//! What runs once the server has stopped after SIGTERM: the HTTP workers have finished their
//! in-flight requests (or run out of SHUTDOWN_TIMEOUT_SECONDS), so work that was batched for
//! later (the share registry's use counts) can be written out before the process exits.
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

type Hook = Box<dyn FnOnce() -> Pin<Box<dyn Future<Output = ()> + Send>> + Send>;

/// Hooks run one after the other, in the order they were added, each bounded in time.
#[derive(Default)]
pub struct ShutdownHooks {
    hooks: Vec<(&'static str, Hook)>,
}

impl ShutdownHooks {
    /// Adds `hook` under a name for the log (e.g. `"share registry flush"`).
    pub fn add<F, Fut>(&mut self, name: &'static str, hook: F)
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.hooks.push((name, Box::new(move || Box::pin(hook()))));
    }

    /// Runs every hook; one that takes longer than `budget` is abandoned (and logged) so a stuck
    /// database cannot keep the process from exiting.
    pub async fn run(self, budget: Duration) {
        for (name, hook) in self.hooks {
            match tokio::time::timeout(budget, hook()).await {
                Ok(()) => tracing::info!(hook = name, "shutdown hook done"),
                Err(_) => tracing::error!(hook = name, "shutdown hook did not finish in time"),
            }
        }
    }
}
