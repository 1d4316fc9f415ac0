//! The commands: `publish`, `subscribe`, `unsubscribe`, `disconnect`,
//! `authenticate`, `acknowledge`. Each answers at once, with an identifier
//! or a [`ClientError`], and never blocks.

use super::*;
use crate::codec::{PublishProperties, PublishRef};

impl Client {
    /// Publishes a message. The packet identifier is chosen here (the one
    /// in `publish` is ignored); the returned [`PublishId`] names the
    /// message in later events: [`Event::PublishCompleted`] for QoS 1 and 2,
    /// [`Event::PublishDropped`] if it never goes out. A QoS 0 message has
    /// no completion event.
    ///
    /// Sent at once when connected and the window allows, otherwise queued
    /// (see [`ClientOptions::max_queued`]). Refused, with nothing queued,
    /// when it is invalid, larger than the server's Maximum Packet Size,
    /// above its Maximum QoS, retained on a server without retain, or
    /// carries a Topic Alias or Subscription Identifier (the client chooses
    /// aliases itself [MQTT-3.3.4-6]).
    pub fn publish(
        &mut self,
        now: Instant,
        mut publish: Publish,
    ) -> Result<PublishId, ClientError> {
        self.now = now;
        if publish.properties.topic_alias.is_some() {
            return Err(ClientError::InvalidState(
                "topic aliases are chosen by the client (ClientOptions::auto_topic_alias)",
            ));
        }
        if !publish.properties.subscription_identifiers.is_empty() {
            return Err(ClientError::InvalidState(
                "a client PUBLISH carries no Subscription Identifier [MQTT-3.3.4-6]",
            ));
        }
        self.check_supported(publish.qos, publish.retain)?;
        publish.dup = false;
        let qos0 = publish.qos == QoS::AtMostOnce;
        publish.packet_id = if qos0 { 0 } else { 1 };
        // The fast path: there the one encode below validates and sizes the
        // message; a queued one is checked here.
        let can_send_now = self.can_send_now(publish.qos);
        if !can_send_now {
            let size = PacketRef::Publish(publish.as_view()).encoded_len(self.version)?;
            if size > self.server.maximum_packet_size as usize {
                return Err(ClientError::PacketTooLarge {
                    size,
                    maximum: self.server.maximum_packet_size,
                });
            }
            if qos0 && self.state != ConnectionState::Connected && !self.opts.queue_qos0_offline {
                return Err(ClientError::NotConnected);
            }
            self.make_room()?;
        }
        let id = if qos0 {
            let t = self.next_token;
            self.next_token += 1;
            PublishId(t)
        } else {
            let pid = self.ids.allocate().ok_or(ClientError::NoPacketIdentifier)?;
            publish.packet_id = pid;
            PublishId(u64::from(pid))
        };
        let expiry = publish.properties.message_expiry_interval;
        let entry = Outgoing {
            id,
            kind: OutKind::Publish {
                publish,
                expiry,
                stage: Stage::Unsent,
            },
            queued_at: now,
        };
        if can_send_now {
            if let Err((o, e)) = self.try_send_outgoing(entry) {
                // Invalid or too large: refused like a queued one, with
                // nothing sent or queued and its identifier given back.
                if qos0 {
                    self.next_token -= 1;
                } else {
                    self.ids.release(o.packet_id());
                }
                return Err(e);
            }
        } else {
            self.note_expiry(&entry);
            self.pending.push_back(entry);
        }
        Ok(id)
    }

    /// Publishes a message without properties from borrowed bytes: what a
    /// device sends most. When it can go out at once (QoS 0, connected,
    /// nothing queued ahead, room in the transmit buffer) it is encoded
    /// straight from `topic` and `payload` with no allocation (an outbound
    /// Topic Alias is chosen as for [`publish`](Self::publish)); otherwise
    /// it is copied and handled exactly as `publish` handles it. The same
    /// errors as `publish`, and an invalid topic name is
    /// [`ClientError::Invalid`].
    pub fn publish_slice(
        &mut self,
        now: Instant,
        topic: &str,
        payload: &[u8],
        qos: QoS,
        retain: bool,
    ) -> Result<PublishId, ClientError> {
        if qos != QoS::AtMostOnce || !self.can_send_now(qos) {
            let publish = Publish::new(topic, Bytes::copy_from_slice(payload))?
                .with_qos(qos, 1)
                .with_retain(retain);
            return self.publish(now, publish);
        }
        self.now = now;
        crate::topic::validate_topic_name(topic)
            .map_err(|e| ClientError::Invalid(crate::codec::Error::InvalidTopicName(e)))?;
        self.check_supported(qos, retain)?;
        let mut properties = PublishProperties::default();
        let base = PublishRef {
            dup: false,
            qos: QoS::AtMostOnce,
            retain,
            topic: TopicNameRef::new(topic)?,
            packet_id: 0,
            properties: Default::default(),
            payload,
        };
        let alias = self.set_alias(&mut properties, base);
        self.send_publish(
            PublishRef {
                properties: properties.as_view(),
                ..base
            },
            alias,
        )?;
        let t = self.next_token;
        self.next_token += 1;
        Ok(PublishId(t))
    }

    /// Subscribes. The packet identifier is chosen here and returned; the
    /// SUBACK arrives as [`Event::Subscribed`]. Queued while disconnected.
    pub fn subscribe(
        &mut self,
        now: Instant,
        mut subscribe: Subscribe,
    ) -> Result<u16, ClientError> {
        self.now = now;
        if self.state == ConnectionState::Connected {
            if let Some(code) = self.unsupported_by_server(&subscribe) {
                return Err(ClientError::FeatureNotSupported(code));
            }
        }
        subscribe.packet_id = 1;
        self.check_size(PacketRef::Subscribe(subscribe.as_view()))?;
        self.queue_control(now, |id| {
            subscribe.packet_id = id;
            OutKind::Subscribe(subscribe)
        })
    }

    /// The reason code for a feature of `subscribe` the server said in
    /// CONNACK it does not have (5.0): wildcards, Subscription
    /// Identifiers, shared subscriptions.
    pub(super) fn unsupported_by_server(&self, subscribe: &Subscribe) -> Option<ReasonCode> {
        if !self.version.is_v5() {
            return None;
        }
        let filters = || subscribe.filters.iter().map(|f| f.filter.as_str());
        if !self.server.wildcard_available && filters().any(|f| f.contains(['+', '#'])) {
            return Some(ReasonCode::WildcardSubscriptionsNotSupported);
        }
        if !self.server.subscription_ids_available
            && subscribe.properties.subscription_identifier.is_some()
        {
            return Some(ReasonCode::SubscriptionIdentifiersNotSupported);
        }
        if !self.server.shared_available && filters().any(crate::topic::is_shared) {
            return Some(ReasonCode::SharedSubscriptionsNotSupported);
        }
        None
    }

    /// Unsubscribes. The packet identifier is chosen here and returned; the
    /// UNSUBACK arrives as [`Event::Unsubscribed`]. Queued while
    /// disconnected.
    pub fn unsubscribe(
        &mut self,
        now: Instant,
        mut unsubscribe: Unsubscribe,
    ) -> Result<u16, ClientError> {
        self.now = now;
        unsubscribe.packet_id = 1;
        self.check_size(PacketRef::Unsubscribe(unsubscribe.as_view()))?;
        self.queue_control(now, |id| {
            unsubscribe.packet_id = id;
            OutKind::Unsubscribe(unsubscribe)
        })
    }

    /// Ends the connection normally: queues DISCONNECT (with its reason
    /// code and properties in 5.0; 0x04 asks the server to publish the
    /// will) and reports [`DisconnectReason::Local`]. Send the remaining
    /// bytes, then close the transport. The session is kept.
    pub fn disconnect(&mut self, now: Instant, disconnect: Disconnect) -> Result<(), ClientError> {
        self.now = now;
        if self.state == ConnectionState::Disconnected {
            return Err(ClientError::NotConnected);
        }
        if self.version.is_v5()
            && self.opts.session_expiry_interval == 0
            && disconnect
                .properties
                .session_expiry_interval
                .is_some_and(|s| s != 0)
        {
            // Spec 3.14.2.2.2: a Session Expiry Interval of 0 in CONNECT
            // cannot be made non-zero in DISCONNECT.
            return Err(ClientError::InvalidState(
                "a session that expired at close cannot be given an expiry in DISCONNECT",
            ));
        }
        let mut disconnect = disconnect;
        let max = self.server.maximum_packet_size as usize;
        if PacketRef::Disconnect(disconnect.as_view()).encoded_len(self.version)? > max {
            // [MQTT-3.14.2-3] [MQTT-3.14.2-4] Reason String and User
            // Properties are left out rather than exceed the server's limit.
            disconnect.properties.reason_string = None;
            disconnect.properties.user_properties.clear();
        }
        self.encode_packet_within(PacketRef::Disconnect(disconnect.as_view()), max as u32)?;
        self.teardown(DisconnectReason::Local);
        Ok(())
    }

    /// Sends AUTH (5.0 enhanced authentication) with `data` as the
    /// Authentication Data: the answer to an [`Event::AuthChallenge`]
    /// (reason 0x18), or, when connected and no exchange is under way, the
    /// start of a re-authentication (0x19). The method is the one in
    /// [`ClientOptions::authentication_method`]. Anything else (no AUTH
    /// from the server to answer) is [`ClientError::InvalidState`].
    pub fn authenticate(
        &mut self,
        now: Instant,
        data: Option<Bytes>,
        properties: AuthProperties,
    ) -> Result<(), ClientError> {
        self.now = now;
        if !self.version.is_v5() {
            return Err(ClientError::InvalidState("AUTH exists in MQTT 5.0 only"));
        }
        let Some(method) = self.opts.authentication_method.clone() else {
            return Err(ClientError::InvalidState(
                "no authentication method in the options",
            ));
        };
        let reason_code = match self.state {
            ConnectionState::Disconnected => return Err(ClientError::NotConnected),
            // The answer to the server's AUTH [MQTT-4.12.0-3].
            _ if self.auth_challenged => ReasonCode::ContinueAuthentication,
            ConnectionState::Connected if !self.reauthenticating => ReasonCode::ReAuthenticate,
            _ => {
                return Err(ClientError::InvalidState(
                    "no AUTH from the server to answer",
                ))
            }
        };
        let mut auth = Auth::new(reason_code);
        auth.properties = properties;
        auth.properties.authentication_method = Some(method);
        auth.properties.authentication_data = data;
        let max = self.server.maximum_packet_size;
        if PacketRef::Auth(auth.as_view()).encoded_len(self.version)? > max as usize {
            // [MQTT-3.15.2-2] [MQTT-3.15.2-3] Reason String and User
            // Properties are left out rather than exceed the server's limit.
            auth.properties.reason_string = None;
            auth.properties.user_properties.clear();
        }
        self.encode_packet_within(PacketRef::Auth(auth.as_view()), max)?;
        self.auth_challenged = false;
        if reason_code == ReasonCode::ReAuthenticate {
            self.reauthenticating = true;
        }
        Ok(())
    }

    /// Acknowledges a message delivered with an [`AckToken`] (manual
    /// acknowledgement). Acknowledgements leave in the order the messages
    /// arrived, as the spec requires [MQTT-4.6.0-2] [MQTT-4.6.0-3]: an
    /// early one waits for those before it.
    ///
    /// A token of a QoS 1 message from a connection that has since ended is
    /// accepted and does nothing (the server sends the message again). A
    /// token of this connection acknowledged before, even when its ack has
    /// gone out, is [`ClientError::UnknownAckToken`].
    pub fn acknowledge(&mut self, now: Instant, token: AckToken) -> Result<(), ClientError> {
        self.now = now;
        if token.0 == 0 || token.0 >= self.next_ack_token {
            return Err(ClientError::UnknownAckToken);
        }
        if let Some(p) = self.ack_queue.iter_mut().find(|p| p.token == token.0) {
            if p.acked {
                return Err(ClientError::UnknownAckToken);
            }
            p.acked = true;
            self.release_acks();
        } else if let Some(q) = self
            .inbound_qos2
            .iter_mut()
            .find(|q| q.token == token.0 && !q.acked)
        {
            // From an earlier connection: PUBREC goes out when the server
            // sends the PUBLISH again.
            q.acked = true;
        } else if token.0 >= self.first_live_ack_token {
            // Of this connection and not pending: acknowledged already.
            return Err(ClientError::UnknownAckToken);
        }
        // Else a token of a closed connection: nothing to do (the server
        // sends a QoS 1 message again).
        self.flush_pending();
        Ok(())
    }

    /// Connected, nothing queued ahead, room in the transmit buffer and,
    /// for QoS 1 and 2, in the inflight window: a PUBLISH goes out at once.
    pub(super) fn can_send_now(&self, qos: QoS) -> bool {
        self.state == ConnectionState::Connected
            && self.pending.is_empty()
            && self.out.len() < self.opts.max_transmit_buffer
            && (qos == QoS::AtMostOnce || self.inflight_publishes < self.window())
    }

    pub(super) fn check_supported(&self, qos: QoS, retain: bool) -> Result<(), ClientError> {
        if qos > self.server.maximum_qos {
            return Err(ClientError::QoSNotSupported {
                maximum: self.server.maximum_qos,
            });
        }
        if retain && !self.server.retain_available {
            return Err(ClientError::RetainNotSupported);
        }
        Ok(())
    }

    pub(super) fn check_size(&self, packet: PacketRef<'_>) -> Result<(), ClientError> {
        let size = packet.encoded_len(self.version)?;
        if size > self.server.maximum_packet_size as usize {
            return Err(ClientError::PacketTooLarge {
                size,
                maximum: self.server.maximum_packet_size,
            });
        }
        Ok(())
    }

    /// Makes room in the queue for one more command, by the policy.
    pub(super) fn make_room(&mut self) -> Result<(), ClientError> {
        if self.pending.len() < self.opts.max_queued {
            return Ok(());
        }
        if self.opts.queue_full == QueueFullPolicy::DropOldest {
            if let Some(pos) = self
                .pending
                .iter()
                // Never one the server may already have (resent with DUP
                // after a resume, waiting for the window).
                .position(|o| {
                    matches!(
                        o.kind,
                        OutKind::Publish {
                            stage: Stage::Unsent,
                            ..
                        }
                    )
                })
            {
                if let Some(old) = self.pending.remove(pos) {
                    self.drop_outgoing(old, DropReason::QueueFull);
                    return Ok(());
                }
            }
        }
        Err(ClientError::QueueFull)
    }

    pub(super) fn queue_control(
        &mut self,
        now: Instant,
        make: impl FnOnce(u16) -> OutKind,
    ) -> Result<u16, ClientError> {
        // [MQTT-3.3.4-8] Only PUBLISH waits for the window: publishes
        // queued for it do not hold a SUBSCRIBE or UNSUBSCRIBE back.
        let can_send_now = self.state == ConnectionState::Connected
            && self
                .pending
                .iter()
                .all(|o| matches!(o.kind, OutKind::Publish { .. }));
        if !can_send_now {
            self.make_room()?;
        }
        let pid = self.ids.allocate().ok_or(ClientError::NoPacketIdentifier)?;
        let entry = Outgoing {
            id: PublishId(u64::from(pid)),
            kind: make(pid),
            queued_at: now,
        };
        if can_send_now {
            self.send_outgoing(entry);
        } else {
            self.pending.push_back(entry);
        }
        Ok(pid)
    }
}
