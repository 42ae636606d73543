//! The queue seam: what the daemon needs from a message queue — receive, delete (acknowledge),
//! and change a message's visibility (extend it while a message is worked on, zero it to
//! release one) — behind one trait, so the consumer's keep / release / redelivery / shutdown
//! paths are the same code over SQS ([`sqs::SqsQueue`]) and over the in-memory queue
//! ([`memory::MemoryQueue`]) they are unit-tested against.
//!
//! The contract is SQS's: at-least-once delivery; a received message is invisible to other
//! receivers until its visibility timeout runs out, then handed out again with its receive
//! count raised; only a delete ends it.

pub mod memory;
pub mod redrive;
pub mod sqs;

use std::future::Future;
use std::time::Duration;

/// A message's identity for acknowledging it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// The queue it came from (its URL for SQS), for logs and alert origins.
    pub queue: String,
    pub message_id: String,
    /// The handle of this receipt: deletes and visibility changes name it.
    pub handle: String,
}

/// One message as received.
#[derive(Debug, Clone)]
pub struct Received {
    pub receipt: Receipt,
    pub body: String,
    /// How many times the queue has handed the message out, this time included. More than
    /// one means an earlier attempt did not finish (it failed, or its consumer died).
    pub receive_count: u32,
}

/// A queue call that failed as a whole.
#[derive(Debug, thiserror::Error)]
#[error("{call} on {queue}: {message}")]
pub struct QueueError {
    pub call: &'static str,
    pub queue: String,
    pub message: String,
}

/// One entry of a delete that the queue refused (the message will be handed out again).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteFailure {
    pub message_id: String,
    pub code: String,
    pub message: String,
}

/// Deletes at most this many messages per call (SQS's batch limit).
pub const DELETE_BATCH: usize = 10;

/// How long a received message can be kept invisible in all (SQS's limit, counted from the
/// receive): a visibility change reaching past it is refused.
pub const MAX_INVISIBLE: Duration = Duration::from_secs(12 * 3600);

pub trait Queue: Send + Sync + 'static {
    /// What the queue is called in logs and alert origins.
    fn name(&self) -> &str;

    /// Up to `max` messages (1–10), waiting up to `wait` for the first; each stays invisible
    /// for `visibility`.
    fn receive(
        &self,
        max: usize,
        wait: Duration,
        visibility: Duration,
    ) -> impl Future<Output = Result<Vec<Received>, QueueError>> + Send;

    /// Deletes up to [`DELETE_BATCH`] messages; returns the entries the queue refused.
    fn delete(
        &self,
        receipts: &[Receipt],
    ) -> impl Future<Output = Result<Vec<DeleteFailure>, QueueError>> + Send;

    /// Makes the message invisible for `visibility` from now; zero hands it out again at once.
    fn set_visibility(
        &self,
        receipt: &Receipt,
        visibility: Duration,
    ) -> impl Future<Output = Result<(), QueueError>> + Send;
}
