//! An append-only disk spool: where accepted reports wait, fsynced, while
//! the broker is unreachable.
//!
//! Records are `[len u32 LE][crc32 u32 LE][payload]` in segment files named
//! by a sequence number. Appends go to the newest segment; the drainer
//! takes whole older segments, so appending and draining never share a
//! file. A torn record at a segment's end (a crash mid-append) was never
//! acknowledged to anyone and is skipped.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

pub struct Spool {
    dir: PathBuf,
    active: Mutex<Active>,
    pending: AtomicU64,
}

struct Active {
    file: Option<File>,
    seq: u64,
}

impl Spool {
    pub fn open(dir: &Path) -> io::Result<Self> {
        fs::create_dir_all(dir)?;
        let segments = segments(dir)?;
        let mut pending = 0;
        for (_, path) in &segments {
            pending += read_segment(path)?.len() as u64;
        }
        let seq = segments.last().map_or(0, |(seq, _)| *seq) + 1;
        Ok(Self {
            dir: dir.to_owned(),
            active: Mutex::new(Active { file: None, seq }),
            pending: AtomicU64::new(pending),
        })
    }

    /// Records waiting to be drained.
    pub fn pending(&self) -> u64 {
        self.pending.load(Ordering::SeqCst)
    }

    /// Appends and fsyncs: once this returns the record survives a crash.
    pub fn append(&self, payload: &[u8]) -> io::Result<()> {
        self.append_all(&[payload])
    }

    /// Appends several records with one fsync: concurrent requests share
    /// the cost of making their reports durable (group commit).
    pub fn append_all(&self, payloads: &[&[u8]]) -> io::Result<()> {
        let mut records = Vec::with_capacity(payloads.iter().map(|p| p.len() + 8).sum());
        for payload in payloads {
            let len = u32::try_from(payload.len())
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "record too large"))?;
            records.extend_from_slice(&len.to_le_bytes());
            records.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
            records.extend_from_slice(payload);
        }
        let mut active = self.active.lock().expect("spool lock");
        if active.file.is_none() {
            let path = self.dir.join(segment_name(active.seq));
            active.file = Some(OpenOptions::new().create(true).append(true).open(path)?);
            File::open(&self.dir)?.sync_all()?;
        }
        let file = active.file.as_mut().expect("opened above");
        file.write_all(&records)?;
        file.sync_data()?;
        self.pending
            .fetch_add(payloads.len() as u64, Ordering::SeqCst);
        Ok(())
    }

    /// The oldest segment's records, sealing the active segment first if it
    /// is the only one, so that new appends start a new file.
    pub fn oldest(&self) -> io::Result<Option<Segment>> {
        let mut all = segments(&self.dir)?;
        {
            let mut active = self.active.lock().expect("spool lock");
            let active_seq = active.seq;
            if all.first().is_some_and(|(seq, _)| *seq == active_seq) {
                active.file = None;
                active.seq += 1;
            }
        }
        if all.is_empty() {
            return Ok(None);
        }
        let (_, path) = all.remove(0);
        let records = read_segment(&path)?;
        Ok(Some(Segment { path, records }))
    }

    /// Removes a segment whose records are all durable elsewhere.
    pub fn remove(&self, segment: Segment) -> io::Result<()> {
        fs::remove_file(&segment.path)?;
        self.pending
            .fetch_sub(segment.records.len() as u64, Ordering::SeqCst);
        Ok(())
    }
}

pub struct Segment {
    path: PathBuf,
    pub records: Vec<Vec<u8>>,
}

fn segment_name(seq: u64) -> String {
    format!("{seq:020}.spool")
}

fn segments(dir: &Path) -> io::Result<Vec<(u64, PathBuf)>> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        let seq = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".spool"))
            .and_then(|n| n.parse::<u64>().ok());
        if let Some(seq) = seq {
            found.push((seq, path));
        }
    }
    found.sort();
    Ok(found)
}

fn read_segment(path: &Path) -> io::Result<Vec<Vec<u8>>> {
    let mut bytes = Vec::new();
    File::open(path)?.read_to_end(&mut bytes)?;
    let mut records = Vec::new();
    let mut rest = bytes.as_slice();
    while rest.len() >= 8 {
        let len = u32::from_le_bytes(rest[..4].try_into().expect("4 bytes")) as usize;
        let crc = u32::from_le_bytes(rest[4..8].try_into().expect("4 bytes"));
        let Some(payload) = rest.get(8..8 + len) else {
            break;
        };
        if crc32fast::hash(payload) != crc {
            tracing::warn!(path = %path.display(), "spool record with a bad checksum skipped");
            break;
        }
        records.push(payload.to_vec());
        rest = &rest[8 + len..];
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_come_back_in_order_across_segments_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path()).unwrap();
        spool.append(b"one").unwrap();
        spool.append(b"two").unwrap();
        let first = spool.oldest().unwrap().unwrap();
        spool.append(b"three").unwrap();
        assert_eq!(first.records, [b"one".to_vec(), b"two".to_vec()]);
        assert_eq!(spool.pending(), 3);
        spool.remove(first).unwrap();
        drop(spool);

        let spool = Spool::open(dir.path()).unwrap();
        assert_eq!(spool.pending(), 1);
        let second = spool.oldest().unwrap().unwrap();
        assert_eq!(second.records, [b"three".to_vec()]);
        spool.remove(second).unwrap();
        assert!(spool.oldest().unwrap().is_none());
        assert_eq!(spool.pending(), 0);
    }

    #[test]
    fn a_group_of_records_is_appended_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path()).unwrap();
        spool.append(b"first").unwrap();
        spool.append_all(&[b"second", b"third"]).unwrap();
        assert_eq!(spool.pending(), 3);
        let segment = spool.oldest().unwrap().unwrap();
        assert_eq!(
            segment.records,
            [b"first".to_vec(), b"second".to_vec(), b"third".to_vec()]
        );
    }

    #[test]
    fn a_torn_last_record_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path()).unwrap();
        spool.append(b"whole").unwrap();
        drop(spool);
        let path = segments(dir.path()).unwrap()[0].1.clone();
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(&[50, 0, 0, 0, 1, 2, 3, 4, b'x']).unwrap();
        let spool = Spool::open(dir.path()).unwrap();
        assert_eq!(
            spool.oldest().unwrap().unwrap().records,
            [b"whole".to_vec()]
        );
    }
}
