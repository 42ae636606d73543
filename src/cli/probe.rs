//! `trailwatch probe`: asks a running daemon's health endpoint, for container health checks
//! where the image has no shell or curl.

use std::time::Duration;

use clap::Args;

use super::exit;

#[derive(Args, Debug)]
pub struct ProbeArgs {
    /// The endpoint to ask: /healthz (alive) or /readyz (ready to receive).
    #[arg(default_value = "http://127.0.0.1:9464/healthz", value_name = "URL")]
    url: String,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 3)]
    timeout_secs: u64,
}

/// Exit 0 when the endpoint answers 2xx, 1 otherwise (with the reason on stderr).
pub fn run(args: ProbeArgs) -> u8 {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            say!("error: cannot start the runtime: {e}");
            return exit::INPUT_FAILED;
        }
    };
    let answer = runtime.block_on(async {
        reqwest::Client::builder()
            .timeout(Duration::from_secs(args.timeout_secs))
            .build()?
            .get(&args.url)
            .send()
            .await
    });
    match answer {
        Ok(r) if r.status().is_success() => exit::OK,
        Ok(r) => {
            say!("{}: {}", args.url, r.status());
            exit::INPUT_FAILED
        }
        Err(e) => {
            say!("{}: {e}", args.url);
            exit::INPUT_FAILED
        }
    }
}
