//! The durable store: one append-only file of the engine's record frames
//! (see [`mqtt_core::broker::persist`]), with std only.
//!
//! * **Start** ([`Store::open`]): the file (`persistence_file` in
//!   `persistence_location`, a directory that must exist) is read whole
//!   and handed to [`Broker::restore`]; what was rebuilt is logged, and a
//!   damaged or torn tail is reported (offset, reason, bytes lost; the
//!   damaged file is kept beside as `FILE.damaged`). Then the store is
//!   compacted at once: [`Broker::snapshot`] goes to `FILE.new`, which is
//!   synced, renamed over `FILE`, and the directory synced. A missing file
//!   starts an empty store the same way. A file that is not ours (a
//!   `mosquitto.db`) or from a newer format refuses the start.
//! * **Running**: the socket loop appends each batch of
//!   [`Broker::poll_store`] ([`Store::append`]). In
//!   [`PersistenceMode::Sync`] the batch is fdatasync'ed before the loop
//!   sends anything taken from the engine after it (one sync per batch:
//!   the loop takes one batch for all the input of a turn). In
//!   [`PersistenceMode::Periodic`] it is only written, and synced every
//!   `autosave_interval` ([`Store::deadline`], [`Store::tick`]) and at
//!   shutdown.
//! * **Compaction**: when the file grows past twice its size after the
//!   last compaction plus [`COMPACT_SLACK`], a fresh snapshot replaces it.
//!
//! A `FILE.lock` beside the store is locked while the broker runs, so a
//! second broker cannot write the same store.

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

use mqtt_core::broker::persist::{STORE_FORMAT_VERSION, STORE_MAGIC};
use mqtt_core::broker::{Broker, RestoreError, RestoreReport};

use crate::config::{Persistence, PersistenceMode};
use crate::log;
use crate::log::Logger;

/// Growth allowed beyond twice the compacted size before compacting again.
pub const COMPACT_SLACK: u64 = 16 * 1024 * 1024;

/// The open store of a running broker.
#[derive(Debug)]
pub struct Store {
    path: PathBuf,
    dir: PathBuf,
    file: File,
    /// Held (locked) while the store is open.
    _lock: File,
    mode: PersistenceMode,
    /// Bytes in the file.
    len: u64,
    /// Bytes in the file right after the last compaction.
    compacted_len: u64,
    /// Bytes written but not synced yet (periodic mode).
    unsynced: bool,
    /// Milliseconds between syncs in periodic mode (0: only at shutdown).
    interval_ms: u64,
    /// When the next periodic sync is due (engine time).
    next_sync: u64,
}

/// `path` with `suffix` appended to its file name.
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// The directory of `path` (`.` for a bare file name).
fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    }
}

impl Store {
    /// Opens (or creates) the store `settings` name, restores `broker`
    /// (new, empty) from it at engine time `now`, logs what was rebuilt
    /// and what was lost, and compacts. Errors name the file.
    pub fn open(
        settings: &Persistence,
        broker: &mut Broker,
        now: u64,
        log: &mut Logger,
    ) -> Result<Store, String> {
        let path = settings.path();
        let dir = parent_dir(&path);
        let shown = path.display();
        check_dir(&dir)?;
        let lock_path = with_suffix(&path, ".lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| format!("store lock {}: {e}", lock_path.display()))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                return Err(format!(
                    "store {shown}: in use by another broker ({} is locked)",
                    lock_path.display()
                ))
            }
            Err(fs::TryLockError::Error(e)) => {
                return Err(format!("store lock {}: {e}", lock_path.display()))
            }
        }
        let bytes = match fs::read(&path) {
            Ok(bytes) => Some(bytes),
            Err(e) if e.kind() == ErrorKind::NotFound => None,
            Err(e) => return Err(format!("store {shown}: {e}")),
        };
        match &bytes {
            None => log!(log, Notice, "Store {shown}: new, empty."),
            Some(b) if b.is_empty() => {
                log!(
                    log,
                    Warning,
                    "Warning: store {shown}: empty file, starting empty."
                )
            }
            Some(b) => {
                let report = broker
                    .restore(b, now)
                    .map_err(|e| restore_error(&path, &e))?;
                log_report(log, &path, &report, b.len(), now);
                if report.discarded_bytes > 0 {
                    let kept = with_suffix(&path, ".damaged");
                    match fs::write(&kept, b) {
                        Ok(()) => log!(
                            log,
                            Warning,
                            "Warning: store {shown}: the damaged file is kept as {}.",
                            kept.display()
                        ),
                        Err(e) => log!(
                            log,
                            Warning,
                            "Warning: store {shown}: could not keep a copy of the damaged \
                             file as {}: {e}",
                            kept.display()
                        ),
                    }
                }
            }
        }
        let interval_ms = settings.autosave_interval.saturating_mul(1000);
        let snapshot = broker.snapshot(now);
        let (file, len) =
            replace(&path, &dir, &snapshot).map_err(|e| format!("store {shown}: {e}"))?;
        Ok(Store {
            path,
            dir,
            file,
            _lock: lock,
            mode: settings.mode,
            len,
            compacted_len: len,
            unsynced: false,
            interval_ms,
            next_sync: now.saturating_add(interval_ms),
        })
    }

    /// The store's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The durability mode.
    pub fn mode(&self) -> PersistenceMode {
        self.mode
    }

    /// Bytes in the file now.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the file holds nothing (never, once opened: it has a header).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends a batch from [`Broker::poll_store`]; in sync mode it is
    /// durable (fdatasync) when this returns. An error is fatal for the
    /// broker: what follows the batch must not be sent.
    pub fn append(&mut self, batch: &[u8]) -> Result<(), String> {
        self.file
            .write_all(batch)
            .map_err(|e| format!("store {}: write: {e}", self.path.display()))?;
        self.len += batch.len() as u64;
        match self.mode {
            PersistenceMode::Sync => self.sync_data()?,
            PersistenceMode::Periodic => self.unsynced = true,
        }
        Ok(())
    }

    /// Whether the file has grown enough to be replaced by a snapshot.
    pub fn wants_compaction(&self) -> bool {
        self.len
            > self
                .compacted_len
                .saturating_mul(2)
                .saturating_add(COMPACT_SLACK)
    }

    /// Replaces the file with `snapshot` (from [`Broker::snapshot`]):
    /// written to `FILE.new`, synced, renamed over the file, directory
    /// synced.
    pub fn compact(&mut self, snapshot: &[u8]) -> Result<(), String> {
        let (file, len) = replace(&self.path, &self.dir, snapshot)
            .map_err(|e| format!("store {}: compaction: {e}", self.path.display()))?;
        self.file = file;
        self.len = len;
        self.compacted_len = len;
        self.unsynced = false;
        Ok(())
    }

    /// When the next periodic sync is due, if one is waiting.
    pub fn deadline(&self) -> Option<u64> {
        (self.unsynced && self.interval_ms > 0).then_some(self.next_sync)
    }

    /// Periodic mode: syncs when `autosave_interval` has passed.
    pub fn tick(&mut self, now: u64) -> Result<(), String> {
        if self.interval_ms > 0 && now >= self.next_sync {
            self.next_sync = now.saturating_add(self.interval_ms);
            if self.unsynced {
                self.sync_data()?;
            }
        }
        Ok(())
    }

    /// Makes everything written durable (at shutdown).
    pub fn sync(&mut self) -> Result<(), String> {
        if self.unsynced {
            self.sync_data()?;
        }
        Ok(())
    }

    fn sync_data(&mut self) -> Result<(), String> {
        self.file
            .sync_data()
            .map_err(|e| format!("store {}: fdatasync: {e}", self.path.display()))?;
        self.unsynced = false;
        Ok(())
    }
}

/// What `--test-config` checks without starting: the directory exists,
/// and a store already there is ours, of a version this build reads.
pub fn check(settings: &Persistence) -> Result<(), String> {
    let path = settings.path();
    check_dir(&parent_dir(&path))?;
    let mut header = Vec::new();
    match File::open(&path) {
        Ok(f) => {
            use std::io::Read;
            f.take(16)
                .read_to_end(&mut header)
                .map_err(|e| format!("store {}: {e}", path.display()))?;
        }
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(format!("store {}: {e}", path.display())),
    }
    if header.is_empty() {
        return Ok(());
    }
    if !header.starts_with(&STORE_MAGIC) {
        return Err(restore_error(&path, &RestoreError::NotAStore));
    }
    if let Some(v) = header.get(8..12) {
        let found = u32::from_le_bytes([v[0], v[1], v[2], v[3]]);
        if found > STORE_FORMAT_VERSION {
            return Err(restore_error(
                &path,
                &RestoreError::NewerVersion {
                    found,
                    supported: STORE_FORMAT_VERSION,
                },
            ));
        }
    }
    Ok(())
}

/// The directory of the store must exist (mosquitto does not create it
/// either).
fn check_dir(dir: &Path) -> Result<(), String> {
    match fs::metadata(dir) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(format!(
            "persistence_location {}: not a directory",
            dir.display()
        )),
        Err(e) => Err(format!(
            "persistence_location {}: {e} (the directory is not created: \
             make it, writable by the broker's user)",
            dir.display()
        )),
    }
}

/// A store that cannot be restored, as a start error naming the file.
fn restore_error(path: &Path, e: &RestoreError) -> String {
    match e {
        RestoreError::NotAStore => format!(
            "store {}: not a libmqtt store (a mosquitto.db, whose format is not read \
             here?): move it away or name another persistence_file",
            path.display()
        ),
        e @ RestoreError::NewerVersion { .. } => format!(
            "store {}: {e}: a newer libmqtt-broker wrote it; refusing to start",
            path.display()
        ),
        e => format!("store {}: {e}", path.display()),
    }
}

/// Writes `bytes` as the new content of `path` atomically: `FILE.new`,
/// fsync, rename, fsync of the directory. Returns the file open for
/// appending and its length.
fn replace(path: &Path, dir: &Path, bytes: &[u8]) -> std::io::Result<(File, u64)> {
    let new = with_suffix(path, ".new");
    {
        let mut f = OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .open(&new)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    fs::rename(&new, path)?;
    File::open(dir)?.sync_all()?;
    let file = OpenOptions::new().append(true).open(path)?;
    Ok((file, bytes.len() as u64))
}

/// Logs what a restore rebuilt and, as a warning, what it lost.
fn log_report(log: &mut Logger, path: &Path, r: &RestoreReport, size: usize, now: u64) {
    let shown = path.display();
    let downtime = match r.last_commit {
        Some(t) if t <= now => format!(", {} s since its last write", (now - t) / 1000),
        Some(t) => {
            log!(
                log,
                Warning,
                "Warning: store {shown}: its last write is {} s in the future: the \
                 clock went back; expiry counts from the store's time",
                (t - now) / 1000
            );
            String::new()
        }
        None => String::new(),
    };
    log!(
        log,
        Notice,
        "Store {shown} restored ({size} bytes, {} batches, {} records{downtime}): \
         {} sessions, {} subscriptions, {} messages, {} retained, {} delayed wills; \
         expired while down: {} sessions, {} messages.",
        r.batches,
        r.records,
        r.sessions,
        r.subscriptions,
        r.messages,
        r.retained,
        r.wills,
        r.expired_sessions,
        r.expired_messages
    );
    if r.discarded_bytes > 0 || r.damage.is_some() {
        let (offset, why) = match &r.damage {
            Some(d) => (d.offset, d.error.to_string()),
            None => (r.valid_len, "incomplete last batch".to_owned()),
        };
        log!(
            log,
            Warning,
            "Warning: store {shown}: damaged at byte {offset} ({why}): {} bytes from byte {} \
             discarded, with the {} whole records they held; the rest was restored.",
            r.discarded_bytes,
            r.valid_len,
            r.discarded_records
        );
    }
}
