//! From a [`Config`] to the engine's options and the listeners' security:
//! every knob of the configuration lands here.

use mqtt_core::broker::{Acl, BrokerLimits, BrokerOptions};
use mqtt_core::codec::QoS;

use crate::auth::ListenerSecurity;
use crate::config::Config;
use crate::password::PasswordFile;

/// The security of every listener, in order, and the ACL.
pub struct Security {
    /// One per listener of the configuration.
    pub listeners: Vec<ListenerSecurity>,
    /// The `acl_file`, read.
    pub acl: Option<Acl>,
    /// Whether every listener is judged alike (no `per_listener_settings`,
    /// no `use_identity_as_username`).
    pub uniform: bool,
    /// Lines of the password files that were skipped (as mosquitto skips
    /// them: their users cannot log in), for the log.
    pub warnings: Vec<String>,
}

/// Reads the password and ACL files the configuration names (a password
/// file's bad lines are skipped and reported, as mosquitto does). With
/// `per_listener_settings true` each listener has its own settings; the
/// ACL must then be the same file for every listener that names one (the
/// engine has one authorizer), else it is an error.
pub fn security(config: &Config) -> Result<Security, String> {
    let mut listeners = Vec::new();
    let mut acl_files = Vec::new();
    let mut warnings = Vec::new();
    for l in &config.listeners {
        let s = if config.per_listener_settings {
            l.security.clone().unwrap_or_default()
        } else {
            config.security.clone()
        };
        let passwords = match &s.password_file {
            Some(path) => {
                let (file, problems) = PasswordFile::load_lenient(path)
                    .map_err(|e| format!("password_file {}: {e}", path.display()))?;
                warnings.extend(problems.iter().map(|p| format!("password_file: {p}")));
                Some(file)
            }
            None => None,
        };
        acl_files.push(s.acl_file.clone());
        listeners.push(ListenerSecurity {
            passwords,
            allow_anonymous: s.allow_anonymous.unwrap_or(false),
            allow_zero_length_clientid: s.allow_zero_length_clientid.unwrap_or(true),
            use_identity_as_username: l.tls.as_ref().is_some_and(|t| t.use_identity_as_username),
            max_keepalive: config.limits.max_keepalive,
        });
    }
    if let Some(i) = acl_files.iter().position(|a| *a != acl_files[0]) {
        let l = &config.listeners[i];
        return Err(format!(
            "listener {} (line {}): per-listener acl_file settings that differ between \
             listeners are not supported (give every listener the same acl_file, or none)",
            l.port, l.line
        ));
    }
    let acl_path = acl_files.into_iter().next().flatten();
    let acl = match acl_path {
        Some(path) => {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| format!("acl_file {}: {e}", path.display()))?;
            Some(Acl::parse(&text).map_err(|e| format!("acl_file {}: {e}", path.display()))?)
        }
        None => None,
    };
    let uniform =
        !config.per_listener_settings && !listeners.iter().any(|l| l.use_identity_as_username);
    Ok(Security {
        listeners,
        acl,
        uniform,
        warnings,
    })
}

/// The engine's options from the configuration's limits, with mosquitto's
/// meaning of 0 ("no limit") where mosquitto has one.
///
/// `max_packet_size` not given (0) keeps the engine's default, 1 MiB
/// ([`BrokerOptions::DEFAULT_MAXIMUM_PACKET_SIZE`]), where mosquitto
/// accepts up to 256 MiB: the largest packet is also what one client can
/// make the broker hold for each of its subscribers, so a bound is the
/// safer default; `max_packet_size 268435455` restores mosquitto's.
pub fn broker_options(config: &Config) -> Result<BrokerOptions, String> {
    let l = &config.limits;
    let defaults = BrokerOptions::new();
    let mut server = defaults.server.clone();
    if l.max_packet_size != 0 {
        server.maximum_packet_size = l.max_packet_size;
    }
    server.receive_maximum = l.receive_maximum.max(1);
    server.max_inflight = match l.max_inflight_messages {
        0 => u16::MAX,
        n => n,
    };
    server.max_queued = match l.max_queued_messages {
        0 => usize::MAX,
        n => n,
    };
    server.topic_alias_maximum = l.max_topic_alias;
    server.maximum_qos = match l.max_qos {
        0 => QoS::AtMostOnce,
        1 => QoS::AtLeastOnce,
        _ => QoS::ExactlyOnce,
    };
    server.retain_available = l.retain_available;
    server.max_keep_alive = l.max_keepalive;
    let mut limits: BrokerLimits = defaults.limits.clone();
    limits.max_queued_messages = server.max_queued;
    limits.max_queued_bytes = match l.max_queued_bytes {
        0 => usize::MAX,
        n => n,
    };
    limits.max_payload_bytes = match l.message_size_limit {
        0 => usize::MAX,
        n => n as usize,
    };
    // A connected subscriber whose socket stopped taking bytes: its QoS 0
    // messages are dropped once this much waits for it. mosquitto bounds
    // that backlog with the same keys as its queues (dropping QoS 0 past
    // `max_queued_messages` or `max_queued_bytes`, keeping everything when
    // both are 0); the engine counts bytes, so: `max_queued_bytes` when
    // given, else 1 KiB per `max_queued_messages` (at least the engine's
    // 1 MiB default), and no bound when both are 0.
    limits.max_output_bytes_per_connection = match (l.max_queued_bytes, l.max_queued_messages) {
        (0, 0) => usize::MAX,
        (0, n) => n
            .saturating_mul(1024)
            .max(defaults.limits.max_output_bytes_per_connection),
        (bytes, _) => bytes,
    };
    if let Some(seconds) = l.persistent_client_expiration {
        limits.max_session_expiry_interval = u32::try_from(seconds).unwrap_or(u32::MAX);
    }
    // Connections are limited per listener by the socket loop.
    limits.max_connections = usize::MAX;
    Ok(defaults
        .with_server_options(server)
        .with_limits(limits)
        .with_persistence(config.persistence.enabled))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::broker_options;
    use crate::config::Config;

    fn options(text: &str) -> mqtt_core::broker::BrokerOptions {
        let config = Config::parse(text, Path::new("test.conf")).expect("parses");
        broker_options(&config).expect("options")
    }

    #[test]
    fn mosquitto_zero_means_no_limit_and_defaults_are_bounded() {
        let d = options("listener 1883\n");
        assert_eq!(d.server.maximum_packet_size, 1024 * 1024);
        assert_eq!(d.server.max_inflight, 20);
        assert_eq!(d.server.receive_maximum, 20);
        assert_eq!(d.limits.max_queued_messages, 1000);
        assert_eq!(d.limits.max_output_bytes_per_connection, 1024 * 1024);
        assert_eq!(d.limits.max_payload_bytes, usize::MAX);
        assert_eq!(d.limits.max_session_expiry_interval, u32::MAX);

        let unbounded = options(
            "listener 1883\nmax_queued_messages 0\nmax_queued_bytes 0\nmax_inflight_messages 0\n",
        );
        assert_eq!(unbounded.limits.max_queued_messages, usize::MAX);
        assert_eq!(unbounded.limits.max_queued_bytes, usize::MAX);
        assert_eq!(unbounded.limits.max_output_bytes_per_connection, usize::MAX);
        assert_eq!(unbounded.server.max_inflight, u16::MAX);

        let set = options(
            "listener 1883\nmax_queued_messages 5000\nmessage_size_limit 100\n\
             max_packet_size 2000\npersistent_client_expiration 2h\n",
        );
        assert_eq!(set.limits.max_output_bytes_per_connection, 5000 * 1024);
        assert_eq!(set.limits.max_payload_bytes, 100);
        assert_eq!(set.server.maximum_packet_size, 2000);
        assert_eq!(set.limits.max_session_expiry_interval, 7200);
        let bytes = options("listener 1883\nmax_queued_bytes 300000\n");
        assert_eq!(bytes.limits.max_output_bytes_per_connection, 300_000);
        assert_eq!(bytes.limits.max_queued_bytes, 300_000);
    }
}
