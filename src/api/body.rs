//! Reads a request body up to the configured limit and deadline, so an
//! oversize body is refused before it is held in memory, and a client that
//! stalls or trickles cannot hold a connection (and its buffers) forever.

use std::time::Duration;

use actix_web::HttpRequest;
use actix_web::web::{Bytes, BytesMut, Payload};
use futures_util::StreamExt;

use crate::ingest::InboundError;

/// What is reserved before any byte arrives: a declared length is only a
/// promise, and reserving it for every stalled client is what a flood of
/// them would cost.
const INITIAL_CAPACITY: usize = 16 * 1024;

pub async fn read(
    req: &HttpRequest,
    payload: Payload,
    limit: usize,
    deadline: Duration,
) -> Result<Bytes, InboundError> {
    let declared = req
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(InboundError::TooLarge { limit });
    }
    let capacity = declared.unwrap_or(1024).min(limit).min(INITIAL_CAPACITY);
    tokio::time::timeout(deadline, collect(payload, limit, capacity))
        .await
        .map_err(|_| InboundError::BodyTimeout {
            millis: deadline.as_millis() as u64,
        })?
}

async fn collect(
    mut payload: Payload,
    limit: usize,
    capacity: usize,
) -> Result<Bytes, InboundError> {
    let mut body = BytesMut::with_capacity(capacity);
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| InboundError::InvalidBody(e.to_string()))?;
        if body.len() + chunk.len() > limit {
            return Err(InboundError::TooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}
