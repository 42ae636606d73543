//! `trailwatch check-config --probe`: every outside party the configuration names is asked
//! once, the way the daemon will talk to it, and nothing is sent or changed: the caller's
//! identity (GetCallerIdentity), each queue and its dead-letter queue (GetQueueAttributes),
//! each SNS topic (GetTopicAttributes), each webhook (a HEAD request: any HTTP answer
//! proves it can be reached), the shared state table (DescribeTable).

use crate::metrics::Metrics;
use crate::pipeline::Pipeline;
use crate::source::queue::sqs::{depth, SqsQueue};
use crate::state::Table;

/// One party asked: the configuration key that names it, the call made, and what it said
/// or why it failed.
#[derive(Debug, Clone)]
pub struct Probe {
    pub key: String,
    pub call: String,
    pub answer: Result<String, String>,
}

pub async fn probe(pipeline: &Pipeline, sdk: &aws_config::SdkConfig) -> Vec<Probe> {
    let cfg = &pipeline.config;
    let mut out = Vec::new();
    let sts = aws_sdk_sts::Client::new(sdk);
    out.push(Probe {
        key: "AWS credentials".into(),
        call: "sts:GetCallerIdentity".into(),
        answer: sts
            .get_caller_identity()
            .send()
            .await
            .map(|id| {
                format!(
                    "account {}, {}",
                    id.account().unwrap_or("?"),
                    id.arn().unwrap_or("?")
                )
            })
            .map_err(|e| aws_sdk_sts::error::DisplayErrorContext(e).to_string()),
    });
    let sqs = aws_sdk_sqs::Client::new(sdk);
    for (i, url) in cfg.sqs.queue_urls.iter().enumerate() {
        let key = format!("sqs.queue_urls[{i}]");
        let queue = SqsQueue::new(sqs.clone(), url);
        let info = queue.describe().await;
        let dead_letter = info.as_ref().ok().and_then(|i| i.dead_letter.clone());
        out.push(Probe {
            key: key.clone(),
            call: "sqs:GetQueueAttributes".into(),
            answer: info.map_err(|e| e.message).map(|info| {
                let visibility = info
                    .visibility_secs
                    .map_or("?".to_string(), |v| format!("{v} s"));
                match &info.dead_letter {
                    Some(dl) => format!(
                        "visibility timeout {visibility}; dead-letter queue {} after {} receives",
                        dl.name,
                        dl.max_receive_count
                            .map_or("?".to_string(), |n| n.to_string())
                    ),
                    None => format!(
                        "visibility timeout {visibility}; no dead-letter queue: a message that always fails is received again until it expires"
                    ),
                }
            }),
        });
        if let Some(dl) = dead_letter {
            out.push(Probe {
                key: format!("{key} (dead-letter queue {})", dl.name),
                call: "sqs:GetQueueAttributes".into(),
                answer: depth(&sqs, &dl.url)
                    .await
                    .map(|n| format!("{n} message(s) waiting"))
                    .map_err(|e| e.message),
            });
        }
    }
    // A state of its own: nothing is delivered.
    let sinks = pipeline
        .state(None, &Metrics::new(), None)
        .and_then(|state| pipeline.sinks(Some(sdk), Metrics::new(), state));
    match sinks {
        Ok(sinks) => {
            for p in sinks.probe().await {
                out.push(Probe {
                    key: format!("{} (sink {})", p.key, p.sink),
                    call: p.call,
                    answer: p.answer,
                });
            }
        }
        Err(e) => out.push(Probe {
            key: "sinks".into(),
            call: "setting up the sinks".into(),
            answer: Err(e.to_string()),
        }),
    }
    if let Ok(Some(name)) = cfg.state.shared_table() {
        let table = Table::new(
            aws_sdk_dynamodb::Client::new(sdk),
            name,
            Metrics::new(),
            None,
        );
        out.push(Probe {
            key: "state.table".into(),
            call: "dynamodb:DescribeTable".into(),
            answer: table
                .check()
                .await
                .map(|warnings| match warnings.as_slice() {
                    [] => format!("{name}: keys and TTL as trailwatch needs them"),
                    w => format!("{name}: {}", w.join("; ")),
                })
                .map_err(|e| e.to_string()),
        });
    }
    out
}
