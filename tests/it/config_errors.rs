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
