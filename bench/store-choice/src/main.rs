//! Issue 18: which store for the durable broker, chosen by measurement.
//!
//! Three candidates, each given the broker's workload:
//! - `log`: a plain append-only file (std::fs), frames `[len u32][crc32c u32][body]`,
//!   one `write` + `sync_data` per batch (group commit), compaction by
//!   rewriting the live records to a new file and renaming it over;
//! - `redb`: one write transaction per batch, `Durability::Immediate`;
//! - `fjall`: one write batch per commit, `PersistMode::SyncData` or `SyncAll`.
//!
//! Workload per batch: N records of ~100 B inserted (a QoS 1 message for a
//! session: key = session u32 + sequence u64, value = 64 B payload + 30 B)
//! and N earlier ones deleted (the acknowledged messages), durable when the
//! batch call returns. Over a steady live set (10,000 records), for a few
//! seconds: batches/s, records/s, batch latency.
//!
//! Recovery: 1,000,000 records written, the store closed, reopened and read
//! completely into a HashMap: time from open to the last record, with the
//! page cache warm (a process restart) and cold (the store's files dropped
//! from the page cache with `posix_fadvise(DONTNEED)`, as after a reboot);
//! and the size on disk.
//!
//! Every case runs `--runs` times (3); the tables give medians.

// A benchmark reads the clock (the sans-IO ban in ../../clippy.toml is for the core).
#![allow(clippy::disallowed_methods)]

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Store key: session id and message sequence number.
type Key = (u32, u64);

/// Payload bytes per message (the 64 B).
const PAYLOAD: usize = 64;
/// Per-message metadata stored beside the payload (topic reference, QoS,
/// packet id, expiry...): 30 B.
const META: usize = 30;
/// Value length: ~100 B records with the 12 B key.
const VALUE_LEN: usize = PAYLOAD + META;
/// Sessions the messages are spread over.
const SESSIONS: u32 = 100;
/// Live records kept during the throughput runs.
const LIVE: u64 = 10_000;

fn key_bytes(k: Key) -> [u8; 12] {
    let mut b = [0u8; 12];
    b[..4].copy_from_slice(&k.0.to_be_bytes());
    b[4..].copy_from_slice(&k.1.to_be_bytes());
    b
}

fn key_from(b: &[u8]) -> Option<Key> {
    let s = u32::from_be_bytes(b.get(..4)?.try_into().ok()?);
    let q = u64::from_be_bytes(b.get(4..12)?.try_into().ok()?);
    Some((s, q))
}

/// The record for message number `seq` (deterministic content).
fn record(seq: u64) -> (Key, [u8; VALUE_LEN]) {
    let session = (seq % u64::from(SESSIONS)) as u32;
    let mut v = [0u8; VALUE_LEN];
    let mut x = seq.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    for b in v.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    ((session, seq), v)
}

/// What every candidate offers: a durable batch, a full read, a size.
trait Store: Sized {
    fn open(dir: &Path) -> io::Result<Self>;
    /// Inserts and deletes, durable when this returns.
    fn apply(&mut self, puts: &[(Key, [u8; VALUE_LEN])], dels: &[Key]) -> io::Result<()>;
    /// Everything stored, read back.
    fn load_all(&mut self) -> io::Result<HashMap<Key, Vec<u8>>>;
    /// Flush and close.
    fn close(self) -> io::Result<()>;
}

fn other<E: std::fmt::Display>(e: E) -> io::Error {
    io::Error::other(e.to_string())
}

// ---------------------------------------------------------------- log

const LOG_MAGIC: &[u8; 8] = b"MQTTLOG1";
const OP_PUT: u8 = 1;
const OP_DEL: u8 = 2;
/// Compaction when the file exceeds this many times the live bytes (and
/// [`LOG_COMPACT_MIN`]).
const LOG_COMPACT_FACTOR: u64 = 4;
const LOG_COMPACT_MIN: u64 = 64 << 20;

/// File size steps of the pre-sized logs: like fjall's journal, the file is
/// extended ahead of the writes, so that a `sync_data` after a write need
/// not also record a new file size.
const LOG_PRESIZE: u64 = 64 << 20;

/// [`Log`] modes: the file grows with each write.
const PLAIN: u8 = 0;
/// [`Log`] modes: `set_len` ahead of the writes (a sparse file: a write still
/// allocates blocks, which ext4 records in its journal at `sync_data`).
const SET_LEN: u8 = 1;
/// [`Log`] modes: zeros written and synced ahead of the writes, so that a
/// frame overwrites allocated blocks and `sync_data` flushes data only (the
/// zeros double the bytes written, off the commit path).
const ZEROED: u8 = 2;

/// Extends `f` from `from` to `to` bytes as `MODE` says, synced.
fn extend<const MODE: u8>(f: &File, from: u64, to: u64) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    if MODE == ZEROED {
        let zeros = vec![0u8; 1 << 20];
        let mut at = from;
        while at < to {
            let n = (to - at).min(zeros.len() as u64) as usize;
            f.write_all_at(&zeros[..n], at)?;
            at += n as u64;
        }
    } else {
        f.set_len(to)?;
    }
    f.sync_all()
}

/// The append-only log. It keeps the live records in memory (the broker's
/// engine holds that state anyway) to write them out at compaction.
/// `MODE` ([`PLAIN`], [`SET_LEN`], [`ZEROED`]): how the file is extended, in
/// [`LOG_PRESIZE`] steps ahead of the writes unless plain (the frames end at
/// the first zero length).
struct Log<const MODE: u8> {
    dir: PathBuf,
    file: File,
    /// Logical end: where the next frame goes.
    len: u64,
    /// File size (ahead of `len` when pre-sized).
    size: u64,
    live: HashMap<Key, Vec<u8>>,
    live_bytes: u64,
    buf: Vec<u8>,
    compactions: u32,
}

fn frame(buf: &mut Vec<u8>, op: u8, k: Key, v: &[u8]) {
    let body_len = 1 + 12 + v.len();
    buf.extend_from_slice(&(body_len as u32).to_le_bytes());
    let crc_at = buf.len();
    buf.extend_from_slice(&[0; 4]);
    let body_at = buf.len();
    buf.push(op);
    buf.extend_from_slice(&key_bytes(k));
    buf.extend_from_slice(v);
    let crc = crc32c::crc32c(&buf[body_at..]);
    buf[crc_at..crc_at + 4].copy_from_slice(&crc.to_le_bytes());
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

impl<const MODE: u8> Log<MODE> {
    fn path(dir: &Path) -> PathBuf {
        dir.join("store.log")
    }

    /// Reads the frames of `f` in 1 MiB chunks: the valid prefix only (a
    /// zero length, a bad length or checksum ends the replay, so the zeros
    /// of a pre-sized file are never read). Returns the live bytes and the
    /// logical end.
    fn replay(f: &mut File, live: &mut HashMap<Key, Vec<u8>>) -> io::Result<(u64, u64)> {
        const CHUNK: usize = 1 << 20;
        let mut buf = vec![0u8; CHUNK];
        let mut have = 0; // bytes in buf
        let mut at = 0; // parse position in buf
        let mut base = 0u64; // file offset of buf[0]
        let mut bytes = 0u64;
        let mut eof = false;
        let mut magic = false;
        loop {
            // Refill: move the unparsed tail to the front, read more.
            if !eof {
                buf.copy_within(at..have, 0);
                base += at as u64;
                have -= at;
                at = 0;
                while have < buf.len() {
                    let r = f.read(&mut buf[have..])?;
                    if r == 0 {
                        eof = true;
                        break;
                    }
                    have += r;
                }
            }
            if !magic {
                if !buf[..have].starts_with(LOG_MAGIC) {
                    return Err(other("not a log file"));
                }
                magic = true;
                at = LOG_MAGIC.len();
            }
            let start = at;
            while let Some(head) = buf[..have].get(at..at + 8) {
                let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
                let crc = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
                if !(13..=CHUNK / 2).contains(&len) {
                    return Ok((bytes, base + at as u64));
                }
                let Some(body) = buf[..have].get(at + 8..at + 8 + len) else {
                    break;
                };
                if crc32c::crc32c(body) != crc {
                    return Ok((bytes, base + at as u64));
                }
                let Some(k) = key_from(&body[1..13]) else {
                    return Ok((bytes, base + at as u64));
                };
                match body[0] {
                    OP_PUT => {
                        let v = body[13..].to_vec();
                        bytes += 12 + v.len() as u64;
                        if let Some(old) = live.insert(k, v) {
                            bytes -= 12 + old.len() as u64;
                        }
                    }
                    OP_DEL => {
                        if let Some(old) = live.remove(&k) {
                            bytes -= 12 + old.len() as u64;
                        }
                    }
                    _ => return Ok((bytes, base + at as u64)),
                }
                at += 8 + len;
            }
            if eof && at == start {
                // A torn frame at the end of the file.
                return Ok((bytes, base + at as u64));
            }
        }
    }

    /// Writes the live records to a new file, syncs it and renames it over.
    fn compact(&mut self) -> io::Result<()> {
        let tmp = self.dir.join("store.log.tmp");
        let mut buf = Vec::with_capacity(self.live_bytes as usize * 2 + 64);
        buf.extend_from_slice(LOG_MAGIC);
        for (k, v) in &self.live {
            frame(&mut buf, OP_PUT, *k, v);
        }
        let mut f = File::create(&tmp)?;
        f.write_all(&buf)?;
        self.len = buf.len() as u64;
        self.size = self.len;
        if MODE != PLAIN {
            self.size = self.len.div_ceil(LOG_PRESIZE) * LOG_PRESIZE + LOG_PRESIZE;
            extend::<MODE>(&f, self.len, self.size)?;
        }
        f.sync_all()?;
        fs::rename(&tmp, Self::path(&self.dir))?;
        sync_dir(&self.dir)?;
        self.file = OpenOptions::new().write(true).open(Self::path(&self.dir))?;
        self.compactions += 1;
        Ok(())
    }
}

impl<const MODE: u8> Store for Log<MODE> {
    fn open(dir: &Path) -> io::Result<Self> {
        let path = Self::path(dir);
        let mut live = HashMap::new();
        let mut live_bytes = 0;
        let len;
        let size;
        if path.exists() {
            let mut f = File::open(&path)?;
            (live_bytes, len) = Self::replay(&mut f, &mut live)?;
            size = f.metadata()?.len();
        } else {
            let mut f = File::create(&path)?;
            f.write_all(LOG_MAGIC)?;
            len = LOG_MAGIC.len() as u64;
            size = if MODE == PLAIN { len } else { LOG_PRESIZE };
            extend::<MODE>(&f, len, size)?;
            sync_dir(dir)?;
        }
        let file = OpenOptions::new().write(true).open(&path)?;
        Ok(Log {
            dir: dir.to_path_buf(),
            file,
            len,
            size,
            live,
            live_bytes,
            buf: Vec::new(),
            compactions: 0,
        })
    }

    fn apply(&mut self, puts: &[(Key, [u8; VALUE_LEN])], dels: &[Key]) -> io::Result<()> {
        self.buf.clear();
        for (k, v) in puts {
            frame(&mut self.buf, OP_PUT, *k, v);
            self.live_bytes += 12 + v.len() as u64;
            if let Some(old) = self.live.insert(*k, v.to_vec()) {
                self.live_bytes -= 12 + old.len() as u64;
            }
        }
        for k in dels {
            frame(&mut self.buf, OP_DEL, *k, &[]);
            if let Some(old) = self.live.remove(k) {
                self.live_bytes -= 12 + old.len() as u64;
            }
        }
        use std::os::unix::fs::FileExt;
        let end = self.len + self.buf.len() as u64;
        if MODE != PLAIN && end > self.size {
            let to = end.div_ceil(LOG_PRESIZE) * LOG_PRESIZE + LOG_PRESIZE;
            extend::<MODE>(&self.file, self.size, to)?;
            self.size = to;
        }
        self.file.write_all_at(&self.buf, self.len)?;
        self.file.sync_data()?;
        self.len = end;
        if self.len > LOG_COMPACT_MIN.max(LOG_COMPACT_FACTOR * self.live_bytes) {
            self.compact()?;
        }
        Ok(())
    }

    fn load_all(&mut self) -> io::Result<HashMap<Key, Vec<u8>>> {
        // What `open` recovered (the replay is the read).
        Ok(std::mem::take(&mut self.live))
    }

    fn close(self) -> io::Result<()> {
        self.file.sync_all()
    }
}

// ---------------------------------------------------------------- redb

const REDB_TABLE: redb::TableDefinition<(u32, u64), &[u8]> = redb::TableDefinition::new("queue");

struct Redb {
    db: redb::Database,
}

impl Store for Redb {
    fn open(dir: &Path) -> io::Result<Self> {
        let db = redb::Database::create(dir.join("store.redb")).map_err(other)?;
        Ok(Redb { db })
    }

    fn apply(&mut self, puts: &[(Key, [u8; VALUE_LEN])], dels: &[Key]) -> io::Result<()> {
        let mut tx = self.db.begin_write().map_err(other)?;
        tx.set_durability(redb::Durability::Immediate)
            .map_err(other)?;
        {
            let mut t = tx.open_table(REDB_TABLE).map_err(other)?;
            for (k, v) in puts {
                t.insert(k, v.as_slice()).map_err(other)?;
            }
            for k in dels {
                t.remove(k).map_err(other)?;
            }
        }
        tx.commit().map_err(other)
    }

    fn load_all(&mut self) -> io::Result<HashMap<Key, Vec<u8>>> {
        use redb::{ReadableDatabase, ReadableTable};
        let tx = self.db.begin_read().map_err(other)?;
        let t = tx.open_table(REDB_TABLE).map_err(other)?;
        let mut m = HashMap::new();
        for item in t.iter().map_err(other)? {
            let (k, v) = item.map_err(other)?;
            m.insert(k.value(), v.value().to_vec());
        }
        Ok(m)
    }

    fn close(self) -> io::Result<()> {
        drop(self.db);
        Ok(())
    }
}

// ---------------------------------------------------------------- fjall

struct Fjall<const SYNC_ALL: bool> {
    db: fjall::Database,
    ks: fjall::Keyspace,
}

impl<const SYNC_ALL: bool> Store for Fjall<SYNC_ALL> {
    fn open(dir: &Path) -> io::Result<Self> {
        let db = fjall::Database::builder(dir.join("fjall"))
            .open()
            .map_err(other)?;
        let ks = db
            .keyspace("queue", fjall::KeyspaceCreateOptions::default)
            .map_err(other)?;
        Ok(Fjall { db, ks })
    }

    fn apply(&mut self, puts: &[(Key, [u8; VALUE_LEN])], dels: &[Key]) -> io::Result<()> {
        let mode = if SYNC_ALL {
            fjall::PersistMode::SyncAll
        } else {
            fjall::PersistMode::SyncData
        };
        let mut b = self.db.batch().durability(Some(mode));
        for (k, v) in puts {
            b.insert(&self.ks, key_bytes(*k), v.as_slice());
        }
        for k in dels {
            b.remove(&self.ks, key_bytes(*k));
        }
        b.commit().map_err(other)
    }

    fn load_all(&mut self) -> io::Result<HashMap<Key, Vec<u8>>> {
        let mut m = HashMap::new();
        for g in self.ks.iter() {
            let (k, v) = g.into_inner().map_err(other)?;
            let k = key_from(&k).ok_or_else(|| other("bad key"))?;
            m.insert(k, v.to_vec());
        }
        Ok(m)
    }

    fn close(self) -> io::Result<()> {
        self.db
            .persist(fjall::PersistMode::SyncAll)
            .map_err(other)?;
        drop(self.ks);
        drop(self.db);
        Ok(())
    }
}

// ---------------------------------------------------------------- measuring

/// Sum of the apparent sizes and of the allocated bytes of the files under `p`.
fn disk_size(p: &Path) -> io::Result<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let mut apparent = 0;
    let mut allocated = 0;
    for e in fs::read_dir(p)? {
        let e = e?;
        let m = e.metadata()?;
        if m.is_dir() {
            let (a, b) = disk_size(&e.path())?;
            apparent += a;
            allocated += b;
        } else {
            apparent += m.len();
            allocated += m.blocks() * 512;
        }
    }
    Ok((apparent, allocated))
}

/// Drops the (clean, synced) pages of every file under `p` from the page
/// cache: GNU dd's `iflag=nocache count=0` is posix_fadvise(DONTNEED) on
/// the whole file (no `unsafe` here, no root needed).
fn drop_cache(p: &Path) -> io::Result<()> {
    for e in fs::read_dir(p)? {
        let e = e?;
        if e.metadata()?.is_dir() {
            drop_cache(&e.path())?;
        } else {
            File::open(e.path())?.sync_all()?;
            let ok = std::process::Command::new("dd")
                .arg(format!("if={}", e.path().display()))
                .args(["iflag=nocache", "count=0", "status=none"])
                .status()?
                .success();
            if !ok {
                return Err(other(format!(
                    "dd could not drop {} from the cache",
                    e.path().display()
                )));
            }
        }
    }
    Ok(())
}

fn fresh_dir(base: &Path, name: &str) -> io::Result<PathBuf> {
    let d = base.join(name);
    if d.exists() {
        fs::remove_dir_all(&d)?;
    }
    fs::create_dir_all(&d)?;
    Ok(d)
}

/// One throughput run: returns (batches/s, records/s, p50 ms, p99 ms, compactions).
struct Thru {
    batches_s: f64,
    records_s: f64,
    p50_ms: f64,
    p99_ms: f64,
    /// Bytes the process sent to storage (`write_bytes` of /proc/self/io,
    /// background threads included) per batch, prefill excluded.
    disk_bytes_per_batch: f64,
    /// CPU microseconds (all threads) per batch.
    cpu_us_per_batch: f64,
}

/// CPU seconds (user + system, all threads) of this process so far, from
/// /proc/self/stat (USER_HZ, 100 per second on Linux): on a shared machine
/// CPU time moves less than wall time with the other jobs.
fn cpu_seconds() -> io::Result<f64> {
    let s = fs::read_to_string("/proc/self/stat")?;
    let rest = s
        .rsplit_once(')')
        .map(|x| x.1)
        .ok_or_else(|| other("bad /proc/self/stat"))?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // f[0] is field 3 (state): utime is field 14, stime field 15.
    let tick = |i: usize| -> io::Result<f64> {
        f.get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .ok_or_else(|| other("bad /proc/self/stat"))
    };
    Ok((tick(11)? + tick(12)?) / 100.0)
}

/// `write_bytes` of /proc/self/io: bytes this process caused to be written
/// to storage.
fn disk_write_bytes() -> io::Result<u64> {
    let s = fs::read_to_string("/proc/self/io")?;
    s.lines()
        .find_map(|l| l.strip_prefix("write_bytes: "))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| other("no write_bytes in /proc/self/io"))
}

/// How long a throughput run goes on.
#[derive(Clone, Copy)]
enum Limit {
    Seconds(f64),
    Batches(u64),
}

fn throughput<S: Store>(dir: &Path, n: usize, limit: Limit) -> io::Result<Thru> {
    let mut s = S::open(dir)?;
    // The steady live set, in one batch.
    let pre: Vec<_> = (0..LIVE).map(record).collect();
    s.apply(&pre, &[])?;
    let mut next = LIVE; // next sequence to insert
    let mut oldest = 0u64; // oldest live sequence
    let mut lat = Vec::new();
    let mut puts = Vec::with_capacity(n);
    let mut dels = Vec::with_capacity(n);
    let w0 = disk_write_bytes()?;
    let c0 = cpu_seconds()?;
    let start = Instant::now();
    let more = |done: usize| match limit {
        Limit::Seconds(s) => start.elapsed() < Duration::from_secs_f64(s),
        Limit::Batches(b) => (done as u64) < b,
    };
    while more(lat.len()) {
        puts.clear();
        dels.clear();
        for _ in 0..n {
            puts.push(record(next));
            next += 1;
            dels.push(record(oldest).0);
            oldest += 1;
        }
        let t = Instant::now();
        s.apply(&puts, &dels)?;
        lat.push(t.elapsed());
    }
    let el = start.elapsed().as_secs_f64();
    let w1 = disk_write_bytes()?;
    let c1 = cpu_seconds()?;
    s.close()?;
    lat.sort();
    let q = |p: f64| {
        lat.get(((lat.len().max(1) - 1) as f64 * p) as usize)
            .map_or(0.0, |d| d.as_secs_f64() * 1e3)
    };
    Ok(Thru {
        batches_s: lat.len() as f64 / el,
        records_s: (lat.len() * n) as f64 / el,
        p50_ms: q(0.5),
        p99_ms: q(0.99),
        disk_bytes_per_batch: (w1 - w0) as f64 / lat.len().max(1) as f64,
        cpu_us_per_batch: (c1 - c0) * 1e6 / lat.len().max(1) as f64,
    })
}

struct Recov {
    write_s: f64,
    warm_s: f64,
    cold_s: f64,
    warm_cpu_s: f64,
    cold_cpu_s: f64,
    apparent: u64,
    allocated: u64,
}

const RECOVERY_BATCH: u64 = 1000;

fn recovery<S: Store>(name: &str, dir: &Path, total: u64) -> io::Result<Recov> {
    let t = Instant::now();
    let mut s = S::open(dir)?;
    let mut seq = 0;
    let mut puts = Vec::with_capacity(RECOVERY_BATCH as usize);
    while seq < total {
        puts.clear();
        for _ in 0..RECOVERY_BATCH.min(total - seq) {
            puts.push(record(seq));
            seq += 1;
        }
        s.apply(&puts, &[])?;
    }
    s.close()?;
    let write_s = t.elapsed().as_secs_f64();
    let (apparent, allocated) = disk_size(dir)?;
    drop_cache(dir)?;
    let (cold_s, cold_cpu_s) = read_in_child(name, dir, total)?;
    let (warm_s, warm_cpu_s) = read_in_child(name, dir, total)?;
    Ok(Recov {
        write_s,
        warm_s,
        cold_s,
        warm_cpu_s,
        cold_cpu_s,
        apparent,
        allocated,
    })
}

/// Opens the store and reads everything into a HashMap, checking the count
/// and one record: (wall seconds, CPU seconds of this process). Run in a
/// process of its own (`--recover-child`), as a restart is: no thread or
/// heap of an earlier store in it.
fn read_back<S: Store>(dir: &Path, total: u64) -> io::Result<(f64, f64)> {
    let c = cpu_seconds()?;
    let t = Instant::now();
    let mut s = S::open(dir)?;
    let m = s.load_all()?;
    let el = t.elapsed().as_secs_f64();
    let cpu = cpu_seconds()? - c;
    if m.len() as u64 != total {
        return Err(other(format!("read back {} records of {total}", m.len())));
    }
    let (k, v) = record(total / 2);
    if m.get(&k).map(Vec::as_slice) != Some(&v[..]) {
        return Err(other("a record read back differs"));
    }
    drop(m);
    s.close()?;
    Ok((el, cpu))
}

/// [`read_back`] in a child process (this program, `--recover-child`).
fn read_in_child(name: &str, dir: &Path, total: u64) -> io::Result<(f64, f64)> {
    let out = std::process::Command::new(std::env::current_exe()?)
        .arg("--recover-child")
        .arg(name)
        .arg(dir)
        .arg(total.to_string())
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut it = text.split_whitespace().map(str::parse::<f64>);
    match (out.status.success(), it.next(), it.next()) {
        (true, Some(Ok(w)), Some(Ok(c))) => Ok((w, c)),
        _ => Err(other(format!(
            "recovery child for {name} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))),
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

struct Args {
    runs: usize,
    secs: f64,
    records: u64,
    dir: PathBuf,
    only: Option<String>,
    /// A fixed count of batches per throughput run instead of `secs`.
    batches: Option<u64>,
    /// Only this N.
    n: Option<usize>,
    no_recovery: bool,
    no_throughput: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        runs: 3,
        secs: 3.0,
        records: 1_000_000,
        dir: PathBuf::from("target/data"),
        only: None,
        batches: None,
        n: None,
        no_recovery: false,
        no_throughput: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(x) = it.next() {
        let mut val = || it.next().ok_or(format!("{x} needs a value"));
        match x.as_str() {
            "--runs" => a.runs = val()?.parse().map_err(|e| format!("--runs: {e}"))?,
            "--seconds" => a.secs = val()?.parse().map_err(|e| format!("--seconds: {e}"))?,
            "--records" => a.records = val()?.parse().map_err(|e| format!("--records: {e}"))?,
            "--dir" => a.dir = PathBuf::from(val()?),
            "--only" => a.only = Some(val()?),
            "--batches" => a.batches = Some(val()?.parse().map_err(|e| format!("--batches: {e}"))?),
            "--n" => a.n = Some(val()?.parse().map_err(|e| format!("--n: {e}"))?),
            "--no-recovery" => a.no_recovery = true,
            "--no-throughput" => a.no_throughput = true,
            "-h" | "--help" => {
                return Err("usage: store-choice [--runs 3] [--seconds 3] [--records 1000000] \
                            [--dir target/data] [--only log|log-presized|log-zeroed|redb|fjall-syncdata|fjall-syncall] \
                            [--n 1|16|128] [--batches K (instead of seconds)] [--no-recovery] [--no-throughput]"
                    .into())
            }
            _ => return Err(format!("unknown argument {x}")),
        }
    }
    Ok(a)
}

type ThruFn = fn(&Path, usize, Limit) -> io::Result<Thru>;
type RecovFn = fn(&str, &Path, u64) -> io::Result<Recov>;
type ReadFn = fn(&Path, u64) -> io::Result<(f64, f64)>;

/// The recovery read of a store by name, for `--recover-child`.
fn reader(name: &str) -> Option<ReadFn> {
    Some(match name {
        "log" => read_back::<Log<PLAIN>>,
        "log-presized" => read_back::<Log<SET_LEN>>,
        "log-zeroed" => read_back::<Log<ZEROED>>,
        "redb" => read_back::<Redb>,
        "fjall-syncdata" => read_back::<Fjall<false>>,
        "fjall-syncall" => read_back::<Fjall<true>>,
        _ => return None,
    })
}

/// `--recover-child STORE DIR TOTAL`: prints `wall_s cpu_s`.
fn recover_child(a: &[String]) -> io::Result<()> {
    let [name, dir, total] = a else {
        return Err(other("--recover-child STORE DIR TOTAL"));
    };
    let read = reader(name).ok_or_else(|| other(format!("unknown store {name}")))?;
    let total = total.parse().map_err(other)?;
    let (w, c) = read(Path::new(dir), total)?;
    println!("{w} {c}");
    Ok(())
}

fn main() {
    let argv: Vec<String> = std::env::args().collect();
    if argv.get(1).map(String::as_str) == Some("--recover-child") {
        if let Err(e) = recover_child(&argv[2..]) {
            eprintln!("store-choice: {e}");
            std::process::exit(1);
        }
        return;
    }
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    if let Err(e) = run(&args) {
        eprintln!("store-choice: {e}");
        std::process::exit(1);
    }
}

fn run(args: &Args) -> io::Result<()> {
    let stores: [(&str, ThruFn, RecovFn); 6] = [
        ("log", throughput::<Log<PLAIN>>, recovery::<Log<PLAIN>>),
        (
            "log-presized",
            throughput::<Log<SET_LEN>>,
            recovery::<Log<SET_LEN>>,
        ),
        (
            "log-zeroed",
            throughput::<Log<ZEROED>>,
            recovery::<Log<ZEROED>>,
        ),
        ("redb", throughput::<Redb>, recovery::<Redb>),
        (
            "fjall-syncdata",
            throughput::<Fjall<false>>,
            recovery::<Fjall<false>>,
        ),
        (
            "fjall-syncall",
            throughput::<Fjall<true>>,
            recovery::<Fjall<true>>,
        ),
    ];
    let stores: Vec<_> = stores
        .into_iter()
        .filter(|s| args.only.as_deref().is_none_or(|o| o == s.0))
        .collect();
    fs::create_dir_all(&args.dir)?;
    let mut out = String::new();
    out += &format!(
        "Batch: N inserts of {VALUE_LEN} B values (12 B key) + N deletes, durable on return; \
         {LIVE} live records; {} s per run; median of {} runs.\n\n",
        args.secs, args.runs
    );
    out += "| store | N | batches/s | records/s (inserted) | batch p50 ms | batch p99 ms | disk bytes written per batch | CPU µs per batch |\n";
    out += "|---|---:|---:|---:|---:|---:|---:|---:|\n";
    // Runs interleaved (run 1 of every store, then run 2...), so that a
    // change in the machine's load spreads over all stores.
    let limit = args
        .batches
        .map_or(Limit::Seconds(args.secs), Limit::Batches);
    for n in [1usize, 16, 128] {
        if args.no_throughput || args.n.is_some_and(|x| x != n) {
            continue;
        }
        let mut r: Vec<Vec<Thru>> = stores.iter().map(|_| Vec::new()).collect();
        for i in 0..args.runs {
            for (j, (name, thru, _)) in stores.iter().enumerate() {
                let d = fresh_dir(&args.dir, name)?;
                let t = thru(&d, n, limit)?;
                eprintln!(
                    "{name} N={n} run {i}: {:.0} batches/s {:.0} records/s p50 {:.2} ms p99 {:.2} ms, {:.0} B written, {:.0} µs CPU per batch",
                    t.batches_s, t.records_s, t.p50_ms, t.p99_ms, t.disk_bytes_per_batch, t.cpu_us_per_batch
                );
                r[j].push(t);
                fs::remove_dir_all(&d)?;
            }
        }
        for ((name, _, _), r) in stores.iter().zip(&r) {
            out += &format!(
                "| {name} | {n} | {:.0} | {:.0} | {:.2} | {:.2} | {:.0} | {:.0} |\n",
                median(r.iter().map(|t| t.batches_s).collect()),
                median(r.iter().map(|t| t.records_s).collect()),
                median(r.iter().map(|t| t.p50_ms).collect()),
                median(r.iter().map(|t| t.p99_ms).collect()),
                median(r.iter().map(|t| t.disk_bytes_per_batch).collect()),
                median(r.iter().map(|t| t.cpu_us_per_batch).collect()),
            );
        }
    }
    if args.no_recovery {
        print!("{out}");
        return Ok(());
    }
    out += &format!(
        "\nRecovery: {} records written in batches of {RECOVERY_BATCH} (each durable), closed, \
         reopened and read into a HashMap; median of {} runs.\n\n",
        args.records, args.runs
    );
    out += "| store | write s | reopen + read all, cold cache: wall s | CPU s | warm cache: wall s | CPU s | size on disk MB (apparent) | allocated MB |\n";
    out += "|---|---:|---:|---:|---:|---:|---:|---:|\n";
    let mut r: Vec<Vec<Recov>> = stores.iter().map(|_| Vec::new()).collect();
    for i in 0..args.runs {
        for (j, (name, _, recov)) in stores.iter().enumerate() {
            // fjall's on-disk format does not depend on the persist mode:
            // one recovery row for it (fjall-syncdata).
            if *name == "fjall-syncall" && stores.len() > 1 {
                continue;
            }
            let d = fresh_dir(&args.dir, name)?;
            let x = recov(name, &d, args.records)?;
            eprintln!(
                "{name} recovery run {i}: write {:.2} s, cold {:.3} s ({:.2} s CPU), warm {:.3} s ({:.2} s CPU), {} B ({} B allocated)",
                x.write_s, x.cold_s, x.cold_cpu_s, x.warm_s, x.warm_cpu_s, x.apparent, x.allocated
            );
            r[j].push(x);
            fs::remove_dir_all(&d)?;
        }
    }
    for ((name, _, _), r) in stores.iter().zip(&r) {
        if r.is_empty() {
            continue;
        }
        out += &format!(
            "| {name} | {:.2} | {:.3} | {:.2} | {:.3} | {:.2} | {:.1} | {:.1} |\n",
            median(r.iter().map(|x| x.write_s).collect()),
            median(r.iter().map(|x| x.cold_s).collect()),
            median(r.iter().map(|x| x.cold_cpu_s).collect()),
            median(r.iter().map(|x| x.warm_s).collect()),
            median(r.iter().map(|x| x.warm_cpu_s).collect()),
            median(r.iter().map(|x| x.apparent as f64 / 1e6).collect()),
            median(r.iter().map(|x| x.allocated as f64 / 1e6).collect()),
        );
    }
    print!("{out}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("target/test-data")
            .join(name);
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).expect("test dir");
        d
    }

    fn write_100<const P: u8>(d: &Path) {
        let mut s = Log::<P>::open(d).expect("open");
        for i in 0..100 {
            s.apply(&[record(i)], &[]).expect("apply");
        }
        s.apply(&[], &[record(0).0]).expect("delete");
        s.close().expect("close");
    }

    fn reads_back<const P: u8>(name: &str) {
        let d = dir(name);
        write_100::<P>(&d);
        let mut s = Log::<P>::open(&d).expect("reopen");
        let m = s.load_all().expect("load");
        assert_eq!(m.len(), 99);
        assert_eq!(
            m.get(&record(50).0).map(Vec::as_slice),
            Some(&record(50).1[..])
        );
        assert!(!m.contains_key(&record(0).0));
    }

    /// The log reads back what it wrote, pre-sized or not (the frames end
    /// at the first zero length).
    #[test]
    fn log_reads_back() {
        reads_back::<PLAIN>("reads-back-plain");
        reads_back::<SET_LEN>("reads-back-set-len");
        reads_back::<ZEROED>("reads-back-zeroed");
    }

    /// A torn last frame and a flipped byte: the valid prefix is kept.
    #[test]
    fn log_keeps_valid_prefix() {
        let d = dir("prefix");
        write_100::<PLAIN>(&d);
        let p = Log::<PLAIN>::path(&d);
        let len = fs::metadata(&p).expect("meta").len();
        // Cut the delete frame (21 B) in the middle: record 0 stays.
        OpenOptions::new()
            .write(true)
            .open(&p)
            .expect("open")
            .set_len(len - 5)
            .expect("truncate");
        let m = Log::<PLAIN>::open(&d)
            .expect("reopen")
            .load_all()
            .expect("load");
        assert_eq!(m.len(), 100);
        // A flipped byte in frame 10 (115 B frames after the 8 B magic).
        let mut data = fs::read(&p).expect("read");
        data[8 + 10 * 115 + 50] ^= 1;
        fs::write(&p, &data).expect("write");
        let m = Log::<PLAIN>::open(&d)
            .expect("reopen")
            .load_all()
            .expect("load");
        assert_eq!(m.len(), 10);
    }
}
