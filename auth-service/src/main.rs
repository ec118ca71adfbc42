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
    telemetry::init("info");
    let dev = std::env::args().any(|a| a == "--dev");
    let mut source = Source::from_process();
    let banner = if dev {
        let data_dir = PathBuf::from(source.get("DATA_DIR").unwrap_or("data"));
        dev_mode::prepare(&mut source, &data_dir)?
    } else {
        None
    };
    let settings = Settings::from_source(&source).unwrap_or_else(|e| {
        eprintln!("auth-service: configuration error: {e}");
        std::process::exit(2);
    });
    let app = Application::build(settings)?;
    if let Some(banner) = banner {
        println!("{}", banner.text(app.port()));
    }
    tracing::info!(port = app.port(), "auth-service listening");
    app.run_until_stopped().await?;
    Ok(())
}
