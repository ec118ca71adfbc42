use landing_page::settings::{Settings, DEFAULT_BIND_ADDRESS};
use landing_page::startup::Application;
use landing_page::telemetry;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    if std::env::args().nth(1).as_deref() == Some("healthcheck") {
        let source = service_settings::Source::from_process();
        let bind_address = source.get("BIND_ADDRESS").unwrap_or(DEFAULT_BIND_ADDRESS);
        std::process::exit(service_health::run("landing-page", bind_address));
    }
    let doctor = std::env::args().nth(1).as_deref() == Some("doctor");
    // Before the settings, so their errors are logged: an unreadable LOG_FORMAT falls back to
    // readable lines here and stops the start with its name below.
    let log_format = std::env::var("LOG_FORMAT").ok();
    // Kept until main returns: dropping it writes every line still queued.
    let log = telemetry::init_with_format(
        // The doctor's lines are its output: only errors from the libraries it calls.
        if doctor { "error" } else { "info" },
        telemetry::LogFormat::parse(log_format.as_deref()).unwrap_or_default(),
    );
    if doctor {
        let report = landing_page::doctor::run(&service_settings::Source::from_process()).await;
        print!("{}", report.render());
        drop(log);
        std::process::exit(if report.failed() { 1 } else { 0 });
    }
    let settings = match Settings::load() {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("landing-page: configuration error: {e}");
            drop(log);
            std::process::exit(2);
        }
    };
    let app = Application::build(settings)?;
    if let Some(port) = app.metrics_port() {
        tracing::info!(port, "landing-page metrics listening");
    }
    tracing::info!(port = app.port(), "landing-page listening");
    app.run_until_stopped().await?;
    drop(log);
    Ok(())
}
