//! Configuration mistakes stop `run` and `check-config` at start with exit status 2 and the key
//! named, and an error never repeats a secret from the file.

use crate::common;

use common::{stderr, trailwatch, trailwatch_stderr_closed};

/// A queue URL that is not one: refused at load by both commands, instead of a daemon that runs
/// forever logging DNS errors with /readyz at 503.
#[test]
fn bad_queue_urls_are_refused_at_start() {
    for url in [
        "not a url",
        "ftp://x",
        "https://sqs.eu-west-1.amazonaws.com/trail-events",
    ] {
        for command in ["check-config", "run"] {
            let out = trailwatch(&[command, "--queue-url", url, "--jsonl", "-"]);
            assert_eq!(
                out.status.code(),
                Some(2),
                "{command} {url}: {}",
                stderr(&out)
            );
            assert!(
                stderr(&out).contains("sqs.queue_urls[0]: "),
                "{command} {url}: {}",
                stderr(&out)
            );
        }
    }
}

/// A syntax error on a webhook line: the error gives the file, line, column and key, and not
/// the line's text, which holds the token.
#[test]
fn a_syntax_error_never_shows_the_secret_on_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("trailwatch.toml");
    std::fs::write(
        &config,
        "[sqs]\nqueue_urls = [\"https://sqs.eu-west-1.amazonaws.com/111122223333/q\"]\n\n\
         [[sinks.webhook]]\nurl = https://hooks.slack.com/services/T0/B0/xoxb-s3cr3t\n",
    )
    .unwrap();
    for command in ["check-config", "run"] {
        let out = trailwatch(&[command, "--config", config.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains("trailwatch.toml: line 5, column 7 (key url): "),
            "{err}"
        );
        assert!(
            !err.contains("s3cr3t") && !err.contains("hooks.slack"),
            "{err}"
        );
    }
}

/// `trailwatch … 2>&1 | head -1`: once stderr is closed the rest of an error has nowhere to
/// go, and the command still ends with its own exit status rather than a panic's 101.
#[test]
fn a_closed_stderr_keeps_the_exit_status() {
    for args in [
        &["check-config", "--queue-url", "not a url", "--jsonl", "-"][..],
        &["run", "--queue-url", "not a url", "--jsonl", "-"],
        &["replay", "--rule", "no-such-rule", "."],
        &["rules", "test", "/no/such/rules"],
    ] {
        let open = trailwatch(args);
        assert!(
            !stderr(&open).is_empty() && open.status.code() != Some(0),
            "{args:?}: {:?}",
            open.status
        );
        let closed = trailwatch_stderr_closed(args);
        assert_eq!(closed.status.code(), open.status.code(), "{args:?}");
    }
}

/// No region, then no credentials: `run`, `check-config --probe` and `redrive` say which is
/// missing and how to provide it, in one line of at most about 300 characters.
#[test]
fn missing_region_or_credentials_is_one_line_saying_how_to_fix_it() {
    let home = tempfile::tempdir().unwrap();
    let queue = "https://sqs.eu-west-1.amazonaws.com/111122223333/q";
    let run = |args: &[&str], region: Option<&str>| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_trailwatch"));
        cmd.args(args)
            .env_clear()
            .env("HOME", home.path())
            .env("PATH", std::env::var_os("PATH").unwrap())
            // No instance metadata service to wait for here.
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("TRAILWATCH_LOG", "warn");
        if let Some(r) = region {
            cmd.env("AWS_REGION", r);
        }
        cmd.output().unwrap()
    };
    for (region, want) in [
        (None, "no AWS region: set AWS_REGION"),
        (
            Some("eu-west-1"),
            "no AWS credentials: set AWS_ACCESS_KEY_ID",
        ),
    ] {
        for args in [
            &["run", "--queue-url", queue, "--jsonl", "-"][..],
            &[
                "check-config",
                "--probe",
                "--queue-url",
                queue,
                "--jsonl",
                "-",
            ],
            &["redrive", "--queue-url", queue],
        ] {
            let out = run(args, region);
            let both = format!("{}{}", stderr(&out), String::from_utf8_lossy(&out.stdout));
            assert_eq!(out.status.code(), Some(1), "{args:?}: {both}");
            let lines: Vec<&str> = both.lines().filter(|l| l.contains(want)).collect();
            assert_eq!(lines.len(), 1, "{args:?}: {both}");
            let message = &lines[0][lines[0].find(want).unwrap()..];
            assert!(
                message.len() <= 300,
                "{} characters: {message}",
                message.len()
            );
        }
    }
}
