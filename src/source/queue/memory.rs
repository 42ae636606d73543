//! [`Queue`] in memory, with SQS's semantics on tokio's clock (so tests can run a paused,
//! auto-advancing clock through visibility timeouts in no real time): messages stay
//! invisible for their visibility timeout after a receive and come back with a higher
//! receive count; each receive gives a new handle and only the newest one deletes or changes
//! visibility; a redrive policy moves a message received `max_receive_count` times to the
//! dead-letter list instead of handing it out again, and a visibility change reaching more
//! than 12 hours past the receive is refused, as SQS does. Calls can be made to fail, and the
//! queue records what was done to it.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use super::{DeleteFailure, Queue, QueueError, Receipt, Received, MAX_INVISIBLE};

#[derive(Debug)]
struct Entry {
    id: String,
    body: String,
    receive_count: u32,
    visible_at: Instant,
    /// The newest receipt handle, if the message was ever received, and when.
    handle: Option<String>,
    received_at: Instant,
}

#[derive(Debug, Default)]
struct Inner {
    messages: VecDeque<Entry>,
    next_id: u64,
    next_handle: u64,
    deleted: Vec<String>,
    visibility_changes: Vec<(String, Duration)>,
    fail_receives: usize,
    fail_deletes: usize,
    /// The redrive policy's maxReceiveCount, when the queue has a dead-letter queue.
    max_receive_count: Option<u32>,
    /// Ids of the messages moved to the dead-letter queue, in order.
    dead: Vec<String>,
}

/// A queue held in memory.
#[derive(Debug)]
pub struct MemoryQueue {
    name: String,
    inner: Mutex<Inner>,
    arrived: Notify,
}

impl MemoryQueue {
    pub fn new(name: impl Into<String>) -> MemoryQueue {
        MemoryQueue {
            name: name.into(),
            inner: Mutex::default(),
            arrived: Notify::new(),
        }
    }

    /// A queue with a redrive policy: a message received `max_receive_count` times goes to
    /// the dead-letter queue instead of being handed out once more.
    pub fn with_dead_letter(name: impl Into<String>, max_receive_count: u32) -> MemoryQueue {
        let queue = MemoryQueue::new(name);
        queue.lock().max_receive_count = Some(max_receive_count);
        queue
    }

    /// Ids of the messages the redrive policy moved to the dead-letter queue.
    pub fn dead_letters(&self) -> Vec<String> {
        self.lock().dead.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().expect("memory queue lock")
    }

    /// Sends a message; returns its id.
    pub fn send(&self, body: impl Into<String>) -> String {
        let mut inner = self.lock();
        inner.next_id += 1;
        let id = format!("m{}", inner.next_id);
        inner.messages.push_back(Entry {
            id: id.clone(),
            body: body.into(),
            receive_count: 0,
            visible_at: Instant::now(),
            handle: None,
            received_at: Instant::now(),
        });
        drop(inner);
        self.arrived.notify_waiters();
        id
    }

    /// Ids of the deleted messages, in the order they were deleted.
    pub fn deleted(&self) -> Vec<String> {
        self.lock().deleted.clone()
    }

    /// Messages not deleted, visible or not.
    pub fn len(&self) -> usize {
        self.lock().messages.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Messages another receive would get now.
    pub fn visible(&self) -> usize {
        let now = Instant::now();
        self.lock()
            .messages
            .iter()
            .filter(|m| m.visible_at <= now)
            .count()
    }

    /// How many times the message was handed out.
    pub fn receive_count(&self, id: &str) -> Option<u32> {
        self.lock()
            .messages
            .iter()
            .find(|m| m.id == id)
            .map(|m| m.receive_count)
    }

    /// Every visibility change made, in order: message id and the new timeout.
    pub fn visibility_changes(&self) -> Vec<(String, Duration)> {
        self.lock().visibility_changes.clone()
    }

    /// The next `n` receives fail.
    pub fn fail_receives(&self, n: usize) {
        self.lock().fail_receives = n;
    }

    /// The next `n` delete calls fail as a whole.
    pub fn fail_deletes(&self, n: usize) {
        self.lock().fail_deletes = n;
    }

    fn error(&self, call: &'static str, message: &str) -> QueueError {
        QueueError {
            call,
            queue: self.name.clone(),
            message: message.to_string(),
        }
    }

    /// Hands out up to `max` visible messages, or says when the next one becomes visible.
    fn take(&self, max: usize, visibility: Duration) -> Result<Vec<Received>, Option<Instant>> {
        let now = Instant::now();
        let mut inner = self.lock();
        let inner = &mut *inner;
        let max_receives = inner.max_receive_count;
        let mut dead = Vec::new();
        inner.messages.retain(|m| {
            let moved = m.visible_at <= now && max_receives.is_some_and(|n| m.receive_count >= n);
            if moved {
                dead.push(m.id.clone());
            }
            !moved
        });
        inner.dead.extend(dead);
        let mut out = Vec::new();
        for m in inner.messages.iter_mut() {
            if out.len() == max {
                break;
            }
            if m.visible_at > now {
                continue;
            }
            inner.next_handle += 1;
            let handle = format!("{}#{}", m.id, inner.next_handle);
            m.receive_count += 1;
            m.visible_at = now + visibility;
            m.handle = Some(handle.clone());
            m.received_at = now;
            out.push(Received {
                receipt: Receipt {
                    queue: self.name.clone(),
                    message_id: m.id.clone(),
                    handle,
                },
                body: m.body.clone(),
                receive_count: m.receive_count,
            });
        }
        if out.is_empty() {
            Err(inner.messages.iter().map(|m| m.visible_at).min())
        } else {
            Ok(out)
        }
    }
}

impl Queue for MemoryQueue {
    fn name(&self) -> &str {
        &self.name
    }

    async fn receive(
        &self,
        max: usize,
        wait: Duration,
        visibility: Duration,
    ) -> Result<Vec<Received>, QueueError> {
        {
            let mut inner = self.lock();
            if inner.fail_receives > 0 {
                inner.fail_receives -= 1;
                return Err(self.error("ReceiveMessage", "injected failure"));
            }
        }
        let deadline = Instant::now() + wait;
        loop {
            // Registered before looking, so a send between the look and the wait is not missed.
            let arrived = self.arrived.notified();
            let next = match self.take(max.clamp(1, 10), visibility) {
                Ok(got) => return Ok(got),
                Err(next) => next,
            };
            if Instant::now() >= deadline {
                return Ok(Vec::new());
            }
            let until = next.map_or(deadline, |n| n.min(deadline));
            tokio::select! {
                _ = arrived => {}
                _ = tokio::time::sleep_until(until) => {}
            }
        }
    }

    async fn delete(&self, receipts: &[Receipt]) -> Result<Vec<DeleteFailure>, QueueError> {
        let mut inner = self.lock();
        if inner.fail_deletes > 0 {
            inner.fail_deletes -= 1;
            return Err(self.error("DeleteMessageBatch", "injected failure"));
        }
        let mut failed = Vec::new();
        for r in receipts {
            let at = inner
                .messages
                .iter()
                .position(|m| m.handle.as_deref() == Some(r.handle.as_str()));
            match at {
                Some(i) => {
                    let m = inner.messages.remove(i).expect("position is in range");
                    inner.deleted.push(m.id);
                }
                None => failed.push(DeleteFailure {
                    message_id: r.message_id.clone(),
                    code: "ReceiptHandleIsInvalid".into(),
                    message: "not the newest receipt of a message in the queue".into(),
                }),
            }
        }
        Ok(failed)
    }

    async fn set_visibility(
        &self,
        receipt: &Receipt,
        visibility: Duration,
    ) -> Result<(), QueueError> {
        let mut inner = self.lock();
        let inner = &mut *inner;
        let m = inner
            .messages
            .iter_mut()
            .find(|m| m.handle.as_deref() == Some(receipt.handle.as_str()))
            .ok_or_else(|| {
                self.error(
                    "ChangeMessageVisibility",
                    "ReceiptHandleIsInvalid: not the newest receipt of a message in the queue",
                )
            })?;
        let now = Instant::now();
        if now + visibility > m.received_at + MAX_INVISIBLE {
            return Err(self.error(
                "ChangeMessageVisibility",
                "InvalidParameterValue: the total visibility timeout would exceed 12 hours",
            ));
        }
        m.visible_at = now + visibility;
        inner
            .visibility_changes
            .push((receipt.message_id.clone(), visibility));
        if visibility.is_zero() {
            self.arrived.notify_waiters();
        }
        Ok(())
    }
}
