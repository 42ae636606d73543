//! `trailwatch generate`: a synthetic archive for benchmarks and load tests.

use std::path::PathBuf;

use clap::Args;

use super::exit;
use trailwatch::synth::{generate, Plan};

#[derive(Args, Debug)]
pub struct GenerateArgs {
    /// Directory to write `AWSLogs/...` into.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Uncompressed size to write, in megabytes.
    #[arg(long, value_name = "MB", default_value_t = 100)]
    size_mb: u64,
    /// Records per log file.
    #[arg(long, value_name = "N", default_value_t = 2000)]
    records_per_file: usize,
    /// Seed: the same seed writes the same archive.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// The share of records (0 to 1) that a built-in rule matches, sign-in failures and
    /// denied calls in bursts that the correlations count (default: a busy account's natural
    /// mix, well under 5%).
    #[arg(long, value_name = "FRACTION", value_parser = fraction)]
    density: Option<f64>,
}

fn fraction(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(f) if (0.0..=1.0).contains(&f) => Ok(f),
        _ => Err(format!("{text:?} is not a fraction from 0 to 1 (e.g. 0.3)")),
    }
}

pub fn run(args: GenerateArgs) -> u8 {
    let plan = Plan {
        out: args.out,
        bytes: args.size_mb * 1_000_000,
        records_per_file: args.records_per_file.max(1),
        seed: args.seed,
        density: args.density,
    };
    match generate(&plan) {
        Ok(w) => {
            say!(
                "wrote {} files, {} records, {:.1} MB ({:.1} MB gzipped) under {}",
                w.files,
                w.records,
                w.bytes as f64 / 1e6,
                w.compressed as f64 / 1e6,
                plan.out.display()
            );
            exit::OK
        }
        Err(e) => {
            say!("error: {}: {e}", plan.out.display());
            exit::INPUT_FAILED
        }
    }
}
