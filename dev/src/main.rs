//! `cargo run -p dev`: auth-service (dev mode: generated credentials kept in ./data) and the
//! landing page in one process, the landing page as auth-service's PUBLIC_LANDING_ROOT, and a
//! publication link printed that opens through it. Without PUBLIC_ORTHANC_ROOT, the run answers
//! at the default viewer root itself (viewer_stand_in.rs).
mod viewer_stand_in;

use std::net::TcpListener;
use std::path::PathBuf;

use anyhow::Context;
use auth_client::{AuthClient, Timeouts};
use auth_wire::{CreateTokenBody, Level, ResourceDto, TokenType};
use secrecy::ExposeSecret;
use service_settings::Source;
use url::Url;

const DEFAULT_LANDING_BIND: &str = "127.0.0.1:8080";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // Kept until main returns: dropping it writes the last lines.
    let _log = auth_service::telemetry::init("info");
    let mut source = Source::from_process();
    let landing_bind = source
        .get("LANDING_BIND_ADDRESS")
        .unwrap_or(DEFAULT_LANDING_BIND)
        .to_owned();
    let landing_root = format!("http://{}/", loopback(&landing_bind));
    if source.get("PUBLIC_LANDING_ROOT").is_none() {
        source.set("PUBLIC_LANDING_ROOT", landing_root.clone());
    }
    // No Orthanc named: the run stands in for the viewer at Orthanc's usual address, unless
    // something (a local Orthanc) already listens there.
    let viewer_bind = source
        .get("DEV_VIEWER_BIND_ADDRESS")
        .unwrap_or(viewer_stand_in::DEFAULT_BIND)
        .to_owned();
    let viewer_listener = match source.get("PUBLIC_ORTHANC_ROOT") {
        Some(_) => None,
        None => match TcpListener::bind(&viewer_bind) {
            Ok(listener) => {
                let root = format!("http://{}/", listener.local_addr()?);
                source.set("PUBLIC_ORTHANC_ROOT", root);
                Some(listener)
            }
            Err(e) => {
                eprintln!(
                    "dev: {viewer_bind} is taken ({e}): links open the Orthanc listening there"
                );
                None
            }
        },
    };
    let data_dir = PathBuf::from(source.get("DATA_DIR").unwrap_or("data"));
    auth_service::dev_mode::prepare(&mut source, &data_dir)?;
    let auth_settings = auth_service::settings::Settings::from_source(&source)
        .context("Failed to read the auth-service settings")?;
    let (user, password) = auth_settings
        .users
        .0
        .first()
        .cloned()
        .context("USERS holds no user")?;
    let auth_url = Url::parse(&format!(
        "http://{}/",
        loopback(&auth_settings.bind_address)
    ))?;
    let auth = auth_service::startup::Application::build(auth_settings).await?;
    let auth_url = with_port(auth_url, auth.port());

    let mut landing_source = Source::from_process();
    landing_source.set("BIND_ADDRESS", landing_bind);
    landing_source.set("AUTH_SERVICE_URL", auth_url.to_string());
    landing_source.set("AUTH_SERVICE_USER", user.clone());
    landing_source.set("AUTH_SERVICE_PASSWORD", password.expose_secret().to_owned());
    // The landing page redirects only to the viewers' origins it is told of: the same roots.
    for name in [
        "PUBLIC_ORTHANC_ROOT",
        "PUBLIC_OHIF_ROOT",
        "PUBLIC_MEDDREAM_ROOT",
    ] {
        if let Some(root) = source.get(name) {
            landing_source.set(name, root.to_owned());
        }
    }
    let landing_settings = landing_page::settings::Settings::from_source(&landing_source)
        .context("Failed to read the landing-page settings")?;
    let landing = landing_page::startup::Application::build(landing_settings)?;
    let landing_port = landing.port();
    let viewer_note = match viewer_listener {
        Some(listener) => {
            let at = listener.local_addr()?;
            tokio::spawn(viewer_stand_in::serve(listener, auth_url.to_string())?);
            format!(
                "no PUBLIC_ORTHANC_ROOT: a page on http://{at}/ stands in for the viewer (set PUBLIC_ORTHANC_ROOT to open real images)\n"
            )
        }
        None => String::new(),
    };
    let auth_task = tokio::spawn(auth.run_until_stopped());
    let landing_task = tokio::spawn(landing.run_until_stopped());

    let client = AuthClient::new(&auth_url, &user, &password, Timeouts::default())?;
    let link = |validity_duration, expiration_date| CreateTokenBody {
        id: Some("dev-demo".into()),
        resources: vec![ResourceDto {
            dicom_uid: Some("1.2.3".into()),
            orthanc_id: None,
            url: None,
            level: Level::Study,
        }],
        token_type: Some(TokenType::StoneViewerPublication),
        expiration_date,
        validity_duration,
        protection: None,
        max_uses: None,
    };
    let fresh = client
        .create_token(TokenType::StoneViewerPublication, &link(Some(86_400), None))
        .await?;
    let expired = client
        .create_token(
            TokenType::StoneViewerPublication,
            &link(None, Some("2020-01-01T00:00:00Z".into())),
        )
        .await?;
    println!(
        "\ndev: auth-service on {auth_url} (basic-auth {user} / {password}), landing page on port {landing_port}\n{viewer_note}\
         open a publication (Stone viewer, study 1.2.3, valid for a day):\n  {fresh}\n\
         an expired one:\n  {expired}\n",
        password = password.expose_secret(),
        fresh = fresh.url.unwrap_or_default(),
        expired = expired.url.unwrap_or_default(),
    );
    tokio::select! {
        r = auth_task => r??,
        r = landing_task => r??,
    }
    Ok(())
}

/// The address a browser on this machine uses for a bind address (0.0.0.0 → 127.0.0.1).
fn loopback(bind: &str) -> String {
    bind.replacen("0.0.0.0", "127.0.0.1", 1)
}

fn with_port(mut url: Url, port: u16) -> Url {
    // Infallible for an http URL with a host.
    let _ = url.set_port(Some(port));
    url
}
