//! From a [`Config`] to the engine's options and the listeners' security:
//! every knob of the configuration lands here.

use mqtt_core::broker::{Acl, BrokerLimits, BrokerOptions};
use mqtt_core::codec::QoS;
use mqtt_core::server::ServerOptions;

use crate::auth::ListenerSecurity;
use crate::config::Config;
use crate::password::PasswordFile;

/// The security of every listener, in order, and the ACL.
pub struct Security {
    /// One per listener of the configuration.
    pub listeners: Vec<ListenerSecurity>,
    /// The `acl_file`, read.
    pub acl: Option<Acl>,
}

/// Reads the password and ACL files the configuration names. With
/// `per_listener_settings true` each listener has its own settings; the
/// ACL must then be the same file for every listener that names one (the
/// engine has one authorizer), else it is an error.
pub fn security(config: &Config) -> Result<Security, String> {
    let mut listeners = Vec::new();
    let mut acl_files = Vec::new();
    for l in &config.listeners {
        let s = if config.per_listener_settings {
            l.security.clone().unwrap_or_default()
        } else {
            config.security.clone()
        };
        let passwords = match &s.password_file {
            Some(path) => Some(
                PasswordFile::load(path)
                    .map_err(|e| format!("password_file {}: {e}", path.display()))?,
            ),
            None => None,
        };
        acl_files.push(s.acl_file.clone());
        listeners.push(ListenerSecurity {
            passwords,
            allow_anonymous: s.allow_anonymous.unwrap_or(false),
            allow_zero_length_clientid: s.allow_zero_length_clientid.unwrap_or(true),
            use_identity_as_username: l.tls.as_ref().is_some_and(|t| t.use_identity_as_username),
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
    Ok(Security { listeners, acl })
}

/// The engine's options from the configuration's limits.
pub fn broker_options(config: &Config) -> Result<BrokerOptions, String> {
    let l = &config.limits;
    let mut server = ServerOptions::new();
    server.maximum_packet_size = l.max_packet_size;
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
    let mut limits = BrokerLimits::default();
    limits.max_queued_messages = server.max_queued;
    // Connections are limited per listener by the socket loop.
    limits.max_connections = usize::MAX;
    Ok(BrokerOptions::new()
        .with_server_options(server)
        .with_limits(limits))
}
