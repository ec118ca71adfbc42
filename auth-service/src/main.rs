use std::path::PathBuf;

use clap::{Parser, Subcommand};

use auth_service::settings::DEFAULT_BIND_ADDRESS;
use auth_service::settings::{Settings, Source};
use auth_service::startup::Application;
use auth_service::{dev_mode, telemetry, users};

/// Share tokens, viewer links and user profiles for the Orthanc authorization plugin.
///
/// Without a subcommand, runs the service. Every subcommand reads the same settings as the
/// service: the environment, and files of the same names in /run/secrets.
#[derive(Parser)]
#[command(name = "auth-service", version, args_conflicts_with_subcommands = true)]
struct Cli {
    /// Run the service for development: loopback address, generated credentials kept in
    /// DATA_DIR (default ./data), a local roles file.
    #[arg(long)]
    dev: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Check the settings and every configured dependency for real (exit status 1 if one fails).
    Doctor,
    /// Ask the running service's /health, as the container HEALTHCHECK does (exit status 0 if healthy).
    Healthcheck,
    /// List the realm's users: roles, permissions and labels they get, api-key set; then the
    /// problems found, each with the fix to try (exit status 1 if any).
    Users {
        /// Print the list and the problems as JSON, for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Explain one user's profile: what each role gives, the profile /user/get-profile answers
    /// for their token, and whether a study with a label is visible.
    Explain {
        /// Username (or Keycloak user id).
        user: String,
        /// Say whether a study carrying this label is visible to the user, and which rule decides.
        #[arg(long)]
        label: Option<String>,
        /// Print the explanation as JSON, for scripts.
        #[arg(long)]
        json: bool,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // An unknown subcommand or option: usage on stderr, exit status 2.
    let cli = Cli::parse();
    if let Some(Command::Healthcheck) = cli.command {
        healthcheck();
    }
    // Before the settings (their errors are logged): an unreadable LOG_FORMAT falls back to
    // human lines here and stops the start with its name below.
    let log_format = std::env::var("LOG_FORMAT").ok();
    // Kept until the process ends: dropping it writes every line still queued.
    let log = telemetry::init_with_format(
        // A subcommand's lines are its output: only errors from the libraries it calls.
        if cli.command.is_some() {
            "error"
        } else {
            "info"
        },
        telemetry::LogFormat::parse(log_format.as_deref()).unwrap_or_default(),
    );
    let code = match cli.command {
        Some(Command::Doctor) => {
            let report = auth_service::doctor::run(&Source::from_process()).await;
            print!("{}", report.render());
            if report.failed() {
                1
            } else {
                0
            }
        }
        Some(Command::Users { json }) => users::command::users(&Source::from_process(), json).await,
        Some(Command::Explain { user, label, json }) => {
            let source = Source::from_process();
            users::command::explain_user(&source, &user, label.as_deref(), json).await
        }
        Some(Command::Healthcheck) => healthcheck(),
        None => return serve(cli.dev, log).await,
    };
    drop(log);
    std::process::exit(code);
}

/// Runs before anything else is set up: the container asks it every few seconds.
fn healthcheck() -> ! {
    let source = Source::from_process();
    let bind_address = source.get("BIND_ADDRESS").unwrap_or(DEFAULT_BIND_ADDRESS);
    std::process::exit(service_health::run("auth-service", bind_address));
}

async fn serve(dev: bool, log: telemetry::LogGuard) -> anyhow::Result<()> {
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
