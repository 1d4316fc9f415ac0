//! Logging as mosquitto does it: `log_dest` (stderr, stdout, files),
//! `log_type` (the kinds of message written), `log_timestamp` (a Unix time
//! prefix), `connection_messages`.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;

use crate::config::{Log, LogDest, LogTypes};

/// The kind of a log message (mosquitto's `log_type` names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `error`.
    Error,
    /// `warning`.
    Warning,
    /// `notice`.
    Notice,
    /// `information`.
    Information,
    /// `subscribe`.
    Subscribe,
    /// `unsubscribe`.
    Unsubscribe,
    /// `debug`.
    Debug,
}

enum Sink {
    Stderr,
    Stdout,
    File(PathBuf, File),
}

/// Where log lines go and which are written.
pub struct Logger {
    types: LogTypes,
    sinks: Vec<Sink>,
    timestamp: bool,
    /// Whether connections and disconnections are logged.
    pub connection_messages: bool,
}

/// The wall clock, for timestamps only (the engine's time is a monotonic
/// count of milliseconds).
#[allow(clippy::disallowed_methods)]
fn unix_seconds() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Logger {
    /// A logger for the configuration; `verbose` (`-v`) enables every kind.
    /// Fails when a log file cannot be opened.
    pub fn new(log: &Log, verbose: bool) -> Result<Self, String> {
        let mut sinks = Vec::new();
        for dest in &log.dests {
            sinks.push(match dest {
                LogDest::Stderr => Sink::Stderr,
                LogDest::Stdout => Sink::Stdout,
                LogDest::File(path) => Sink::File(path.clone(), open(path)?),
            });
        }
        let types = if verbose { LogTypes::ALL } else { log.types };
        Ok(Logger {
            types,
            sinks,
            timestamp: log.timestamp,
            connection_messages: log.connection_messages,
        })
    }

    /// Whether messages of this kind are written.
    pub fn enabled(&self, kind: Kind) -> bool {
        let t = &self.types;
        match kind {
            Kind::Error => t.error,
            Kind::Warning => t.warning,
            Kind::Notice => t.notice,
            Kind::Information => t.information,
            Kind::Subscribe => t.subscribe,
            Kind::Unsubscribe => t.unsubscribe,
            Kind::Debug => t.debug,
        }
    }

    /// Writes a line of this kind, if enabled.
    pub fn log(&mut self, kind: Kind, message: fmt::Arguments<'_>) {
        if !self.enabled(kind) || self.sinks.is_empty() {
            return;
        }
        let line = if self.timestamp {
            format!("{}: {message}\n", unix_seconds())
        } else {
            format!("{message}\n")
        };
        for sink in &mut self.sinks {
            let _ = match sink {
                Sink::Stderr => std::io::stderr().write_all(line.as_bytes()),
                Sink::Stdout => std::io::stdout().write_all(line.as_bytes()),
                Sink::File(_, f) => f.write_all(line.as_bytes()),
            };
        }
    }

    /// Reopens the log files (after SIGHUP, for log rotation).
    pub fn reopen(&mut self) {
        for sink in &mut self.sinks {
            if let Sink::File(path, file) = sink {
                if let Ok(f) = open(path) {
                    *file = f;
                }
            }
        }
    }
}

fn open(path: &PathBuf) -> Result<File, String> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| format!("log_dest file {}: {e}", path.display()))
}

/// Logs through a [`Logger`] with `format!` arguments.
#[macro_export]
macro_rules! log {
    ($logger:expr, $kind:ident, $($arg:tt)*) => {
        if $logger.enabled($crate::log::Kind::$kind) {
            $logger.log($crate::log::Kind::$kind, format_args!($($arg)*));
        }
    };
}
