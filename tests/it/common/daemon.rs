//! The real `trailwatch run` process for end-to-end tests: started against a moto server,
//! probed through its metrics address, stopped with SIGTERM.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::moto::{free_port, http_get, Moto};
use super::{samples, trailwatch};

/// The daemon process, stopped (SIGTERM) on drop.
pub struct Daemon {
    pub child: Child,
    pub metrics: String,
}

impl Daemon {
    pub fn metrics(&self) -> String {
        http_get(&format!("{}/metrics", self.metrics)).unwrap_or_default()
    }

    /// The value of one sample line of /metrics, e.g. `trailwatch_sqs_messages_deleted_total`.
    pub fn metric(&self, line_prefix: &str) -> f64 {
        self.metrics()
            .lines()
            .find(|l| l.starts_with(line_prefix) && l[line_prefix.len()..].starts_with(' '))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    }

    pub fn stop(&mut self) -> std::process::ExitStatus {
        unsafe_sigterm(self.child.id());
        self.child.wait().unwrap()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn unsafe_sigterm(pid: u32) {
    Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
}

/// Starts `trailwatch run` with `config` (TOML text, written beside `log`) and `args`, on a
/// free metrics port, logging to `log`; returns once it is ready.
pub fn start(moto: &Moto, config: &str, args: &[&str], log: &std::path::Path) -> Daemon {
    start_with_env(moto, config, args, log, &[])
}

/// [`start`] with more environment variables for the daemon.
pub fn start_with_env(
    moto: &Moto,
    config: &str,
    args: &[&str],
    log: &std::path::Path,
    env: &[(&str, &str)],
) -> Daemon {
    let metrics_port = free_port();
    let config_path = log.with_extension("toml");
    std::fs::write(&config_path, config).unwrap();
    let metrics_addr = format!("127.0.0.1:{metrics_port}");
    let mut all = vec!["run", "--config", config_path.to_str().unwrap()];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--metrics-addr", &metrics_addr]);
    let child = moto
        .command(&all)
        .envs(env.iter().copied())
        .env("TRAILWATCH_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap();
    let daemon = Daemon {
        child,
        metrics: format!("http://{metrics_addr}"),
    };
    wait_for("daemon ready", Duration::from_secs(30), || {
        http_get(&format!("{}/readyz", daemon.metrics)).is_some()
    });
    daemon
}

pub fn wait_for(what: &str, limit: Duration, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Alert ids a replay of the same file gives: what the daemon must deliver.
pub fn expected_alert_ids(file: &std::path::Path) -> Vec<String> {
    let out = trailwatch(&["replay", file.to_str().unwrap()]);
    let mut ids: Vec<String> = super::alerts(&out)
        .iter()
        .map(|a| a["alert_id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

pub fn sample_log() -> std::path::PathBuf {
    let dir = samples().join("AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/20");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files[0].clone()
}
