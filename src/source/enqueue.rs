//! `replay s3://… --enqueue QUEUE_URL`: a backfill fanned out to the fleet. Each listed object
//! becomes one S3 event notification on the daemons' queue, so every replica shares the work
//! with the live path's guarantees (deleted only when read and delivered, redelivered on
//! failure, alerts deduplicated per sink).

use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;

use super::listing::S3Object;
use super::notification::{delivery_stamp, s3_event};

/// SendMessageBatch calls in flight at once.
const PARALLEL_BATCHES: usize = 8;

/// What an enqueue did.
#[derive(Debug, Default)]
pub struct Enqueued {
    pub messages: u64,
    /// The objects' total size.
    pub bytes: u64,
    /// One line per object that is not on the queue, naming it and why.
    pub failed: Vec<String>,
}

/// Sends one notification per object, in batches of ten, in delivery-time order (the time in
/// the log names, across accounts and regions): the daemons' correlation watermark then moves
/// forward as it does live, instead of calling the events of a region listed later late.
pub async fn enqueue(
    client: &aws_sdk_sqs::Client,
    queue_url: &str,
    objects: &[S3Object],
) -> Enqueued {
    let mut done = Enqueued::default();
    let mut objects: Vec<&S3Object> = objects.iter().collect();
    objects.sort_by(|a, b| (delivery_stamp(&a.key), &a.key).cmp(&(delivery_stamp(&b.key), &b.key)));
    let batches: Vec<&[&S3Object]> = objects.chunks(10).collect();
    for round in batches.chunks(PARALLEL_BATCHES) {
        let sent = futures_util::future::join_all(
            round
                .iter()
                .map(|batch| send_batch(client, queue_url, batch)),
        )
        .await;
        for (batch, failed) in round.iter().zip(sent) {
            let ok = batch.len() - failed.len();
            done.messages += ok as u64;
            done.bytes += batch
                .iter()
                .enumerate()
                .filter(|(i, _)| !failed.iter().any(|(f, _)| f == i))
                .map(|(_, o)| o.size)
                .sum::<u64>();
            for (i, why) in failed {
                let o = &batch[i];
                done.failed
                    .push(format!("s3://{}/{}: not enqueued: {why}", o.bucket, o.key));
            }
        }
    }
    done
}

/// Sends one batch; returns the positions that failed, with why.
async fn send_batch(
    client: &aws_sdk_sqs::Client,
    queue_url: &str,
    batch: &[&S3Object],
) -> Vec<(usize, String)> {
    let entries: Vec<SendMessageBatchRequestEntry> = batch
        .iter()
        .enumerate()
        .map(|(i, o)| {
            SendMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .message_body(s3_event(&o.bucket, &o.key, o.size))
                .build()
                .expect("id and body are set")
        })
        .collect();
    match client
        .send_message_batch()
        .queue_url(queue_url)
        .set_entries(Some(entries))
        .send()
        .await
    {
        Ok(out) => out
            .failed
            .into_iter()
            .filter_map(|f| {
                let i = f.id.parse::<usize>().ok()?;
                Some((i, format!("{}: {}", f.code, f.message.unwrap_or_default())))
            })
            .collect(),
        Err(e) => {
            let why = DisplayErrorContext(e).to_string();
            (0..batch.len()).map(|i| (i, why.clone())).collect()
        }
    }
}
