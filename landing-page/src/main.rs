use landing_page::settings::Settings;
use landing_page::startup::Application;
use landing_page::telemetry;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    telemetry::init("info");
    let settings = Settings::load().unwrap_or_else(|e| {
        eprintln!("landing-page: configuration error: {e}");
        std::process::exit(2);
    });
    let app = Application::build(settings)?;
    tracing::info!(port = app.port(), "landing-page listening");
    app.run_until_stopped().await?;
    Ok(())
}
