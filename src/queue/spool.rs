//! An append-only disk spool: where accepted reports wait, fsynced, while
//! the broker is unreachable.
//!
//! Records are `[len u32 LE][crc32 u32 LE][payload]` in segment files named
//! by a sequence number. Appends go to the newest segment; the drainer
//! takes whole older segments, so appending and draining never share a
//! file.
//!
//! A record is acknowledged only once it is whole and fsynced. A failed
//! append (a full disk) is cut back off the file, and the segment takes no
//! more appends, so no acknowledged record ever follows a broken one. A
//! reader still expects damage (a crash mid-append, a cut that failed, a
//! bad sector): it skips bytes that do not frame a record with a matching
//! checksum and carries on with the next record that does.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

const HEADER: usize = 8;
/// The largest record taken. Reading trusts no length above it, which
/// keeps a reader scanning damaged bytes from checksumming far ahead.
pub const MAX_RECORD: usize = 64 << 20;

pub struct Spool {
    dir: PathBuf,
    active: Mutex<Active>,
    pending: AtomicU64,
}

/// The segment appends go to.
struct Active {
    file: Option<File>,
    seq: u64,
    /// Bytes of whole, fsynced records in `file`.
    len: u64,
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
            active: Mutex::new(Active {
                file: None,
                seq,
                len: 0,
            }),
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
    /// the cost of making their reports durable (group commit). On error
    /// none of them is stored.
    pub fn append_all(&self, payloads: &[&[u8]]) -> io::Result<()> {
        let records = frame(payloads)?;
        let mut active = self.active.lock().expect("spool lock");
        if let Err(e) = active.write(&self.dir, &records) {
            active.abandon();
            return Err(e);
        }
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
                active.seal();
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

impl Active {
    fn write(&mut self, dir: &Path, records: &[u8]) -> io::Result<()> {
        if self.file.is_none() {
            let path = dir.join(segment_name(self.seq));
            let file = OpenOptions::new().create(true).append(true).open(path)?;
            // The new name must survive a crash too, or its records would.
            File::open(dir)?.sync_all()?;
            self.len = file.metadata()?.len();
            self.file = Some(file);
        }
        let file = self.file.as_mut().expect("opened above");
        file.write_all(records)?;
        file.sync_data()?;
        self.len += records.len() as u64;
        Ok(())
    }

    /// After a failed write: cuts what it left off the file, and seals the
    /// segment, so a later record never follows a torn one even if the cut
    /// fails too (a reader would skip the torn bytes, but would have to
    /// scan for it).
    fn abandon(&mut self) {
        if let Some(file) = &self.file
            && let Err(e) = file.set_len(self.len).and_then(|()| file.sync_data())
        {
            tracing::warn!(error = %e, "cannot cut a failed append off the spool segment");
        }
        self.seal();
    }

    fn seal(&mut self) {
        if self.file.take().is_some() {
            self.seq += 1;
            self.len = 0;
        }
    }
}

pub struct Segment {
    path: PathBuf,
    pub records: Vec<Vec<u8>>,
}

fn segment_name(seq: u64) -> String {
    format!("{seq:020}.spool")
}

fn frame(payloads: &[&[u8]]) -> io::Result<Vec<u8>> {
    let mut records = Vec::with_capacity(payloads.iter().map(|p| p.len() + HEADER).sum());
    for payload in payloads {
        // An empty record would look like a run of zero bytes, which is
        // what a file system may leave after a crash.
        if payload.is_empty() || payload.len() > MAX_RECORD {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a spool record must hold 1 byte to 64 MiB",
            ));
        }
        let len = payload.len() as u32;
        records.extend_from_slice(&len.to_le_bytes());
        records.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
        records.extend_from_slice(payload);
    }
    Ok(records)
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
    let (records, skipped) = parse(&bytes);
    if skipped > 0 {
        tracing::warn!(
            path = %path.display(),
            skipped_bytes = skipped,
            records = records.len(),
            "damaged bytes in a spool segment skipped; every whole record kept"
        );
    }
    Ok(records.into_iter().map(<[u8]>::to_vec).collect())
}

/// Every whole record in `bytes`, and how many bytes were skipped. After
/// damage, the next record is the first offset whose length fits and whose
/// checksum matches (a false match is a 1 in 2^32 chance per offset).
fn parse(bytes: &[u8]) -> (Vec<&[u8]>, usize) {
    let mut records = Vec::new();
    let mut skipped = 0;
    let mut at = 0;
    while at + HEADER <= bytes.len() {
        match record_at(&bytes[at..]) {
            Some(payload) => {
                records.push(payload);
                at += HEADER + payload.len();
            }
            None => {
                skipped += 1;
                at += 1;
            }
        }
    }
    (records, skipped + (bytes.len() - at))
}

fn record_at(bytes: &[u8]) -> Option<&[u8]> {
    let len = u32::from_le_bytes(bytes[..4].try_into().expect("4 bytes")) as usize;
    let crc = u32::from_le_bytes(bytes[4..HEADER].try_into().expect("4 bytes"));
    if len == 0 || len > MAX_RECORD {
        return None;
    }
    let payload = bytes.get(HEADER..HEADER + len)?;
    (crc32fast::hash(payload) == crc).then_some(payload)
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

    fn one_segment_with(records: &[&[u8]]) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path()).unwrap();
        for record in records {
            spool.append(record).unwrap();
        }
        drop(spool);
        let path = segments(dir.path()).unwrap()[0].1.clone();
        (dir, path)
    }

    fn drained(dir: &Path) -> Vec<Vec<u8>> {
        let spool = Spool::open(dir).unwrap();
        let pending = spool.pending();
        let records = spool.oldest().unwrap().unwrap().records;
        assert_eq!(pending, records.len() as u64, "counted as read");
        records
    }

    #[test]
    fn a_corrupt_record_in_the_middle_loses_only_itself() {
        let (dir, path) = one_segment_with(&[b"one", b"two", b"three", b"four"]);
        let mut bytes = fs::read(&path).unwrap();
        // The payload of "two": after "one" and two's header.
        bytes[HEADER + 3 + HEADER] ^= 0xff;
        fs::write(&path, bytes).unwrap();
        assert_eq!(
            drained(dir.path()),
            [b"one".to_vec(), b"three".to_vec(), b"four".to_vec()]
        );
    }

    #[test]
    fn garbage_between_records_is_skipped_and_every_record_kept() {
        let (dir, path) = one_segment_with(&[b"one", b"two", b"three"]);
        let bytes = fs::read(&path).unwrap();
        let (head, tail) = bytes.split_at(HEADER + 3);
        // A plausible length, zeros, and a header claiming "two"'s bytes
        // with a wrong checksum: none of it frames a record.
        let garbage = [&[5, 0, 0, 0, 9, 9][..], &[0; 20], &[3, 0, 0, 0, 1, 2, 3, 4]].concat();
        fs::write(&path, [head, &garbage, tail].concat()).unwrap();
        assert_eq!(
            drained(dir.path()),
            [b"one".to_vec(), b"two".to_vec(), b"three".to_vec()]
        );
    }

    #[test]
    fn a_record_is_found_after_a_torn_one() {
        let (dir, path) = one_segment_with(&[b"first"]);
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        // A header whose payload never made it, as a failed write leaves.
        file.write_all(&[40, 0, 0, 0, 1, 2, 3, 4, b'x', b'y'])
            .unwrap();
        drop(file);
        let spool = Spool::open(dir.path()).unwrap();
        spool.append(b"second").unwrap();
        drop(spool);
        let mut all = Vec::new();
        for (_, path) in segments(dir.path()).unwrap() {
            all.extend(read_segment(&path).unwrap());
        }
        assert_eq!(all, [b"first".to_vec(), b"second".to_vec()]);
        let mut same_file = fs::read(&path).unwrap();
        same_file.extend_from_slice(&frame(&[b"third"]).unwrap());
        fs::write(&path, same_file).unwrap();
        assert_eq!(
            read_segment(&path).unwrap(),
            [b"first".to_vec(), b"third".to_vec()]
        );
    }

    #[test]
    fn an_empty_record_is_refused_and_zeros_read_as_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path()).unwrap();
        let refused = spool.append(b"").unwrap_err();
        assert_eq!(refused.kind(), io::ErrorKind::InvalidInput);
        assert_eq!(spool.pending(), 0);
        assert_eq!(parse(&[0; 64]), (vec![], 64));
    }
}
