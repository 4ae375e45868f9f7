//! The notifier: takes notifications off the `alerts` queue and delivers
//! each to every recipient of its channel, once.
//!
//! Once is the `notifications` table's doing: before sending to a
//! recipient, a notifier claims the row (alert, transition, channel,
//! recipient) with a lease. A second copy of the notification (the outbox
//! may publish twice) finds the row sent and is acknowledged; a notifier
//! that dies mid-send leaves its lease to run out, its delivery comes back
//! from the queue, and whoever takes it over resumes the count of attempts.
//! The one window left open is a crash after the provider took a message
//! and before the attempt was recorded: that message is sent again (email
//! keeps its Message-ID, so mail clients show it once).

use std::collections::{BTreeMap, HashMap};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use chrono::Utc;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::Semaphore;

use super::SendError;
use super::context::{self, Inputs, MessageContext};
use super::email::{Email, EmailSender};
use super::retry::Backoff;
use super::sms::SmsSender;
use super::sms::segments;
use super::templates::{LiveTemplates, Part};
use super::webhook::{WebhookBody, WebhookSender};
use crate::alert::Alert;
use crate::alert::delivery::{
    Attempt, AttemptStatus, Notification, NotificationClaim, NotificationKey, Transition,
};
use crate::config::{ChannelConfig, Config};
use crate::queue::{Delivery, MessageQueue};
use crate::rules::load::LOG_CHANNEL;
use crate::store::{Store, StoreError};

/// Long enough for one send with its timeouts; a lease is renewed with
/// every attempt.
const LEASE: Duration = Duration::from_secs(120);
const STORE_RETRY_MAX: Duration = Duration::from_secs(30);
const BUSY_POLL: Duration = Duration::from_secs(1);

/// How one channel reaches one recipient.
#[derive(Debug, Clone, PartialEq)]
enum Destination {
    Email(String),
    Sms(String),
    Webhook(String),
    Log,
}

impl Destination {
    fn kind(&self) -> &'static str {
        match self {
            Destination::Email(_) => "email",
            Destination::Sms(_) => "sms",
            Destination::Webhook(_) => "webhook",
            Destination::Log => "log",
        }
    }

    fn address(&self) -> &str {
        match self {
            Destination::Email(a) | Destination::Sms(a) | Destination::Webhook(a) => a,
            Destination::Log => LOG_CHANNEL,
        }
    }
}

pub struct NotifierOptions {
    pub max_attempts: u32,
    pub backoff: Backoff,
    pub prefetch: u16,
    pub public_url: String,
    pub max_segments: usize,
    pub pseudonym_key: Vec<u8>,
    /// Signing key of webhooks whose channel sets none.
    pub webhook_secret: String,
}

pub struct Notifier {
    queue: Arc<dyn MessageQueue>,
    store: Arc<dyn Store>,
    templates: Arc<LiveTemplates>,
    channels: BTreeMap<String, ChannelConfig>,
    limits: HashMap<String, DefaultDirectRateLimiter>,
    email: Option<EmailSender>,
    sms: Option<SmsSender>,
    webhook: WebhookSender,
    options: NotifierOptions,
}

/// How delivering to one recipient ended.
enum Outcome {
    Delivered,
    /// Given up on: which recipient and why, as the dead letter says it.
    Dead(String),
}

impl Notifier {
    pub fn new(
        config: &Config,
        queue: Arc<dyn MessageQueue>,
        store: Arc<dyn Store>,
        templates: Arc<LiveTemplates>,
        options: NotifierOptions,
    ) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .user_agent(concat!("ishara/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("cannot build the HTTP client")?;
        let email = match &config.smtp.url {
            Some(_) => Some(EmailSender::new(&config.smtp).context("smtp.url")?),
            None => None,
        };
        let sms = config
            .sms
            .provider()
            .map_err(|e| anyhow::anyhow!(e))?
            .map(|provider| SmsSender::new(provider, client.clone()));
        let limits = config
            .channels
            .iter()
            .map(|(name, channel)| {
                let rate = channel
                    .rate_per_minute
                    .unwrap_or(config.notify.rate_per_minute);
                (name.clone(), limiter(rate))
            })
            .chain([(
                LOG_CHANNEL.to_owned(),
                limiter(config.notify.rate_per_minute),
            )])
            .collect();
        Ok(Self {
            queue,
            store,
            templates,
            channels: config.channels.clone(),
            limits,
            email,
            sms,
            webhook: WebhookSender::new(client),
            options,
        })
    }

    /// Delivers until the queue's consumer ends, `prefetch` notifications
    /// at a time.
    pub async fn run(self: Arc<Self>) -> anyhow::Result<()> {
        let mut deliveries = self.queue.consume(self.options.prefetch).await?;
        let slots = Arc::new(Semaphore::new(usize::from(self.options.prefetch)));
        while let Some(delivery) = deliveries.recv().await {
            let slot = slots.clone().acquire_owned().await?;
            let notifier = self.clone();
            tokio::spawn(async move {
                notifier.handle(delivery).await;
                drop(slot);
            });
        }
        Ok(())
    }

    async fn handle(&self, delivery: Delivery) {
        let notification = match crate::queue::codec::decode_notification(&delivery.payload) {
            Ok(n) => n,
            Err(e) => return settle(delivery, Err(e.to_string())).await,
        };
        let result = self.deliver(&notification).await;
        settle(delivery, result).await;
    }

    /// Every recipient of the notification's channel; `Err` names those
    /// given up on.
    async fn deliver(&self, notification: &Notification) -> Result<(), String> {
        let destinations = self.destinations(&notification.channel)?;
        let alert = match self
            .with_store(|| self.store.alert(&notification.alert_id))
            .await
        {
            Some(alert) => alert,
            None => return Err(format!("alert {} is not stored", notification.alert_id)),
        };
        let evidence = context::evidence_to_fetch(&alert);
        let reports = self
            .with_store(|| self.store.reports_by_ids(&evidence))
            .await;
        // Side by side: a mail server that is down must not hold back the
        // SMS or the webhook of the same channel.
        let outcomes = futures_util::future::join_all(
            destinations
                .iter()
                .map(|d| self.deliver_in_order(notification, d, &alert, &reports)),
        )
        .await;
        let dead: Vec<String> = outcomes.into_iter().flatten().collect();
        if dead.is_empty() {
            Ok(())
        } else {
            Err(dead.join("; "))
        }
    }

    /// Delivers to one recipient; `Some` says why it was given up on.
    async fn deliver_in_order(
        &self,
        notification: &Notification,
        destination: &Destination,
        alert: &Alert,
        reports: &[crate::store::StoredReport],
    ) -> Option<String> {
        // Nobody should read "resolved" before "fired": a resolution first
        // makes sure its firing is done with (sent by whoever holds it, or
        // by us if it never was). Only the notification's own transition
        // can make it a dead letter.
        if notification.transition == Transition::Resolved {
            let firing = Notification {
                transition: Transition::Fired,
                ..notification.clone()
            };
            self.deliver_to(&firing, destination, alert, reports).await;
        }
        match self
            .deliver_to(notification, destination, alert, reports)
            .await
        {
            Outcome::Delivered => None,
            Outcome::Dead(why) => Some(why),
        }
    }

    async fn deliver_to(
        &self,
        notification: &Notification,
        destination: &Destination,
        alert: &Alert,
        reports: &[crate::store::StoredReport],
    ) -> Outcome {
        let key = self.key(notification, destination);
        let context = self.context(alert, notification, destination, reports);
        self.deliver_one(&key, destination, alert, &context).await
    }

    fn destinations(&self, channel: &str) -> Result<Vec<Destination>, String> {
        if channel == LOG_CHANNEL {
            return Ok(vec![Destination::Log]);
        }
        let config = self
            .channels
            .get(channel)
            .ok_or_else(|| format!("channel {channel:?} is not configured in this notifier"))?;
        let mut destinations: Vec<Destination> = config
            .email
            .iter()
            .cloned()
            .map(Destination::Email)
            .collect();
        destinations.extend(config.sms.iter().cloned().map(Destination::Sms));
        destinations.extend(config.webhook.iter().cloned().map(Destination::Webhook));
        Ok(destinations)
    }

    fn key(&self, notification: &Notification, destination: &Destination) -> NotificationKey {
        let recipient = match destination {
            Destination::Log => LOG_CHANNEL.to_owned(),
            other => crate::secret::pseudonym(&self.options.pseudonym_key, other.address()),
        };
        NotificationKey {
            alert_id: notification.alert_id.clone(),
            transition: notification.transition,
            channel: notification.channel.clone(),
            recipient,
        }
    }

    fn context(
        &self,
        alert: &Alert,
        notification: &Notification,
        destination: &Destination,
        reports: &[crate::store::StoredReport],
    ) -> MessageContext {
        let show_phone_numbers = self
            .channels
            .get(&notification.channel)
            .is_some_and(|c| c.show_phone_numbers);
        context::build(&Inputs {
            alert,
            transition: notification.transition,
            reports,
            public_url: &self.options.public_url,
            channel: &notification.channel,
            kind: destination.kind(),
            show_phone_numbers,
        })
    }

    /// Claims the recipient, then tries until sent, refused for good, or
    /// out of attempts.
    async fn deliver_one(
        &self,
        key: &NotificationKey,
        destination: &Destination,
        alert: &Alert,
        context: &MessageContext,
    ) -> Outcome {
        let Some(mut attempts) = self.claim(key).await else {
            return Outcome::Delivered;
        };
        loop {
            self.take_turn(key).await;
            attempts += 1;
            let result = self.send(key, destination, alert, context).await;
            let now = Utc::now();
            let (status, error, provider_id, wait) = match result {
                Ok(id) => (AttemptStatus::Sent, None, Some(id), None),
                Err(SendError::Transient(e)) if attempts < self.options.max_attempts => {
                    let wait = self.options.backoff.delay(attempts);
                    (AttemptStatus::Failed, Some(e), None, Some(wait))
                }
                Err(SendError::Transient(e) | SendError::Permanent(e)) => {
                    (AttemptStatus::Dead, Some(e), None, None)
                }
            };
            let attempt = Attempt {
                transition: key.transition,
                channel: key.channel.clone(),
                kind: destination.kind().to_owned(),
                recipient: key.recipient.clone(),
                attempt: attempts,
                status,
                // PostgreSQL text cannot hold NUL, and a provider's answer
                // is not ours to trust.
                error: error.as_ref().map(|e| e.replace('\0', "")),
                provider_id,
                at: now,
            };
            let lease = now
                + chrono::Duration::from_std(wait.unwrap_or_default() + LEASE).unwrap_or_default();
            self.with_store(|| self.store.record_attempt(key, &attempt, lease))
                .await;
            match (status, wait) {
                (AttemptStatus::Sent, _) => return Outcome::Delivered,
                (AttemptStatus::Dead, _) => {
                    tracing::error!(alert = %key.alert_id, channel = %key.channel, recipient = %key.recipient, attempts, error = ?error, "notification dead-lettered");
                    return Outcome::Dead(format!(
                        "{} {}: {}",
                        destination.kind(),
                        key.recipient,
                        error.unwrap_or_default()
                    ));
                }
                (_, wait) => {
                    tracing::warn!(alert = %key.alert_id, channel = %key.channel, recipient = %key.recipient, attempts, error = ?error, retry_in = ?wait, "notification failed; retrying");
                    tokio::time::sleep(wait.unwrap_or_default()).await;
                }
            }
        }
    }

    /// Waits for the channel's rate limit. The recipient is claimed
    /// first, so that a turn is never spent on a recipient someone else
    /// has done; its lease is renewed while the wait lasts.
    async fn take_turn(&self, key: &NotificationKey) {
        let Some(limit) = self.limits.get(&key.channel) else {
            return;
        };
        loop {
            tokio::select! {
                _ = limit.until_ready() => return,
                _ = tokio::time::sleep(LEASE / 2) => {
                    let lease = Utc::now() + chrono::Duration::from_std(LEASE).unwrap_or_default();
                    self.with_store(|| self.store.renew_notification(key, lease)).await;
                }
            }
        }
    }

    /// The attempts made so far once this notifier holds the recipient;
    /// `None` when it is done. Waits while another notifier holds it: until
    /// it is done, or its lease runs out because it died.
    async fn claim(&self, key: &NotificationKey) -> Option<u32> {
        loop {
            let now = Utc::now();
            let lease = now + chrono::Duration::from_std(LEASE).unwrap_or_default();
            match self
                .with_store(|| self.store.claim_notification(key, now, lease))
                .await
            {
                NotificationClaim::Claimed { attempts } => return Some(attempts),
                NotificationClaim::Done => return None,
                // The holder usually finishes well before its lease ends:
                // look again every second rather than at the lease's end.
                NotificationClaim::Busy { until } => {
                    let lease_left = (until - now).to_std().unwrap_or_default();
                    tokio::time::sleep(lease_left.min(BUSY_POLL) + Duration::from_millis(10)).await;
                }
            }
        }
    }

    async fn send(
        &self,
        key: &NotificationKey,
        destination: &Destination,
        alert: &Alert,
        context: &MessageContext,
    ) -> Result<String, SendError> {
        let set = alert.details.template.as_deref();
        let templates = self.templates.current();
        let render = |part| templates.render(set, part, context);
        match destination {
            Destination::Email(address) => {
                let email = self.email.as_ref().ok_or_else(|| {
                    SendError::Permanent("smtp.url is not configured in this notifier".into())
                })?;
                let [subject, text, html] =
                    templates.render_parts(set, [Part::Subject, Part::Text, Part::Html], context);
                email
                    .send(
                        address,
                        &Email {
                            subject: &subject,
                            text: &text,
                            html: &html,
                            message_id: message_id(
                                key.alert_id.as_str(),
                                key.transition.as_str(),
                                &key.recipient,
                            ),
                            in_reply_to: (key.transition == Transition::Resolved).then(|| {
                                message_id(key.alert_id.as_str(), "fired", &key.recipient)
                            }),
                            alert_id: alert.id.as_str(),
                        },
                    )
                    .await
            }
            Destination::Sms(number) => {
                let sms = self.sms.as_ref().ok_or_else(|| {
                    SendError::Permanent("sms.provider is not configured in this notifier".into())
                })?;
                let text = render(Part::Sms);
                sms.send(number, &segments::fit(&text, self.options.max_segments))
                    .await
            }
            Destination::Webhook(url) => {
                let secret = self
                    .channels
                    .get(&key.channel)
                    .and_then(|c| c.webhook_secret.as_deref())
                    .unwrap_or(&self.options.webhook_secret);
                let body = WebhookBody {
                    text: render(Part::Webhook),
                    event: key.transition.as_str(),
                    alert,
                    link: context.alert.link.clone(),
                    cap_link: context.alert.cap_link.clone(),
                    place: context.group.place.clone(),
                };
                self.webhook.send(url, secret, &body).await
            }
            Destination::Log => {
                tracing::info!(alert = %alert.id, transition = key.transition.as_str(), message = %render(Part::Text), "alert notification");
                Ok("logged".into())
            }
        }
    }

    /// Waits out a database outage: the delivery stays owed meanwhile.
    async fn with_store<T, F, Fut>(&self, mut call: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, StoreError>>,
    {
        let mut wait = Duration::from_millis(100);
        loop {
            match call().await {
                Ok(value) => return value,
                Err(e) => {
                    tracing::warn!(error = %e, retry_in = ?wait, "notifier cannot reach the database");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(STORE_RETRY_MAX);
                }
            }
        }
    }
}

fn limiter(per_minute: u32) -> DefaultDirectRateLimiter {
    let rate = NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN);
    RateLimiter::direct(Quota::per_minute(rate))
}

fn message_id(alert: &str, transition: &str, recipient: &str) -> String {
    format!("<{alert}.{transition}.{recipient}@ishara>")
}

/// Acknowledged when every recipient is done with; dead-lettered, with the
/// reason, when any was given up on, so that it shows among the alerts
/// queue's dead letters (the others were sent and will not be again).
async fn settle(delivery: Delivery, result: Result<(), String>) {
    let settled = match result {
        Ok(()) => delivery.ack().await,
        Err(reason) => delivery.dead_letter(&reason).await,
    };
    if let Err(e) = settled {
        tracing::warn!(error = %e, "could not settle a notification; it will come again");
    }
}
