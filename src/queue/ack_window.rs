//! Acknowledges a channel's deliveries in order, many at a time.
//!
//! One ack frame per report costs a wake-up of lapin's I/O thread and a
//! socket write each: more CPU than storing the report. So a settled
//! delivery is acknowledged by a flush that runs once the settling task
//! yields, and one `multiple` ack covers everything settled by then. A
//! delivery settled early waits until those before it are settled too.
//! Acks are sent under one lock, in tag order: a `multiple` ack overtaken
//! by a smaller one would name a tag the broker already forgot, and it
//! would close the channel.
//!
//! An acknowledgement is not confirmed by the broker in any case: if it is
//! lost, the delivery comes again and is stored as a duplicate (no-op).

use std::collections::BTreeSet;
use std::sync::Arc;

use lapin::Channel;
use lapin::options::{BasicAckOptions, BasicNackOptions};
use tokio::sync::Mutex;

/// Which of a channel's delivery tags are still being worked on and which
/// are done but not yet acknowledged.
#[derive(Debug, Default)]
pub struct Tags {
    outstanding: BTreeSet<u64>,
    done: BTreeSet<u64>,
    /// The highest tag a flush should acknowledge.
    to_ack: Option<u64>,
    flush_scheduled: bool,
}

impl Tags {
    pub fn delivered(&mut self, tag: u64) {
        self.outstanding.insert(tag);
    }

    /// Marks `tag` done. Returns the tag a `multiple` ack should name, if
    /// every delivery up to it is done.
    pub fn settle(&mut self, tag: u64) -> Option<u64> {
        if self.outstanding.remove(&tag) {
            self.done.insert(tag);
        }
        self.ackable()
    }

    /// Forgets `tag`, given back to the broker by a nack: it no longer
    /// holds back the ones after it.
    pub fn abandon(&mut self, tag: u64) -> Option<u64> {
        self.outstanding.remove(&tag);
        self.ackable()
    }

    fn ackable(&mut self) -> Option<u64> {
        let later = match self.outstanding.first() {
            Some(&first) => self.done.split_off(&first),
            None => BTreeSet::new(),
        };
        std::mem::replace(&mut self.done, later).last().copied()
    }
}

/// The tags of one channel and the channel to acknowledge them on.
#[derive(Clone)]
pub struct AckWindow {
    channel: Channel,
    tags: Arc<Mutex<Tags>>,
}

impl AckWindow {
    pub fn new(channel: Channel) -> Self {
        Self {
            channel,
            tags: Arc::default(),
        }
    }

    pub async fn delivered(&self, tag: u64) {
        self.tags.lock().await.delivered(tag);
    }

    pub async fn ack(&self, tag: u64) {
        let mut tags = self.tags.lock().await;
        let upto = tags.settle(tag);
        self.schedule(&mut tags, upto);
    }

    /// Gives `tag` back to the queue, to be delivered again.
    pub async fn requeue(&self, tag: u64) -> lapin::Result<()> {
        let mut tags = self.tags.lock().await;
        let requeue = BasicNackOptions {
            multiple: false,
            requeue: true,
        };
        self.channel.basic_nack(tag, requeue).await?;
        let upto = tags.abandon(tag);
        self.schedule(&mut tags, upto);
        Ok(())
    }

    fn schedule(&self, tags: &mut Tags, upto: Option<u64>) {
        let Some(upto) = upto else { return };
        tags.to_ack = Some(tags.to_ack.map_or(upto, |t| t.max(upto)));
        if !tags.flush_scheduled {
            tags.flush_scheduled = true;
            tokio::spawn(self.clone().flush());
        }
    }

    async fn flush(self) {
        tokio::task::yield_now().await;
        let mut tags = self.tags.lock().await;
        tags.flush_scheduled = false;
        let Some(upto) = tags.to_ack.take() else {
            return;
        };
        let multiple = BasicAckOptions { multiple: true };
        if let Err(e) = self.channel.basic_ack(upto, multiple).await {
            // The channel is gone, and with it every unacknowledged
            // delivery: they come again and are stored as duplicates.
            tracing::warn!(error = %e, "ack failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivered(tags: &[u64]) -> Tags {
        let mut window = Tags::default();
        tags.iter().for_each(|&t| window.delivered(t));
        window
    }

    #[test]
    fn deliveries_settled_in_order_are_acked_one_by_one() {
        let mut tags = delivered(&[1, 2, 3]);
        assert_eq!(tags.settle(1), Some(1));
        assert_eq!(tags.settle(2), Some(2));
        assert_eq!(tags.settle(3), Some(3));
    }

    #[test]
    fn a_delivery_settled_early_waits_for_the_ones_before_it() {
        let mut tags = delivered(&[1, 2, 3, 4]);
        assert_eq!(tags.settle(3), None, "1 and 2 are still being worked on");
        assert_eq!(tags.settle(2), None);
        assert_eq!(tags.settle(1), Some(3), "one ack covers 1 to 3");
        assert_eq!(tags.settle(4), Some(4));
    }

    #[test]
    fn a_requeued_delivery_no_longer_holds_back_later_ones() {
        let mut tags = delivered(&[1, 2, 3]);
        assert_eq!(tags.settle(2), None);
        assert_eq!(tags.settle(3), None);
        assert_eq!(tags.abandon(1), Some(3));
    }

    #[test]
    fn settling_twice_or_an_unknown_tag_acks_nothing_new() {
        let mut tags = delivered(&[1, 2]);
        assert_eq!(tags.settle(1), Some(1));
        assert_eq!(tags.settle(1), None);
        assert_eq!(tags.settle(7), None);
        assert_eq!(tags.settle(2), Some(2));
    }
}
