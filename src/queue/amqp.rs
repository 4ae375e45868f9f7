//! RabbitMQ: a durable quorum queue, persistent messages, publisher
//! confirms, and a dead-letter exchange and queue for poison messages.
//!
//! The connection is made lazily and again after any failure, at most once
//! per back-off interval, so a broker outage costs callers one quick
//! `Unavailable` instead of a hang, and no restart is needed after it.

use std::borrow::Cow;
use std::sync::{Arc, OnceLock, RwLock, Weak};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures_util::StreamExt;
use lapin::options::{
    BasicConsumeOptions, BasicGetOptions, BasicNackOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, ExchangeDeclareOptions, ExchangeDeleteOptions, QueueBindOptions,
    QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::publisher_confirm::Confirmation;
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};
use tokio::sync::{Mutex, Semaphore, mpsc, oneshot};

use super::ack_window::AckWindow;
use super::{Acknowledge, DeadLetter, Delivery, MessageQueue, QueueError, batch};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// A confirm slower than this is treated as a failure (and the message
/// spooled); if the broker confirms later the copy is deduplicated.
pub const DEFAULT_CONFIRM_TIMEOUT: Duration = Duration::from_secs(5);
const MIN_BACKOFF: Duration = Duration::from_millis(250);
/// Reconnection attempts are a TCP connect, cheap even when refused; a
/// longer back-off would hold the spool (and the consumers) back that much
/// after the broker returns.
const MAX_BACKOFF: Duration = Duration::from_millis(500);
/// After this many failed deliveries RabbitMQ dead-letters a message by
/// itself: a message that crashes workers must not loop for ever.
const DELIVERY_LIMIT: i64 = 20;
pub const REASON_HEADER: &str = "x-ishara-reason";
const JSON: &str = "application/json";

/// Grouped messages the broker may be confirming at once. While one is in
/// flight, new publishes wait and leave together in the next: a lone
/// publish leaves at once, a crowd shares one message. One in flight makes
/// the biggest groups; in `cargo bench --bench ingest` it took 22,500
/// requests/s where two took 20,500 and four 18,700.
const GROUPS_IN_FLIGHT: usize = 1;
/// Bounds on one grouped message, so that a crowd of publishes still
/// leaves in messages a worker's prefetch window can hold a few of. No
/// payload is added once the bytes pass the bound, so a group ends at most
/// one payload past it.
const GROUP_MAX_PAYLOADS: usize = 128;
const GROUP_MAX_BYTES: usize = 1 << 20;

/// Queue and exchange names under one prefix.
#[derive(Debug, Clone)]
pub struct Names {
    pub queue: String,
    pub dead_queue: String,
    pub dead_exchange: String,
}

impl Names {
    pub fn new(prefix: &str, queue: &str) -> Self {
        Self {
            queue: format!("{prefix}.{queue}"),
            dead_queue: format!("{prefix}.{queue}.dead"),
            dead_exchange: format!("{prefix}.{queue}.dlx"),
        }
    }
}

pub struct AmqpQueue {
    url: String,
    names: Names,
    /// The channel publishes use: read on every publish, so a plain
    /// read lock rather than the reconnection mutex.
    current: RwLock<Option<Channel>>,
    link: Mutex<Link>,
    confirm_timeout: Duration,
    /// Set when publishes are grouped (see [`batch`]): where they wait.
    grouping: Option<Grouping>,
}

struct Grouping {
    queue: Weak<AmqpQueue>,
    waiting: OnceLock<mpsc::UnboundedSender<Waiting>>,
}

/// A publish waiting for its group's confirm.
struct Waiting {
    payload: Vec<u8>,
    confirmed: oneshot::Sender<Result<(), QueueError>>,
}

#[derive(Default)]
struct Link {
    connection: Option<Connection>,
    channel: Option<Channel>,
    last_attempt: Option<Instant>,
    backoff: Duration,
}

impl AmqpQueue {
    /// A queue that sends one message per publish.
    pub fn new(url: &str, names: Names) -> Arc<Self> {
        Self::confirming_within(url, names, DEFAULT_CONFIRM_TIMEOUT)
    }

    /// As [`Self::new`], failing a publish not confirmed within `timeout`.
    pub fn confirming_within(url: &str, names: Names, timeout: Duration) -> Arc<Self> {
        Arc::new(Self::unshared(url, names, timeout, None))
    }

    /// A queue that sends publishes made at the same time as one message
    /// (see [`batch`]); its consumers must read them with
    /// [`Delivery::payloads`].
    pub fn grouping(url: &str, names: Names) -> Arc<Self> {
        Self::grouping_within(url, names, DEFAULT_CONFIRM_TIMEOUT)
    }

    /// As [`Self::grouping`], failing a publish not confirmed within
    /// `timeout` of the call, however long it waited for its group.
    pub fn grouping_within(url: &str, names: Names, timeout: Duration) -> Arc<Self> {
        Arc::new_cyclic(|queue| {
            let grouping = Grouping {
                queue: queue.clone(),
                waiting: OnceLock::new(),
            };
            Self::unshared(url, names, timeout, Some(grouping))
        })
    }

    fn unshared(
        url: &str,
        names: Names,
        confirm_timeout: Duration,
        grouping: Option<Grouping>,
    ) -> Self {
        Self {
            url: url.to_owned(),
            names,
            current: RwLock::new(None),
            link: Mutex::new(Link::default()),
            confirm_timeout,
            grouping,
        }
    }

    /// `publish` bounded by the confirm timeout from its start: a stalled
    /// socket can hold the send itself, not only the confirm.
    async fn within<T>(
        &self,
        publish: impl std::future::Future<Output = Result<T, QueueError>>,
    ) -> Result<T, QueueError> {
        tokio::time::timeout(self.confirm_timeout, publish)
            .await
            .unwrap_or_else(|_| Err(no_confirm_in_time()))
    }

    /// Connects now, declaring the topology; for start-up checks.
    pub async fn connect(&self) -> Result<(), QueueError> {
        self.channel().await.map(|_| ())
    }

    /// The publishing channel, (re)connecting if it is gone and the
    /// back-off allows.
    async fn channel(&self) -> Result<Channel, QueueError> {
        if let Some(channel) = self.current.read().expect("channel lock").as_ref()
            && channel.status().connected()
        {
            return Ok(channel.clone());
        }
        let mut link = self.link.lock().await;
        if let Some(channel) = &link.channel
            && channel.status().connected()
        {
            return Ok(channel.clone());
        }
        if let Some(last) = link.last_attempt
            && last.elapsed() < link.backoff
        {
            return Err(QueueError::Unavailable(
                "broker unreachable; waiting to reconnect".into(),
            ));
        }
        link.last_attempt = Some(Instant::now());
        match self.open().await {
            Ok((connection, channel)) => {
                tracing::info!(queue = %self.names.queue, "connected to RabbitMQ");
                link.connection = Some(connection);
                link.channel = Some(channel.clone());
                link.backoff = Duration::ZERO;
                *self.current.write().expect("channel lock") = Some(channel.clone());
                Ok(channel)
            }
            Err(e) => {
                link.channel = None;
                // Said once per outage: the retries are frequent.
                if link.backoff.is_zero() {
                    tracing::warn!(error = %e, "RabbitMQ unavailable; retrying");
                } else {
                    tracing::debug!(error = %e, "RabbitMQ still unavailable");
                }
                link.backoff = (link.backoff * 2).clamp(MIN_BACKOFF, MAX_BACKOFF);
                Err(e)
            }
        }
    }

    async fn open(&self) -> Result<(Connection, Channel), QueueError> {
        let connection = tokio::time::timeout(CONNECT_TIMEOUT, connect(&self.url))
            .await
            .map_err(|_| QueueError::unavailable("connection timed out"))?
            .map_err(QueueError::unavailable)?;
        let channel = connection
            .create_channel()
            .await
            .map_err(QueueError::unavailable)?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(QueueError::unavailable)?;
        declare(&channel, &self.names)
            .await
            .map_err(QueueError::unavailable)?;
        Ok((connection, channel))
    }

    async fn forget(&self, failed: &Channel) {
        let mut link = self.link.lock().await;
        if link.channel.as_ref().map(Channel::id) == Some(failed.id()) {
            link.channel = None;
            *self.current.write().expect("channel lock") = None;
        }
    }

    /// One consumer session: returns when the connection drops.
    async fn consume_once(
        &self,
        prefetch: u16,
        deliveries: &mpsc::Sender<Delivery>,
    ) -> anyhow::Result<()> {
        let connection = tokio::time::timeout(CONNECT_TIMEOUT, connect(&self.url)).await??;
        let channel = connection.create_channel().await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        declare(&channel, &self.names).await?;
        channel
            .basic_qos(prefetch, BasicQosOptions::default())
            .await?;
        let mut consumer = channel
            .basic_consume(
                &self.names.queue,
                "",
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        tracing::info!(queue = %self.names.queue, prefetch, "consuming");
        let window = AckWindow::new(channel.clone());
        loop {
            // Stop as soon as nobody listens, not at the next delivery: a
            // full prefetch window would otherwise keep the consumer (and
            // its unacknowledged messages) for ever.
            let delivery = tokio::select! {
                next = consumer.next() => match next {
                    Some(delivery) => delivery?,
                    None => break,
                },
                _ = deliveries.closed() => break,
            };
            window.delivered(delivery.delivery_tag).await;
            let acker = AmqpAcker {
                tag: delivery.delivery_tag,
                window: window.clone(),
                channel: channel.clone(),
                names: self.names.clone(),
                settled: false,
            };
            let grouped = is_grouped(&delivery.properties);
            let delivery = Delivery::new(delivery.data, delivery.redelivered, Box::new(acker))
                .grouped(grouped);
            if deliveries.send(delivery).await.is_err() {
                break;
            }
        }
        let _ = connection.close(200, "consumer stopped").await;
        Ok(())
    }
}

/// Whether a message holds several payloads (see [`batch`]).
pub fn is_grouped(properties: &BasicProperties) -> bool {
    properties
        .content_type()
        .as_ref()
        .is_some_and(|t| t.as_str() == batch::CONTENT_TYPE)
}

async fn connect(url: &str) -> lapin::Result<Connection> {
    let properties = ConnectionProperties::default()
        .with_executor(tokio_executor_trait::Tokio::current())
        .with_reactor(tokio_reactor_trait::Tokio);
    Connection::connect(url, properties).await
}

/// Declares the queue, its dead-letter exchange and dead-letter queue.
/// Idempotent, so every connection does it.
pub async fn declare(channel: &Channel, names: &Names) -> lapin::Result<()> {
    let durable = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    let mut quorum = FieldTable::default();
    quorum.insert(
        "x-queue-type".into(),
        AMQPValue::LongString("quorum".into()),
    );
    channel
        .exchange_declare(
            &names.dead_exchange,
            ExchangeKind::Direct,
            ExchangeDeclareOptions {
                durable: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await?;
    // A classic queue: looking at dead letters requeues them, which keeps
    // their order in a classic queue and never counts towards a delivery
    // limit that would drop them.
    channel
        .queue_declare(&names.dead_queue, durable, FieldTable::default())
        .await?;
    channel
        .queue_bind(
            &names.dead_queue,
            &names.dead_exchange,
            &names.queue,
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;
    let mut args = quorum;
    args.insert(
        "x-dead-letter-exchange".into(),
        AMQPValue::LongString(names.dead_exchange.as_str().into()),
    );
    args.insert(
        "x-delivery-limit".into(),
        AMQPValue::LongLongInt(DELIVERY_LIMIT),
    );
    channel.queue_declare(&names.queue, durable, args).await?;
    Ok(())
}

/// Deletes what [`declare`] made, messages included: for tests, benchmarks
/// and decommissioning a deployment's prefix.
pub async fn delete(channel: &Channel, names: &Names) -> lapin::Result<()> {
    for queue in [&names.queue, &names.dead_queue] {
        channel
            .queue_delete(queue, QueueDeleteOptions::default())
            .await?;
    }
    channel
        .exchange_delete(&names.dead_exchange, ExchangeDeleteOptions::default())
        .await
}

/// Publishes persistently and waits for the broker's confirm. `mandatory`
/// makes an unroutable message (its queue deleted) a failure, not a
/// silent loss.
async fn publish_confirmed(
    channel: &Channel,
    exchange: &str,
    routing_key: &str,
    payload: &[u8],
    headers: FieldTable,
) -> Result<(), QueueError> {
    let confirm = start_publish(channel, exchange, routing_key, payload, JSON, headers).await?;
    await_confirm(confirm, DEFAULT_CONFIRM_TIMEOUT).await
}

/// Sends the message; the broker's confirm is awaited separately, so that
/// several messages can be in flight in the order they were sent.
async fn start_publish(
    channel: &Channel,
    exchange: &str,
    routing_key: &str,
    payload: &[u8],
    content_type: &str,
    headers: FieldTable,
) -> Result<lapin::publisher_confirm::PublisherConfirm, QueueError> {
    let properties = BasicProperties::default()
        .with_delivery_mode(2)
        .with_content_type(ShortString::from(content_type))
        .with_headers(headers);
    let confirm = channel
        .basic_publish(
            exchange,
            routing_key,
            BasicPublishOptions {
                mandatory: true,
                ..Default::default()
            },
            payload,
            properties,
        )
        .await
        .map_err(QueueError::unavailable)?;
    Ok(confirm)
}

fn no_confirm_in_time() -> QueueError {
    QueueError::unavailable("no confirm from the broker in time")
}

async fn await_confirm(
    confirm: lapin::publisher_confirm::PublisherConfirm,
    timeout: Duration,
) -> Result<(), QueueError> {
    match tokio::time::timeout(timeout, confirm).await {
        Err(_) => Err(no_confirm_in_time()),
        Ok(Err(e)) => Err(QueueError::unavailable(e)),
        Ok(Ok(Confirmation::Ack(None))) => Ok(()),
        Ok(Ok(Confirmation::Ack(Some(_)))) => {
            Err(QueueError::unavailable("message returned: queue missing"))
        }
        Ok(Ok(Confirmation::Nack(_))) => Err(QueueError::unavailable("broker refused the message")),
        Ok(Ok(Confirmation::NotRequested)) => {
            Err(QueueError::unavailable("channel is not in confirm mode"))
        }
    }
}

impl Grouping {
    async fn publish(&self, payload: &[u8]) -> Result<(), QueueError> {
        let stopped = || QueueError::unavailable("the publisher has stopped");
        let (confirmed, confirm) = oneshot::channel();
        let waiting = Waiting {
            payload: payload.to_vec(),
            confirmed,
        };
        let timeout = self.queue.upgrade().ok_or_else(stopped)?.confirm_timeout;
        self.waiting
            .get_or_init(|| {
                let (sender, waiting) = mpsc::unbounded_channel();
                tokio::spawn(publish_groups(self.queue.clone(), waiting));
                sender
            })
            .send(waiting)
            .map_err(|_| stopped())?;
        // From the call, not from when its group leaves: behind a stalled
        // group it would otherwise wait for that group's timeout and then
        // its own. Given up on, it is left out of any later group.
        match tokio::time::timeout(timeout, confirm).await {
            Ok(outcome) => outcome.map_err(|_| stopped())?,
            Err(_) => Err(no_confirm_in_time()),
        }
    }
}

/// Sends what is waiting as one message whenever fewer than
/// [`GROUPS_IN_FLIGHT`] are unconfirmed, and answers each publish with its
/// message's confirm. Messages leave in order, so reports keep theirs.
async fn publish_groups(queue: Weak<AmqpQueue>, mut waiting: mpsc::UnboundedReceiver<Waiting>) {
    let in_flight = Arc::new(Semaphore::new(GROUPS_IN_FLIGHT));
    while let Some(first) = waiting.recv().await {
        let Ok(slot) = in_flight.clone().acquire_owned().await else {
            return;
        };
        let group = take_group(first, &mut waiting);
        if group.is_empty() {
            continue;
        }
        let Some(queue) = queue.upgrade() else {
            return;
        };
        let timeout = queue.confirm_timeout;
        let sent = queue.start_group(&group).await;
        drop(queue);
        tokio::spawn(async move {
            let outcome = match sent {
                Ok(confirm) => await_confirm(confirm, timeout).await,
                Err(e) => Err(e),
            };
            for publish in group {
                let _ = publish.confirmed.send(outcome.clone());
            }
            drop(slot);
        });
    }
}

/// The first waiting publish and as many more as are waiting, within the
/// bounds of one message, leaving out those whose callers gave up (and
/// spooled their report).
fn take_group(first: Waiting, waiting: &mut mpsc::UnboundedReceiver<Waiting>) -> Vec<Waiting> {
    let mut bytes = 0;
    let mut group = Vec::new();
    let mut next = Some(first);
    while let Some(publish) = next.take() {
        if !publish.confirmed.is_closed() {
            bytes += publish.payload.len();
            group.push(publish);
        }
        if group.len() < GROUP_MAX_PAYLOADS && bytes < GROUP_MAX_BYTES {
            next = waiting.try_recv().ok();
        }
    }
    group
}

impl AmqpQueue {
    /// One message per payload, all in flight at once, then every confirm.
    async fn publish_each<P: AsRef<[u8]>>(&self, payloads: &[P]) -> Result<(), QueueError> {
        let channel = self.channel().await?;
        let result = async {
            let mut confirms = Vec::with_capacity(payloads.len());
            for payload in payloads {
                let confirm = start_publish(
                    &channel,
                    "",
                    &self.names.queue,
                    payload.as_ref(),
                    JSON,
                    FieldTable::default(),
                )
                .await?;
                confirms.push(confirm);
            }
            for confirm in confirms {
                await_confirm(confirm, self.confirm_timeout).await?;
            }
            Ok(())
        }
        .await;
        if result.is_err() && !channel.status().connected() {
            self.forget(&channel).await;
        }
        result
    }

    /// Sends a group: one plain message if it is alone, else one batch.
    async fn start_group(
        &self,
        group: &[Waiting],
    ) -> Result<lapin::publisher_confirm::PublisherConfirm, QueueError> {
        let channel = self.channel().await?;
        let (body, content_type) = match group {
            [one] => (Cow::Borrowed(one.payload.as_slice()), JSON),
            many => {
                let payloads: Vec<&[u8]> = many.iter().map(|w| w.payload.as_slice()).collect();
                (Cow::Owned(batch::encode(&payloads)), batch::CONTENT_TYPE)
            }
        };
        let sent = start_publish(
            &channel,
            "",
            &self.names.queue,
            &body,
            content_type,
            FieldTable::default(),
        )
        .await;
        if sent.is_err() && !channel.status().connected() {
            self.forget(&channel).await;
        }
        sent
    }
}

#[async_trait]
impl MessageQueue for AmqpQueue {
    async fn publish(&self, payload: &[u8]) -> Result<(), QueueError> {
        if let Some(grouping) = &self.grouping {
            return grouping.publish(payload).await;
        }
        self.within(self.publish_each(std::slice::from_ref(&payload)))
            .await
    }

    async fn publish_batch(&self, payloads: &[Vec<u8>]) -> Result<(), QueueError> {
        self.within(self.publish_each(payloads)).await
    }

    async fn consume(&self, prefetch: u16) -> anyhow::Result<mpsc::Receiver<Delivery>> {
        let (tx, rx) = mpsc::channel(prefetch as usize);
        let this = Self::unshared(&self.url, self.names.clone(), self.confirm_timeout, None);
        tokio::spawn(async move {
            let mut backoff = MIN_BACKOFF;
            while !tx.is_closed() {
                match this.consume_once(prefetch, &tx).await {
                    Ok(()) => backoff = MIN_BACKOFF,
                    Err(e) => {
                        if backoff == MIN_BACKOFF {
                            tracing::warn!(error = %e, "consumer lost RabbitMQ; reconnecting");
                        } else {
                            tracing::debug!(error = %e, "consumer still without RabbitMQ");
                        }
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                    }
                }
                tokio::time::sleep(backoff).await;
            }
        });
        Ok(rx)
    }

    async fn dead_letters(&self, limit: usize) -> anyhow::Result<Vec<DeadLetter>> {
        // Messages got without ack return to the queue when the channel closes.
        let connection = connect(&self.url).await?;
        let channel = connection.create_channel().await?;
        let mut letters = Vec::new();
        while letters.len() < limit {
            let Some(message) = channel
                .basic_get(&self.names.dead_queue, BasicGetOptions { no_ack: false })
                .await?
            else {
                break;
            };
            let reason = message
                .delivery
                .properties
                .headers()
                .as_ref()
                .and_then(|h| h.inner().get(REASON_HEADER).cloned())
                .map(|v| match v {
                    AMQPValue::LongString(s) => s.to_string(),
                    other => format!("{other:?}"),
                })
                .unwrap_or_else(|| "rejected by the broker (x-death)".into());
            letters.push(DeadLetter {
                payload: message.delivery.data,
                reason,
            });
        }
        channel
            .basic_nack(
                0,
                BasicNackOptions {
                    multiple: true,
                    requeue: true,
                },
            )
            .await
            .ok();
        connection.close(200, "peeked").await.ok();
        Ok(letters)
    }
}

struct AmqpAcker {
    tag: u64,
    window: AckWindow,
    channel: Channel,
    names: Names,
    settled: bool,
}

#[async_trait]
impl Acknowledge for AmqpAcker {
    async fn ack(mut self: Box<Self>) -> anyhow::Result<()> {
        self.settled = true;
        self.window.ack(self.tag).await;
        Ok(())
    }

    /// Republishes to the dead-letter exchange with the reason, confirmed,
    /// and only then acks: a plain reject would lose the reason.
    async fn dead_letter(mut self: Box<Self>, payload: &[u8], reason: &str) -> anyhow::Result<()> {
        self.dead_letter_copy(payload, reason).await?;
        self.settled = true;
        self.window.ack(self.tag).await;
        Ok(())
    }

    async fn dead_letter_copy(&self, payload: &[u8], reason: &str) -> anyhow::Result<()> {
        let mut headers = FieldTable::default();
        headers.insert(REASON_HEADER.into(), AMQPValue::LongString(reason.into()));
        publish_confirmed(
            &self.channel,
            &self.names.dead_exchange,
            &self.names.queue,
            payload,
            headers,
        )
        .await?;
        Ok(())
    }
}

/// A delivery dropped unsettled (its dead-lettering failed) goes back to
/// the queue, rather than holding back every later ack on its channel.
impl Drop for AmqpAcker {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        let (window, tag) = (self.window.clone(), self.tag);
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                if let Err(e) = window.requeue(tag).await {
                    tracing::warn!(error = %e, "could not requeue a dropped delivery");
                }
            });
        }
    }
}
