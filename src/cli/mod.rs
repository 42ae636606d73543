//! Command-line interface: argument definitions and one function per subcommand.

/// `eprintln!` that gives up quietly when stderr is closed (`trailwatch … 2>&1 | head -1`)
/// instead of panicking: a message nobody can read is no reason to change the exit status.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

mod audit;
mod generate;
mod probe;
mod redrive;
mod replay;
mod rules;
mod run;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

/// What a command reports before exiting: the layers' typed errors, or a message of the
/// command's own (a bad flag combination). Only this top level boxes errors.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

use trailwatch::config::{Config, RulesConfig};
use trailwatch::pipeline::{Pipeline, PipelineError, Use};
use trailwatch::rules::RuleError;

/// Exit statuses, as documented in docs/cli.md.
pub mod exit {
    pub const OK: u8 = 0;
    /// Some input could not be read (the rest was processed).
    pub const INPUT_FAILED: u8 = 1;
    /// Bad usage or rules that do not load.
    pub const USAGE: u8 = 2;
}

#[derive(Parser, Debug)]
#[command(
    name = "trailwatch",
    version,
    about = "Real-time AWS CloudTrail monitor and replay engine with Sigma detection rules",
    long_about = "trailwatch matches every CloudTrail event against a compiled set of Sigma rules \
        (a built-in pack covers root and console sign-ins, credentials, IAM policy changes, \
        logging and defences, and the CIS monitoring set) and reports what fired.\n\n\
        `replay` reads archived trails: CloudTrail log files (gzipped or not), JSON arrays, \
        NDJSON, single records and EventBridge events, in directories walked recursively.\n\n\
        Log level: set TRAILWATCH_LOG (e.g. TRAILWATCH_LOG=debug).",
    after_help = "Exit status: 0 all inputs read, 1 some input failed, 2 usage or rule errors."
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the daemon: consume CloudTrail notifications from SQS and alert in real time.
    Run(run::DaemonArgs),
    /// Audit the IAM posture of the account (CIS AWS Foundations section 1 and more): PASS,
    /// FAIL, ERROR or MANUAL per check and resource.
    Audit(audit::AuditArgs),
    /// Validate a daemon configuration (and that its rules compile) without starting anything;
    /// with --probe, also ask every queue, topic, webhook and table it names.
    CheckConfig(run::CheckArgs),
    /// Match archived CloudTrail logs against the rules and print the alerts.
    Replay(replay::ReplayArgs),
    /// Validate, list and test rules.
    #[command(subcommand)]
    Rules(rules::RulesCommand),
    /// Write a deterministic synthetic CloudTrail archive (benchmarks, load tests).
    Generate(generate::GenerateArgs),
    /// Move the messages of a queue's dead-letter queue back to it, once what made them fail
    /// is fixed.
    Redrive(redrive::RedriveArgs),
    /// Ask a running daemon's /healthz or /readyz; exit 0 when it answers 2xx (for container
    /// health checks).
    Probe(probe::ProbeArgs),
}

/// Which rules to run; shared by every command that loads rules.
#[derive(Args, Debug, Clone, Default)]
pub struct RuleArgs {
    /// Rule file or directory replacing the built-in pack (repeatable).
    #[arg(long = "rules", value_name = "PATH")]
    rules: Vec<PathBuf>,
    /// Rule file or directory added to the rules in use (repeatable).
    #[arg(long = "add-rules", value_name = "PATH")]
    add_rules: Vec<PathBuf>,
    /// Run only this rule, by name or id (repeatable).
    #[arg(long = "rule", value_name = "NAME")]
    only: Vec<String>,
    /// A newer AWS ip-ranges.json (gzipped or not) for the rules that tell AWS addresses
    /// from others, instead of the one shipped.
    #[arg(long = "aws-ip-ranges", value_name = "FILE")]
    aws_ip_ranges: Option<PathBuf>,
}

impl RuleArgs {
    /// Puts the flags over a configuration's `[rules]`: --rules replaces its paths, the others
    /// add to it.
    pub fn apply(&self, rules: &mut RulesConfig) {
        if !self.rules.is_empty() {
            rules.paths = self.rules.clone();
        }
        rules.add.extend(self.add_rules.iter().cloned());
        rules.only.extend(self.only.iter().cloned());
        if self.aws_ip_ranges.is_some() {
            rules.aws_ip_ranges = self.aws_ip_ranges.clone();
        }
    }

    /// The pipeline of `config` (read from `file`, if it was) with these flags, printing the
    /// rules' notes and what keeps it from being built; None means the command must stop
    /// (exit 2).
    fn pipeline(
        &self,
        mut config: Config,
        used: Use,
        file: Option<&std::path::Path>,
    ) -> Option<Pipeline> {
        self.apply(&mut config.rules);
        match Pipeline::build(config, used) {
            Ok(p) => {
                for note in &p.notes {
                    say!("note: {note}");
                }
                Some(p)
            }
            Err(e) => {
                print_pipeline_error(&e, file);
                None
            }
        }
    }
}

/// A rule error per line (each names its rule file) with their count; any other error on
/// one line, after the configuration file it is about.
fn print_pipeline_error(e: &PipelineError, file: Option<&std::path::Path>) {
    match (e, file) {
        (PipelineError::Rules(errors), _) => print_rule_errors(errors),
        (other, Some(file)) => say!("error: {}: {other}", file.display()),
        (other, None) => say!("error: {other}"),
    }
}

fn print_rule_errors(errors: &[RuleError]) {
    for e in errors {
        say!("error: {e}");
    }
    say!(
        "{} rule error{}",
        errors.len(),
        if errors.len() == 1 { "" } else { "s" }
    );
}

/// Where logs go: stderr, or nowhere once it is closed. The log subscriber reports a failed
/// write on stderr itself, which panics when stderr is what failed: a daemon whose stderr
/// went away would stop on its next log line.
struct LogOut;

impl std::io::Write for LogOut {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let _ = std::io::stderr().write_all(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        let _ = std::io::stderr().flush();
        Ok(())
    }
}

/// Logs go to stderr, as text for people or JSON for log shippers, at `level` unless
/// TRAILWATCH_LOG says otherwise.
fn init_logging(format: trailwatch::config::LogFormat, level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("TRAILWATCH_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_writer(|| LogOut)
        .with_env_filter(filter);
    match format {
        trailwatch::config::LogFormat::Json => builder.json().init(),
        trailwatch::config::LogFormat::Pretty => builder.init(),
    }
}

pub fn run(cli: Cli) -> ExitCode {
    // The daemon starts its logging once its configuration is read (its log.format).
    if !matches!(cli.command, Command::Run(_)) {
        init_logging(trailwatch::config::LogFormat::Pretty, "warn");
    }
    ExitCode::from(match cli.command {
        Command::Run(args) => run::run(args),
        Command::CheckConfig(args) => run::check(args),
        Command::Replay(args) => replay::run(args),
        Command::Audit(args) => audit::run(args),
        Command::Rules(cmd) => rules::run(cmd),
        Command::Generate(args) => generate::run(args),
        Command::Probe(args) => probe::run(args),
        Command::Redrive(args) => redrive::run(args),
    })
}
