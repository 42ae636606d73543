//! `trailwatch redrive`: moves the messages of each queue's dead-letter queue back to it.

use std::path::PathBuf;

use clap::Args;

use super::exit;
use trailwatch::config::Config;
use trailwatch::source::queue::redrive::{self, Method, Progress};
use trailwatch::source::queue::sqs::SqsQueue;

#[derive(Args, Debug)]
#[command(
    after_help = "Messages land in a dead-letter queue after maxReceiveCount attempts \
    failed: an object trailwatch could not read (permissions, KMS), a notification it does not \
    understand, or a sink or state table down for longer than trailwatch holds a message (12 \
    hours per receive). Fix the cause (the daemon's log names each message), then redrive. \
    Redriven messages are read again; alerts already delivered are not sent twice.\n\n\
    Examples:\n  \
    trailwatch redrive --config /etc/trailwatch/trailwatch.toml\n  \
    trailwatch redrive --queue-url https://sqs.eu-west-1.amazonaws.com/111122223333/trailwatch --max-messages 10"
)]
pub struct RedriveArgs {
    /// Queue whose dead-letter queue (from its RedrivePolicy) is moved back to it
    /// (repeatable; default: sqs.queue_urls of --config).
    #[arg(long = "queue-url", value_name = "URL")]
    queue_urls: Vec<String>,
    /// Daemon configuration whose queues to redrive.
    #[arg(long, short, value_name = "FILE")]
    config: Option<PathBuf>,
    /// How: SQS's move task where available, else receive/send/delete (auto); or one of them.
    #[arg(long, value_enum, default_value_t = Method::Auto)]
    method: Method,
    /// Move at most this many messages per queue (receive/send/delete only).
    #[arg(long, value_name = "N")]
    max_messages: Option<u64>,
}

pub fn run(args: RedriveArgs) -> u8 {
    let mut queues = args.queue_urls.clone();
    if queues.is_empty() {
        match &args.config {
            Some(path) => match Config::load(path) {
                Ok(cfg) => queues = cfg.sqs.queue_urls,
                Err(e) => {
                    say!("error: {e}");
                    return exit::USAGE;
                }
            },
            None => {
                say!("error: name the queues: --queue-url URL (repeatable) or --config FILE");
                return exit::USAGE;
            }
        }
    }
    for q in &queues {
        if let Err(e) = trailwatch::config::check_queue_url(q) {
            say!("error: {q}: {e}");
            return exit::USAGE;
        }
    }
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
    runtime.block_on(async {
        let sdk = match trailwatch::config::aws::load().await {
            Ok(sdk) => sdk,
            Err(e) => {
                say!("error: {e}");
                return exit::INPUT_FAILED;
            }
        };
        let client = aws_sdk_sqs::Client::new(&sdk);
        let mut status = exit::OK;
        for url in &queues {
            let queue = SqsQueue::new(client.clone(), url);
            let info = match queue.describe().await {
                Ok(info) => info,
                Err(e) => {
                    say!("error: {e}");
                    status = exit::INPUT_FAILED;
                    continue;
                }
            };
            let Some(dl) = info.dead_letter else {
                say!("error: {url}: the queue has no dead-letter queue (RedrivePolicy)");
                status = exit::INPUT_FAILED;
                continue;
            };
            say!("{}: moving back to {url}", dl.name);
            let mut last_said = std::time::Instant::now();
            let report = |p: Progress| {
                if last_said.elapsed().as_secs() >= 1 {
                    last_said = std::time::Instant::now();
                    match p.total {
                        Some(t) => say!("{}: {} of about {t} moved", dl.name, p.moved),
                        None => say!("{}: {} moved", dl.name, p.moved),
                    }
                }
            };
            match redrive::redrive(
                &client,
                &dl,
                url,
                &info.arn,
                args.method,
                args.max_messages,
                report,
            )
            .await
            {
                Ok(moved) => {
                    let how = match moved.method {
                        Method::MoveTask => "SQS move task",
                        _ => "receive, send, delete",
                    };
                    say!("{}: {} message(s) moved back ({how})", dl.name, moved.moved);
                    if moved.failed > 0 {
                        say!(
                            "error: {}: {} message(s) could not be sent and stay there",
                            dl.name,
                            moved.failed
                        );
                        status = exit::INPUT_FAILED;
                    }
                }
                Err(e) => {
                    say!("error: {e}");
                    status = exit::INPUT_FAILED;
                }
            }
        }
        status
    })
}
