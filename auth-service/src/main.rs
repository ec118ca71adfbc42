use std::path::PathBuf;

use auth_service::settings::DEFAULT_BIND_ADDRESS;
use auth_service::settings::{Settings, Source};
use auth_service::startup::Application;
use auth_service::{dev_mode, telemetry};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    if std::env::args().nth(1).as_deref() == Some("healthcheck") {
        let source = Source::from_process();
        let bind_address = source.get("BIND_ADDRESS").unwrap_or(DEFAULT_BIND_ADDRESS);
        std::process::exit(service_health::run("auth-service", bind_address));
    }
    // Before the settings (their errors are logged): an unreadable LOG_FORMAT falls back to
    // human lines here and stops the start with its name below.
    let log_format = std::env::var("LOG_FORMAT").ok();
    let doctor = std::env::args().nth(1).as_deref() == Some("doctor");
    // Kept until main returns: dropping it writes every line still queued.
    let log = telemetry::init_with_format(
        // The doctor's lines are its output: only errors from the libraries it calls.
        if doctor { "error" } else { "info" },
        telemetry::LogFormat::parse(log_format.as_deref()).unwrap_or_default(),
    );
    if doctor {
        let report = auth_service::doctor::run(&Source::from_process()).await;
        print!("{}", report.render());
        drop(log);
        std::process::exit(if report.failed() { 1 } else { 0 });
    }
    let dev = std::env::args().any(|a| a == "--dev");
    let mut source = Source::from_process();
    let banner = if dev {
        let data_dir = PathBuf::from(source.get("DATA_DIR").unwrap_or("data"));
        dev_mode::prepare(&mut source, &data_dir)?
    } else {
        None
    };
    let settings = match Settings::from_source(&source) {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("auth-service: configuration error: {e}");
            drop(log);
            std::process::exit(2);
        }
    };
    let app = Application::build(settings).await?;
    if let Some(banner) = banner {
        println!("{}", banner.text(app.port()));
    }
    tracing::info!(port = app.port(), "auth-service listening");
    app.run_until_stopped().await?;
    drop(log);
    Ok(())
}
