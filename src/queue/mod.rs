//! The durable hand-off between the API and the workers: RabbitMQ, or a
//! local queue in SQLite for the embedded default. Both implement
//! [`MessageQueue`] and pass the same conformance tests.

mod ack_window;
pub mod amqp;
pub mod batch;
pub mod codec;
pub mod local;
pub mod spool;
pub mod spooled;

use async_trait::async_trait;
use tokio::sync::mpsc;

#[derive(Debug, Clone, thiserror::Error)]
pub enum QueueError {
    /// The queue cannot take the message now; nothing was stored. Callers
    /// may spool it and try again.
    #[error("queue unavailable: {0}")]
    Unavailable(String),
}

impl QueueError {
    pub fn unavailable(error: impl std::fmt::Display) -> Self {
        Self::Unavailable(error.to_string())
    }
}

/// A message that was dead-lettered, with the reason it could not be
/// processed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    pub payload: Vec<u8>,
    pub reason: String,
}

/// A durable queue of opaque messages: reports on the reports queue,
/// notifications on the alerts queue. What a message holds is the
/// [`codec`]'s business.
#[async_trait]
pub trait MessageQueue: Send + Sync {
    /// Returns once the message is durable (a broker confirm, a database
    /// commit); until then it may be lost, so callers reply only after.
    async fn publish(&self, payload: &[u8]) -> Result<(), QueueError>;

    /// Publishes in order and returns once all are durable; on error some
    /// may have been stored, so callers retry the batch and rely on
    /// deduplication.
    async fn publish_batch(&self, payloads: &[Vec<u8>]) -> Result<(), QueueError> {
        for payload in payloads {
            self.publish(payload).await?;
        }
        Ok(())
    }

    /// Starts a consumer holding at most `prefetch` unacknowledged
    /// deliveries. It survives broker restarts; deliveries not acknowledged
    /// come again, so consumers must be idempotent.
    async fn consume(&self, prefetch: u16) -> anyhow::Result<mpsc::Receiver<Delivery>>;

    /// Looks at dead letters without removing them.
    async fn dead_letters(&self, limit: usize) -> anyhow::Result<Vec<DeadLetter>>;
}

/// One message handed to a consumer; it stays owed until acknowledged or
/// dead-lettered.
pub struct Delivery {
    /// The message's body: one payload, or several if [`Self::grouped`].
    pub payload: Vec<u8>,
    pub redelivered: bool,
    grouped: bool,
    acker: Box<dyn Acknowledge>,
}

impl Delivery {
    pub fn new(payload: Vec<u8>, redelivered: bool, acker: Box<dyn Acknowledge>) -> Self {
        Self {
            payload,
            redelivered,
            grouped: false,
            acker,
        }
    }

    /// Marks a message that holds several payloads (see [`batch`]).
    pub fn grouped(self, grouped: bool) -> Self {
        Self { grouped, ..self }
    }

    /// What was published: the message is settled as one, after all of
    /// them are dealt with.
    pub fn payloads(&self) -> Result<Vec<&[u8]>, batch::BatchError> {
        if self.grouped {
            batch::decode(&self.payload)
        } else {
            Ok(vec![&self.payload])
        }
    }

    /// The message is done with: it will not come again.
    pub async fn ack(self) -> anyhow::Result<()> {
        self.acker.ack().await
    }

    /// The message can never be processed: park it, with the reason, where
    /// an operator can see it.
    pub async fn dead_letter(self, reason: &str) -> anyhow::Result<()> {
        self.acker.dead_letter(&self.payload, reason).await
    }

    /// One of a grouped message's payloads can never be processed: park a
    /// copy of it, with the reason. The message itself stays owed, so the
    /// others are not held back by it.
    pub async fn dead_letter_one(&self, payload: &[u8], reason: &str) -> anyhow::Result<()> {
        self.acker.dead_letter_copy(payload, reason).await
    }
}

#[async_trait]
pub trait Acknowledge: Send + Sync {
    async fn ack(self: Box<Self>) -> anyhow::Result<()>;
    async fn dead_letter(self: Box<Self>, payload: &[u8], reason: &str) -> anyhow::Result<()>;
    async fn dead_letter_copy(&self, payload: &[u8], reason: &str) -> anyhow::Result<()>;
}
