//! Several payloads in one broker message.
//!
//! A quorum queue spends most of its work per message (a Raft entry, an
//! index record, a confirm), not per byte. When many reports arrive at
//! once, the publisher sends those waiting as one message, so the broker
//! does that work once for all of them. A lone report is still sent as a
//! plain JSON message.
//!
//! The body is each payload as a 4-byte big-endian length followed by its
//! bytes; the content type marks it.

pub const CONTENT_TYPE: &str = "application/x-ishara-batch";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed batch: {0}")]
pub struct BatchError(&'static str);

pub fn encode<P: AsRef<[u8]>>(payloads: &[P]) -> Vec<u8> {
    let size = payloads.iter().map(|p| 4 + p.as_ref().len()).sum();
    let mut body = Vec::with_capacity(size);
    for payload in payloads {
        let payload = payload.as_ref();
        let length = u32::try_from(payload.len()).expect("a report is far below 4 GiB");
        body.extend_from_slice(&length.to_be_bytes());
        body.extend_from_slice(payload);
    }
    body
}

pub fn decode(mut body: &[u8]) -> Result<Vec<&[u8]>, BatchError> {
    let mut payloads = Vec::new();
    while !body.is_empty() {
        let (length, rest) = body
            .split_first_chunk::<4>()
            .ok_or(BatchError("a length is cut short"))?;
        let length = u32::from_be_bytes(*length) as usize;
        if rest.len() < length {
            return Err(BatchError("a payload is cut short"));
        }
        let (payload, rest) = rest.split_at(length);
        payloads.push(payload);
        body = rest;
    }
    if payloads.is_empty() {
        return Err(BatchError("no payloads"));
    }
    Ok(payloads)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_come_back_in_order_and_intact() {
        let payloads: Vec<Vec<u8>> = vec![b"{\"a\":1}".to_vec(), vec![], vec![0, 10, 255]];
        let body = encode(&payloads);
        let decoded = decode(&body).unwrap();
        assert_eq!(
            decoded,
            payloads.iter().map(Vec::as_slice).collect::<Vec<_>>()
        );
    }

    #[test]
    fn a_truncated_body_is_refused() {
        let body = encode(&[b"hello".as_slice(), b"world".as_slice()]);
        for cut in [1, 4, 8, body.len() - 1] {
            assert!(decode(&body[..cut]).is_err(), "cut at {cut}");
        }
        assert_eq!(decode(&[]), Err(BatchError("no payloads")));
    }
}
