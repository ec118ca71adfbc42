//! The command line: subcommands listed by `--help`, and anything unknown refused with a usage
//! line and exit status 2 before any setting is read (a typo never starts the service).
use std::process::{Command, Output};

fn auth_service(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_auth-service"))
        .args(args)
        .env_clear()
        // Settings that would start the service on a free port, were the arguments ignored.
        .env("SECRET_KEY", crate::helpers::SECRET)
        .env("USERS", r#"{"u": "p"}"#)
        .env("BIND_ADDRESS", "127.0.0.1:0")
        .env("SECRETS_DIR", "/nonexistent-secrets-dir")
        .output()
        .expect("auth-service runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn help_lists_every_subcommand() {
    let out = auth_service(&["--help"]);
    assert_eq!(out.status.code(), Some(0));
    let help = text(&out.stdout);
    assert!(
        help.starts_with("Share tokens, viewer links and user profiles"),
        "{help}"
    );
    for line in [
        "Usage: auth-service [OPTIONS]",
        "  doctor ",
        "  healthcheck ",
        "  users ",
        "  explain ",
        "      --dev",
    ] {
        assert!(help.contains(line), "{line:?} missing from:\n{help}");
    }
    let explain = text(&auth_service(&["explain", "--help"]).stdout);
    assert!(
        explain.contains("Usage: auth-service explain [OPTIONS] <USER>"),
        "{explain}"
    );
    assert!(
        explain.contains("--label <LABEL>") && explain.contains("--json"),
        "{explain}"
    );
    let version = auth_service(&["--version"]);
    assert_eq!(
        text(&version.stdout),
        format!("auth-service {}\n", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn an_unknown_subcommand_or_option_is_a_usage_error_with_exit_status_2() {
    for (args, error, usage) in [
        (
            &["serve-please"][..],
            "error: unrecognized subcommand 'serve-please'",
            "Usage: auth-service [OPTIONS]",
        ),
        (
            &["--listen"][..],
            "error: unexpected argument '--listen' found",
            "Usage: auth-service [OPTIONS]",
        ),
        (
            &["users", "--all"][..],
            "error: unexpected argument '--all' found",
            "Usage: auth-service users [OPTIONS]",
        ),
        (
            &["doctor", "now"][..],
            "error: unexpected argument 'now' found",
            "Usage: auth-service doctor",
        ),
        (
            &["explain"][..],
            "error: the following required arguments were not provided",
            "Usage: auth-service explain",
        ),
        (&["--dev", "users"][..], "error:", "Usage: auth-service"),
    ] {
        let out = auth_service(args);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.starts_with(error), "{args:?}: {stderr}");
        assert!(stderr.contains(usage), "{args:?}: {stderr}");
        assert_eq!(text(&out.stdout), "", "{args:?}");
    }
}
