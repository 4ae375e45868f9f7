//! The conformance suite of [`MessageQueue`]: every case is one generic
//! function, run against RabbitMQ (`AmqpQueue`, a unique prefix per test,
//! its queues deleted at the end) and against the embedded `LocalQueue`
//! (a SQLite file in a temporary directory). Both must pass all of it.
//!
//! A "restart" is what happens when a process stops and a new one opens
//! the same queue: for the local queue, `LocalQueue::open` on the same file;
//! for RabbitMQ, a new `AmqpQueue` with the same names, once the broker
//! shows that the old process's consumer is gone (its connection closed).
//!
//! Stopping a consumer means dropping its `Receiver` (and any delivery it
//! had not acknowledged). The AMQP consumer task only notices that when it
//! next tries to hand over a delivery, so the cases that stop a consumer
//! publish one more message afterwards, as live traffic would, and expect
//! it after the restart. `unacked_delivery_comes_again_when_an_idle_consumer_stops`
//! is the case without that help; see the notes at the end.

mod common;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use ishara::queue::amqp::{AmqpQueue, Names};
use ishara::queue::local::LocalQueue;
use ishara::queue::{DeadLetter, Delivery, MessageQueue};
use lapin::options::QueueDeclareOptions;
use lapin::types::FieldTable;
use tokio::sync::mpsc::Receiver;
use tokio::time::{Instant, timeout};

/// How long a delivery that should come may take.
const WAIT: Duration = Duration::from_secs(10);
/// How long we watch for a delivery that should not come.
const QUIET: Duration = Duration::from_secs(1);
/// A whole case, so that no test can hang.
const CASE_LIMIT: Duration = Duration::from_secs(90);

// ---------------------------------------------------------------- backends

/// One implementation, seen as a process sees it.
#[async_trait]
trait Backend: Send + Sync {
    /// What a process does at start-up: opens the queue.
    async fn open(&self) -> Arc<dyn MessageQueue>;

    /// Waits until the consumers of the previous process are gone, as they
    /// are once a real process has exited. Panics if they never go.
    async fn wait_for_consumers_to_go(&self);

    /// Whether publishes made at the same time share a message.
    fn groups(&self) -> bool;

    /// A new process on the same queue, after the old one stopped.
    async fn restart(&self) -> Arc<dyn MessageQueue> {
        self.wait_for_consumers_to_go().await;
        self.open().await
    }
}

struct Rabbit {
    url: String,
    prefix: String,
}

impl Rabbit {
    fn new() -> Self {
        Self {
            url: common::amqp_url(),
            prefix: common::unique("conformance"),
        }
    }

    fn names(&self) -> Names {
        Names::new(&self.prefix, "reports")
    }

    async fn consumer_count(&self) -> u32 {
        let connection =
            lapin::Connection::connect(&self.url, lapin::ConnectionProperties::default())
                .await
                .expect("RabbitMQ");
        let channel = connection.create_channel().await.expect("channel");
        let queue = channel
            .queue_declare(
                &self.names().queue,
                QueueDeclareOptions {
                    passive: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .expect("the queue exists");
        let _ = connection.close(200, "counted").await;
        queue.consumer_count()
    }
}

#[async_trait]
impl Backend for Rabbit {
    fn groups(&self) -> bool {
        true
    }

    /// As the reports queue is opened in production: grouping.
    async fn open(&self) -> Arc<dyn MessageQueue> {
        let queue = AmqpQueue::grouping(&self.url, self.names());
        queue.connect().await.expect("RabbitMQ answers");
        queue
    }

    async fn wait_for_consumers_to_go(&self) {
        let deadline = Instant::now() + WAIT;
        loop {
            let consumers = self.consumer_count().await;
            if consumers == 0 {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{consumers} consumer(s) of a stopped process still hold {} after {WAIT:?}: \
                 the consumer task does not notice that its receiver was dropped",
                self.names().queue
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Rabbit {
    fn drop(&mut self) {
        let (url, prefix) = (self.url.clone(), self.prefix.clone());
        // Drop cannot await (and runs on panics too): a small runtime of
        // its own deletes the queues.
        let _ = std::thread::spawn(move || {
            tokio::runtime::Runtime::new()
                .expect("runtime")
                .block_on(common::delete_amqp(&url, &prefix))
        })
        .join();
    }
}

struct Local {
    dir: tempfile::TempDir,
}

impl Local {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temporary directory"),
        }
    }

    fn path(&self) -> PathBuf {
        self.dir.path().join("queue.sqlite")
    }
}

#[async_trait]
impl Backend for Local {
    fn groups(&self) -> bool {
        false
    }

    async fn open(&self) -> Arc<dyn MessageQueue> {
        LocalQueue::open(&self.path()).await.expect("local queue")
    }

    /// Nothing outside the process holds deliveries: opening the file again
    /// is what gives back those left in flight.
    async fn wait_for_consumers_to_go(&self) {}
}

// ----------------------------------------------------------------- helpers

fn payloads(case: &str, n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            format!(r#"{{"case":"{case}","n":{i},"text":"Mafuriko Garissa — choléra ✓"}}"#)
                .into_bytes()
        })
        .collect()
}

fn show(payload: &[u8]) -> String {
    String::from_utf8_lossy(payload).into_owned()
}

/// The next delivery, which must come within [`WAIT`].
async fn next(rx: &mut Receiver<Delivery>) -> Delivery {
    timeout(WAIT, rx.recv())
        .await
        .unwrap_or_else(|_| panic!("no delivery within {WAIT:?}"))
        .expect("the consumer stopped")
}

/// Asserts that nothing is delivered for [`QUIET`].
async fn assert_quiet(rx: &mut Receiver<Delivery>) {
    match timeout(QUIET, rx.recv()).await {
        Err(_) => {}
        Ok(Some(d)) => panic!("unexpected delivery: {}", show(&d.payload)),
        Ok(None) => panic!("the consumer stopped"),
    }
}

/// Everything delivered until nothing more comes for [`QUIET`].
async fn drain(rx: &mut Receiver<Delivery>) -> Vec<Delivery> {
    let mut got = Vec::new();
    loop {
        match timeout(QUIET, rx.recv()).await {
            Err(_) => return got,
            Ok(Some(d)) => got.push(d),
            Ok(None) => panic!("the consumer stopped"),
        }
    }
}

/// Dead letters as text, so that a failure reads.
fn letters(letters: &[DeadLetter]) -> Vec<(String, String)> {
    letters
        .iter()
        .map(|l| (show(&l.payload), l.reason.clone()))
        .collect()
}

async fn peek(queue: &dyn MessageQueue, limit: usize) -> Vec<(String, String)> {
    letters(&queue.dead_letters(limit).await.expect("dead letters"))
}

fn shown(deliveries: &[Delivery]) -> Vec<String> {
    deliveries.iter().map(|d| show(&d.payload)).collect()
}

/// Stops the consumer behind `rx`, then publishes `after` as traffic that
/// keeps coming would (and as the AMQP consumer needs to notice), and
/// restarts. Returns the new process's queue.
async fn stop_and_restart(
    backend: &dyn Backend,
    queue: Arc<dyn MessageQueue>,
    rx: Receiver<Delivery>,
    after: &[u8],
) -> Arc<dyn MessageQueue> {
    drop(rx);
    queue.publish(after).await.expect("publish");
    drop(queue);
    backend.restart().await
}

// ------------------------------------------------------------------- cases

/// Published messages arrive in publish order, byte for byte; once
/// acknowledged they never come again, not even after a restart.
async fn publish_then_consume_delivers_in_order(backend: &dyn Backend) {
    let queue = backend.open().await;
    let mut sent = payloads("in-order", 4);
    sent.push(vec![0, 0xff, b'\n', 0x80, 0]);
    for payload in &sent {
        queue.publish(payload).await.expect("publish");
    }
    let mut rx = queue.consume(16).await.expect("consume");
    for (i, want) in sent.iter().enumerate() {
        let d = next(&mut rx).await;
        assert_eq!(show(&d.payload), show(want), "delivery {i}");
        assert_eq!(&d.payload, want, "delivery {i}, byte for byte");
        assert!(!d.redelivered, "delivery {i} is a first delivery");
        d.ack().await.expect("ack");
    }
    assert_quiet(&mut rx).await;

    let later = b"published after the consumer stopped".to_vec();
    let queue = stop_and_restart(backend, queue, rx, &later).await;
    let mut rx = queue.consume(16).await.expect("consume");
    let d = next(&mut rx).await;
    assert_eq!(
        show(&d.payload),
        show(&later),
        "an acknowledged message came again"
    );
    d.ack().await.expect("ack");
    assert_quiet(&mut rx).await;
}

/// A batch is published in order, interleaved correctly with single
/// publishes around it.
async fn publish_batch_keeps_order(backend: &dyn Backend) {
    let queue = backend.open().await;
    let sent = payloads("batch", 300);
    queue.publish(&sent[0]).await.expect("publish");
    queue
        .publish_batch(&sent[1..299])
        .await
        .expect("publish batch");
    queue.publish(&sent[299]).await.expect("publish");
    let mut rx = queue.consume(64).await.expect("consume");
    for (i, want) in sent.iter().enumerate() {
        let d = next(&mut rx).await;
        assert_eq!(show(&d.payload), show(want), "delivery {i}");
        d.ack().await.expect("ack");
    }
    assert_quiet(&mut rx).await;
}

/// A message published with no consumer waits for one, in a later process.
async fn published_messages_wait_for_a_consumer(backend: &dyn Backend) {
    let queue = backend.open().await;
    let sent = payloads("waiting", 3);
    for payload in &sent {
        queue.publish(payload).await.expect("publish");
    }
    drop(queue);
    let queue = backend.restart().await;
    let mut rx = queue.consume(16).await.expect("consume");
    for (i, want) in sent.iter().enumerate() {
        let d = next(&mut rx).await;
        assert_eq!(show(&d.payload), show(want), "delivery {i}");
        assert!(!d.redelivered, "delivery {i} was never delivered before");
        d.ack().await.expect("ack");
    }
    assert_quiet(&mut rx).await;
}

/// A delivery its consumer never acknowledged comes again, flagged as
/// redelivered, to the next process's consumer.
async fn unacked_delivery_comes_again_after_restart(backend: &dyn Backend) {
    let queue = backend.open().await;
    let first = payloads("unacked", 1).remove(0);
    queue.publish(&first).await.expect("publish");
    let mut rx = queue.consume(2).await.expect("consume");
    let d = next(&mut rx).await;
    assert_eq!(show(&d.payload), show(&first));
    assert!(!d.redelivered, "the first delivery is not a redelivery");
    drop(d); // neither acknowledged nor dead-lettered

    let later = b"published after the consumer stopped".to_vec();
    let queue = stop_and_restart(backend, queue, rx, &later).await;
    let mut rx = queue.consume(2).await.expect("consume");
    let mut got = vec![next(&mut rx).await, next(&mut rx).await];
    got.sort_by_key(|d| d.payload != first);
    assert_eq!(shown(&got), [show(&first), show(&later)]);
    assert!(got[0].redelivered, "the unacknowledged message is flagged");
    for d in got {
        d.ack().await.expect("ack");
    }
    assert_quiet(&mut rx).await;
}

/// As above, but nothing is published after the consumer stops, and its
/// prefetch window is full (the usual state of a busy worker at shutdown).
async fn unacked_delivery_comes_again_when_an_idle_consumer_stops(backend: &dyn Backend) {
    let queue = backend.open().await;
    let first = payloads("idle", 1).remove(0);
    queue.publish(&first).await.expect("publish");
    let mut rx = queue.consume(1).await.expect("consume");
    let d = next(&mut rx).await;
    assert_eq!(show(&d.payload), show(&first));
    drop(d);
    drop(rx);
    drop(queue);

    let queue = backend.restart().await;
    let mut rx = queue.consume(1).await.expect("consume");
    let d = next(&mut rx).await;
    assert_eq!(show(&d.payload), show(&first));
    assert!(d.redelivered, "the unacknowledged message is flagged");
    d.ack().await.expect("ack");
    assert_quiet(&mut rx).await;
}

/// `dead_letter` takes a message off the queue and parks it, with its
/// reason, where `dead_letters` shows it without consuming it.
async fn dead_letter_parks_the_message_with_its_reason(backend: &dyn Backend) {
    let queue = backend.open().await;
    let sent = payloads("dead", 3);
    for payload in &sent {
        queue.publish(payload).await.expect("publish");
    }
    assert_eq!(peek(&*queue, 10).await, [], "nothing was dead-lettered yet");
    let reasons = [
        "not a report: expected value at line 1 column 1",
        "corrupt: sender ✗ «+254»",
    ];
    let mut rx = queue.consume(8).await.expect("consume");
    let d = next(&mut rx).await;
    assert_eq!(show(&d.payload), show(&sent[0]));
    d.dead_letter(reasons[0]).await.expect("dead-letter");
    let d = next(&mut rx).await;
    assert_eq!(show(&d.payload), show(&sent[1]));
    d.ack().await.expect("ack");
    let d = next(&mut rx).await;
    assert_eq!(show(&d.payload), show(&sent[2]));
    d.dead_letter(reasons[1]).await.expect("dead-letter");

    let want = letters(&[
        DeadLetter {
            payload: sent[0].clone(),
            reason: reasons[0].into(),
        },
        DeadLetter {
            payload: sent[2].clone(),
            reason: reasons[1].into(),
        },
    ]);
    assert_eq!(peek(&*queue, 10).await, want);
    assert_eq!(
        peek(&*queue, 10).await,
        want,
        "looking at dead letters does not consume them"
    );
    assert_quiet(&mut rx).await;

    let later = b"published after the consumer stopped".to_vec();
    let queue = stop_and_restart(backend, queue, rx, &later).await;
    let mut rx = queue.consume(8).await.expect("consume");
    let d = next(&mut rx).await;
    assert_eq!(
        show(&d.payload),
        show(&later),
        "a dead-lettered message came again"
    );
    d.ack().await.expect("ack");
    assert_quiet(&mut rx).await;
    assert_eq!(
        peek(&*queue, 10).await,
        want,
        "dead letters outlive the process"
    );
}

/// `dead_letters(limit)` shows the oldest `limit` dead letters, oldest
/// first, and looking does not change what the next look shows, even when
/// there are more letters than the limit.
async fn dead_letters_is_a_stable_oldest_first_view(backend: &dyn Backend) {
    let queue = backend.open().await;
    let sent = payloads("peek", 3);
    for payload in &sent {
        queue.publish(payload).await.expect("publish");
    }
    let mut rx = queue.consume(8).await.expect("consume");
    let mut want = Vec::new();
    for (i, payload) in sent.iter().enumerate() {
        let d = next(&mut rx).await;
        assert_eq!(show(&d.payload), show(payload));
        let reason = format!("poison {i}");
        d.dead_letter(&reason).await.expect("dead-letter");
        want.push((show(payload), reason));
    }
    for look in 1..=3 {
        assert_eq!(
            peek(&*queue, 2).await,
            want[..2],
            "look {look} at the first two"
        );
    }
    assert_eq!(peek(&*queue, 1).await, want[..1]);
    assert_eq!(peek(&*queue, 10).await, want);
    assert_eq!(peek(&*queue, 0).await, []);
}

/// A consumer holds at most `prefetch` unacknowledged deliveries; each
/// acknowledgement lets one more through, still in order.
async fn prefetch_bounds_unacknowledged_deliveries(backend: &dyn Backend) {
    let queue = backend.open().await;
    let sent = payloads("prefetch", 5);
    for payload in &sent {
        queue.publish(payload).await.expect("publish");
    }
    let mut rx = queue.consume(2).await.expect("consume");
    let mut held = vec![next(&mut rx).await];
    held.extend(drain(&mut rx).await);
    assert_eq!(
        shown(&held),
        [show(&sent[0]), show(&sent[1])],
        "exactly `prefetch` deliveries before any acknowledgement"
    );
    for want in &sent[2..] {
        held.remove(0).ack().await.expect("ack");
        let d = next(&mut rx).await;
        assert_eq!(show(&d.payload), show(want));
        held.push(d);
        assert_quiet(&mut rx).await;
    }
    for d in held {
        d.ack().await.expect("ack");
    }
    assert_quiet(&mut rx).await;
}

/// Publishes made at the same time each arrive once. A queue that groups
/// them sends fewer messages than payloads; the consumer sees every
/// payload through `Delivery::payloads`, and settles a message as one.
async fn concurrent_publishes_each_arrive_once(backend: &dyn Backend) {
    let queue = backend.open().await;
    let sent = payloads("together", 50);
    let publishes = sent.iter().map(|payload| queue.publish(payload));
    for published in futures_util::future::join_all(publishes).await {
        published.expect("publish");
    }
    let mut rx = queue.consume(64).await.expect("consume");
    let mut deliveries = Vec::new();
    let mut got: Vec<String> = Vec::new();
    while got.len() < sent.len() {
        let d = next(&mut rx).await;
        got.extend(d.payloads().expect("well formed").into_iter().map(show));
        deliveries.push(d);
    }
    let mut want: Vec<String> = sent.iter().map(|p| show(p)).collect();
    got.sort();
    want.sort();
    assert_eq!(got, want, "every payload once");
    if backend.groups() {
        assert!(
            deliveries.len() < sent.len(),
            "{} messages for {} payloads published together",
            deliveries.len(),
            sent.len()
        );
    }
    for d in deliveries {
        d.ack().await.expect("ack");
    }
    assert_quiet(&mut rx).await;
}

/// `dead_letter_one` parks a copy of one payload with its reason and leaves
/// the message owed: it is acknowledged (or comes again) as a whole.
async fn dead_letter_one_parks_a_copy_and_leaves_the_message_owed(backend: &dyn Backend) {
    let queue = backend.open().await;
    let sent = payloads("copy", 1);
    queue.publish(&sent[0]).await.expect("publish");
    let mut rx = queue.consume(8).await.expect("consume");
    let d = next(&mut rx).await;
    let bad = b"{\"n\": \"not a report\"}".to_vec();
    d.dead_letter_one(&bad, "not a report: missing field `id`")
        .await
        .expect("dead-letter one");
    let want = vec![(show(&bad), "not a report: missing field `id`".to_owned())];
    assert_eq!(peek(&*queue, 10).await, want);

    let later = b"published after the consumer stopped".to_vec();
    drop(d);
    let queue = stop_and_restart(backend, queue, rx, &later).await;
    let mut rx = queue.consume(8).await.expect("consume");
    // Dropped unsettled, the message went back to the queue; whether it
    // comes before or after `later` is the broker's choice.
    let deliveries = [next(&mut rx).await, next(&mut rx).await];
    let mut got = shown(&deliveries);
    let mut want_again = vec![show(&sent[0]), show(&later)];
    got.sort();
    want_again.sort();
    assert_eq!(got, want_again, "still owed, so it came again");
    for d in deliveries {
        d.ack().await.expect("ack");
    }
    assert_quiet(&mut rx).await;
    assert_eq!(peek(&*queue, 10).await, want, "the copy stays parked");
}

// ------------------------------------------------------------------- tests

macro_rules! conformance {
    ($case:ident) => {
        mod $case {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn rabbitmq() {
                let backend = Rabbit::new();
                timeout(CASE_LIMIT, super::$case(&backend))
                    .await
                    .expect("the case finishes in time");
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn local() {
                let backend = Local::new();
                timeout(CASE_LIMIT, super::$case(&backend))
                    .await
                    .expect("the case finishes in time");
            }
        }
    };
}

conformance!(publish_then_consume_delivers_in_order);
conformance!(published_messages_wait_for_a_consumer);
conformance!(publish_batch_keeps_order);
conformance!(unacked_delivery_comes_again_after_restart);
conformance!(dead_letter_parks_the_message_with_its_reason);
conformance!(prefetch_bounds_unacknowledged_deliveries);

conformance!(unacked_delivery_comes_again_when_an_idle_consumer_stops);
conformance!(dead_letters_is_a_stable_oldest_first_view);
conformance!(concurrent_publishes_each_arrive_once);
conformance!(dead_letter_one_parks_a_copy_and_leaves_the_message_owed);
