//! CONNECT, the application's decision (CONNACK), and enhanced
//! authentication (AUTH) during connect and re-authentication.

use super::*;

impl ServerConnection {
    pub(super) fn on_connect(&mut self, c: Connect) {
        self.version = c.protocol_version;
        self.decoder.set_version(c.protocol_version);
        let v5 = self.version.is_v5();
        self.clean_start = c.clean_start;
        self.client_id = c.client_id.clone();
        self.keep_alive = c.keep_alive;
        self.will = c.will.clone().map(Box::new);
        if v5 {
            let p = &c.properties;
            self.session_expiry_zero = p.session_expiry_interval.unwrap_or(0) == 0;
            self.client = ClientLimits {
                receive_maximum: p.receive_maximum.unwrap_or(u16::MAX).max(1),
                maximum_packet_size: p
                    .maximum_packet_size
                    .unwrap_or(crate::codec::MAX_PACKET_SIZE),
                topic_alias_maximum: p.topic_alias_maximum.unwrap_or(0),
                problem_information: p.request_problem_information.unwrap_or(true),
                response_information: p.request_response_information == Some(true),
            };
            if let Some(m) = &p.authentication_method {
                self.rare_mut().auth_method = Some(m.clone());
            }
        }
        self.state = ServerState::Connecting;
        let id_rejected = if self.version.is_v31() {
            // 3.1: the identifier has 1 to 23 characters; otherwise return
            // code 2, Identifier Rejected.
            !crate::codec::is_valid_v31_client_id(c.client_id.as_str())
        } else {
            c.client_id.is_empty() && (!self.opts.assign_client_ids || (!v5 && !c.clean_start))
        };
        if id_rejected {
            // [MQTT-3.1.3-8] (3.1.1: an empty identifier needs Clean
            // Session 1 [MQTT-3.1.3-7]); 0x85, return code 2.
            let connack = ConnAck::new(false, ReasonCode::ClientIdentifierNotValid);
            let _ = self.encode(PacketRef::ConnAck(connack.as_view()));
            self.close(CloseReason::Rejected(connack));
            return;
        }
        if let Some(w) = c.will.as_ref().filter(|_| v5) {
            // [MQTT-3.2.2-12] a Will QoS above our Maximum QoS: 0x9B;
            // [MQTT-3.2.2-13] Will Retain without retain: 0x9A.
            let code = if w.qos > self.opts.maximum_qos {
                Some(ReasonCode::QoSNotSupported)
            } else if w.retain && !self.opts.retain_available {
                Some(ReasonCode::RetainNotSupported)
            } else {
                None
            };
            if let Some(code) = code {
                let connack = ConnAck::new(false, code);
                let _ = self.encode(PacketRef::ConnAck(connack.as_view()));
                self.will = None;
                self.close(CloseReason::Rejected(connack));
                return;
            }
        }
        if self.auth_method().is_some() {
            self.auth_turn = AuthTurn::App;
        }
        self.events
            .push_back(ServerEvent::ConnectRequested(Box::new(c)));
    }

    /// Accepts the connection: sends CONNACK (Success, Session Present,
    /// our limits from [`ServerOptions`] and `accept.properties`), resumes
    /// `accept.session` when given, handles what the client sent meanwhile,
    /// then resends what is still unacknowledged of the session: messages
    /// in flight with DUP, PUBREL again for those released [MQTT-4.4.0-1].
    ///
    /// What the client sent before it could see CONNACK answers the
    /// previous connection's deliveries, so it is handled before the
    /// resends: a message it acknowledged meanwhile is not sent again
    /// (the client would acknowledge the copy too, and that second
    /// acknowledgement would complete whichever new message reuses the
    /// identifier [MQTT-2.2.1-4]; a PUBREC gets its PUBREL once).
    ///
    /// A CONNACK larger than the client's Maximum Packet Size loses its
    /// Reason String and User Properties; when it still does not fit, the
    /// connection is refused at once (a bare CONNACK 0x95 Packet too large
    /// if that fits, else none; [`CloseReason::Rejected`]) and
    /// [`ServerError::PacketTooLarge`] is returned.
    pub fn accept(&mut self, now: Instant, accept: Accept) -> Result<(), ServerError> {
        self.set_now(now);
        if self.state != ServerState::Connecting {
            return Err(ServerError::InvalidState(
                "no CONNECT waiting for a decision",
            ));
        }
        if accept.session_present && self.clean_start {
            // [MQTT-3.2.2-2]
            return Err(ServerError::InvalidState(
                "Session Present 1 in answer to Clean Start 1",
            ));
        }
        let v5 = self.version.is_v5();
        let mut client_id = self.client_id.clone();
        if client_id.is_empty() {
            client_id = accept
                .assigned_client_id
                .clone()
                .ok_or(ServerError::MissingClientId)?;
        }
        // A 3.1 CONNACK has no Session Present flag.
        let mut connack = ConnAck::new(
            accept.session_present && !self.version.is_v31(),
            ReasonCode::Success,
        );
        let mut keep_alive = self.keep_alive;
        if v5 {
            let o = &self.opts;
            let mut p = accept.properties.clone();
            if p.response_information.is_some() && !self.client.response_information {
                // [MQTT-3.1.2-28]
                return Err(ServerError::InvalidState(
                    "Response Information the client did not request",
                ));
            }
            match (self.auth_method(), p.authentication_method.as_ref()) {
                // [MQTT-4.12.0-6] no method in CONNACK without one in CONNECT.
                (None, Some(_)) => {
                    return Err(ServerError::InvalidState(
                        "Authentication Method without enhanced authentication",
                    ))
                }
                (None, None) if p.authentication_data.is_some() => {
                    return Err(ServerError::InvalidState(
                        "Authentication Data without enhanced authentication",
                    ))
                }
                // [MQTT-4.12.0-5] the method of CONNECT.
                (Some(ours), Some(given)) if ours != given => {
                    return Err(ServerError::InvalidState(
                        "an Authentication Method other than CONNECT's",
                    ))
                }
                _ => {}
            }
            if self.client_id.is_empty() {
                p.assigned_client_identifier = Some(client_id.clone());
            }
            if p.receive_maximum.is_none() && o.receive_maximum != u16::MAX {
                p.receive_maximum = Some(o.receive_maximum);
            }
            if p.maximum_packet_size.is_none() && o.maximum_packet_size != 0 {
                p.maximum_packet_size = Some(o.maximum_packet_size);
            }
            if p.topic_alias_maximum.is_none() && o.topic_alias_maximum != 0 {
                p.topic_alias_maximum = Some(o.topic_alias_maximum);
            }
            if p.maximum_qos.is_none() && o.maximum_qos != QoS::ExactlyOnce {
                p.maximum_qos = Some(o.maximum_qos);
            }
            if p.retain_available.is_none() && !o.retain_available {
                p.retain_available = Some(false);
            }
            if p.wildcard_subscription_available.is_none() && !o.wildcard_subscription_available {
                p.wildcard_subscription_available = Some(false);
            }
            if p.subscription_identifiers_available.is_none()
                && !o.subscription_identifiers_available
            {
                p.subscription_identifiers_available = Some(false);
            }
            if p.shared_subscription_available.is_none() && !o.shared_subscription_available {
                p.shared_subscription_available = Some(false);
            }
            if p.server_keep_alive.is_none() {
                p.server_keep_alive = o.server_keep_alive;
            }
            if p.server_keep_alive.is_none()
                && o.max_keep_alive < u16::MAX
                && (keep_alive == 0 || keep_alive > o.max_keep_alive)
            {
                // The client asked for more than we allow (or none).
                p.server_keep_alive = Some(o.max_keep_alive);
            }
            if let Some(k) = p.server_keep_alive {
                // [MQTT-3.2.2-21] the client uses it instead of its own.
                keep_alive = k;
            }
            if self.auth_method().is_some() && p.authentication_method.is_none() {
                p.authentication_method = self.auth_method().cloned();
            }
            connack.properties = p;
        }
        if let Err(e) = self.encode(PacketRef::ConnAck(connack.as_view())) {
            if matches!(e, ServerError::PacketTooLarge { .. }) {
                // [MQTT-3.2.2-19] [MQTT-3.2.2-20] the optional diagnostics
                // go first.
                connack.properties.reason_string = None;
                connack.properties.user_properties.clear();
                if let Err(e) = self.encode(PacketRef::ConnAck(connack.as_view())) {
                    if matches!(e, ServerError::PacketTooLarge { .. }) {
                        self.refuse_too_large();
                    }
                    return Err(e);
                }
            } else {
                return Err(e);
            }
        }
        // Its own copy: a slice would keep the whole CONNECT packet (and
        // its shared buffer) alive for the life of the connection.
        self.client_id = MqttString::from_validated(Bytes::copy_from_slice(client_id.as_bytes()));
        self.keep_alive = keep_alive;
        self.state = ServerState::Connected;
        self.connect_deadline = super::NO_DEADLINE;
        self.auth_turn = AuthTurn::Idle;
        self.last_received = now;
        let in_max = if v5 { self.opts.topic_alias_maximum } else { 0 };
        let out_max = if v5 && self.opts.outbound_topic_aliases {
            self.client.topic_alias_maximum
        } else {
            0
        };
        if in_max != 0 || out_max != 0 || self.rare.is_some() {
            let rare = self.rare_mut();
            rare.in_aliases = InboundTopicAliases::new(in_max);
            rare.out_aliases = OutboundTopicAliases::new(out_max);
        }
        if let Some(session) = accept.session {
            self.resume(session);
        }
        self.process();
        Ok(())
    }

    /// Refuses the connection: CONNACK with `reason_code` (an error; in
    /// 3.1.1 mapped to its return code, or 3 Server unavailable when it
    /// has none) and `properties` (5.0), then the connection ends with
    /// [`CloseReason::Rejected`]. The will is not published.
    pub fn reject(
        &mut self,
        now: Instant,
        reason_code: ReasonCode,
        properties: ConnAckProperties,
    ) -> Result<(), ServerError> {
        self.set_now(now);
        if self.state != ServerState::Connecting {
            return Err(ServerError::InvalidState(
                "no CONNECT waiting for a decision",
            ));
        }
        if !reason_code.is_error() || !reason_code.allowed_in(PacketType::ConnAck) {
            return Err(ServerError::InvalidReasonCode(reason_code));
        }
        let mut connack = ConnAck::new(false, reason_code);
        if self.version.is_v5() {
            connack.properties = properties;
        } else if reason_code.to_v311_connack().is_none() {
            match v311_refusal(reason_code) {
                Some(code) => connack.reason_code = code,
                None => {
                    // [MQTT-3.2.2-6] no 3.1.1 return code fits: close
                    // without a CONNACK.
                    self.close(CloseReason::Rejected(connack));
                    return Ok(());
                }
            }
        }
        if self.encode(PacketRef::ConnAck(connack.as_view())).is_err() {
            connack.properties = ConnAckProperties::default();
            if let Err(e) = self.encode(PacketRef::ConnAck(connack.as_view())) {
                if matches!(e, ServerError::PacketTooLarge { .. }) {
                    // [MQTT-3.1.2-24] not even the bare CONNACK fits: the
                    // refusal is the close.
                    self.close(CloseReason::Rejected(connack));
                    return Ok(());
                }
                return Err(e);
            }
        }
        self.close(CloseReason::Rejected(connack));
        Ok(())
    }

    /// The accepting CONNACK does not fit the client's Maximum Packet Size
    /// even without its optional properties [MQTT-3.1.2-24]: the
    /// connection ends at once, refused with a bare CONNACK 0x95 Packet
    /// too large when that fits, else closed without a CONNACK (never left
    /// open until the connect timeout).
    fn refuse_too_large(&mut self) {
        let connack = ConnAck::new(false, ReasonCode::PacketTooLarge);
        let _ = self.encode(PacketRef::ConnAck(connack.as_view()));
        self.close(CloseReason::Rejected(connack));
    }

    /// Sends AUTH (5.0, enhanced authentication): 0x18 Continue
    /// authentication during connect or a re-authentication, or 0x00
    /// Success to end a re-authentication (a connect ends with
    /// [`accept`](Self::accept) instead). The Authentication Method is
    /// filled in when missing.
    pub fn auth(&mut self, now: Instant, mut auth: Auth) -> Result<(), ServerError> {
        self.set_now(now);
        if !self.version.is_v5() || self.auth_method().is_none() {
            return Err(ServerError::InvalidState(
                "no enhanced authentication on this connection",
            ));
        }
        let in_exchange = match self.state {
            ServerState::Connecting => true,
            ServerState::Connected => self.reauthenticating,
            _ => return Err(ServerError::NotConnected),
        };
        if !in_exchange || self.auth_turn != AuthTurn::App {
            return Err(ServerError::InvalidState("no AUTH to answer"));
        }
        match auth.reason_code {
            ReasonCode::ContinueAuthentication => {}
            ReasonCode::Success if self.state == ServerState::Connected => {}
            other => return Err(ServerError::InvalidReasonCode(other)),
        }
        match &auth.properties.authentication_method {
            None => auth.properties.authentication_method = self.auth_method().cloned(),
            // [MQTT-4.12.0-5]
            Some(m) if Some(m) != self.auth_method() => {
                return Err(ServerError::InvalidState(
                    "an Authentication Method other than CONNECT's",
                ))
            }
            Some(_) => {}
        }
        if !self.client.problem_information {
            strip_auth_properties(&mut auth.properties);
        }
        if self.encode(PacketRef::Auth(auth.as_view())).is_err() {
            // [MQTT-3.15.2-2] [MQTT-3.15.2-3] the optional diagnostics go
            // first when the packet would exceed the client's maximum.
            strip_auth_properties(&mut auth.properties);
            self.encode(PacketRef::Auth(auth.as_view()))?;
        }
        if auth.reason_code == ReasonCode::Success {
            self.reauthenticating = false;
            self.auth_turn = AuthTurn::Idle;
        } else {
            self.auth_turn = AuthTurn::Client;
        }
        self.process();
        Ok(())
    }

    pub(super) fn on_auth(&mut self, a: Auth) {
        let same_method = self.auth_method().is_some()
            && a.properties.authentication_method.as_ref() == self.auth_method();
        let ok = same_method
            && match self.state {
                ServerState::Connecting => {
                    self.auth_turn == AuthTurn::Client
                        && a.reason_code == ReasonCode::ContinueAuthentication
                }
                ServerState::Connected => match a.reason_code {
                    ReasonCode::ReAuthenticate => !self.reauthenticating,
                    ReasonCode::ContinueAuthentication => {
                        self.reauthenticating && self.auth_turn == AuthTurn::Client
                    }
                    _ => false,
                },
                _ => false,
            };
        if !ok {
            // [MQTT-4.12.0-7] and out-of-turn AUTH.
            self.violation(ClientViolation::Authentication);
            return;
        }
        if self.state == ServerState::Connected {
            self.reauthenticating = true;
        }
        self.auth_turn = AuthTurn::App;
        self.events.push_back(ServerEvent::AuthReceived(a));
    }

    /// Puts a stored session back in flight after CONNACK; the resends
    /// wait for [`resend_resumed`](Self::resend_resumed).
    fn resume(&mut self, session: ServerSession) {
        for id in session.inbound_qos2 {
            if !self.traffic.inbound_qos2.iter().any(|q| q.packet_id == id) {
                self.traffic.inbound_qos2.push(InboundQos2 {
                    packet_id: id,
                    rec_sent: true,
                    resumed: true,
                });
            }
        }
        for d in session.inflight {
            let id = d.publish.packet_id;
            if d.publish.qos == QoS::AtMostOnce || !self.traffic.ids.claim(id) {
                continue;
            }
            // In flight at once: an acknowledgement the client sent before
            // CONNACK finds it.
            self.rare_mut().resend.push(id);
            self.traffic.inflight.push_back(d);
        }
        for mut p in session.queued {
            if p.qos != QoS::AtMostOnce && !self.traffic.ids.claim(p.packet_id) {
                p.packet_id = 0; // allocated when sent
            }
            self.traffic.queued.push_back((p, self.now));
        }
    }

    /// Resends the resumed session's messages still in flight, in their
    /// order (after what the client sent before CONNACK was handled):
    /// PUBREL for those released, the PUBLISH with DUP for the others
    /// [MQTT-4.4.0-1]; beyond the client's (new) Receive Maximum a PUBLISH
    /// waits ahead of the queue, keeping its identifier.
    pub(super) fn resend_resumed(&mut self) {
        let Some(rare) = self.rare.as_mut().filter(|r| !r.resend.is_empty()) else {
            return;
        };
        let ids = core::mem::take(&mut rare.resend);
        if self.state != ServerState::Connected {
            // Closed meanwhile: they stay in flight, for the session.
            return;
        }
        // Out of flight, then back in as each goes out again (the window
        // counts those resent).
        let mut resumed = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(i) = self
                .traffic
                .inflight
                .iter()
                .position(|d| d.publish.packet_id == id)
            {
                resumed.extend(self.traffic.inflight.remove(i));
            }
        }
        let mut deferred = Vec::new();
        for mut d in resumed {
            let id = d.publish.packet_id;
            if d.released {
                let rel = PubRel::new(id);
                let _ = self.encode(PacketRef::PubRel(rel.as_view()));
                self.traffic.inflight.push_back(d);
                continue;
            }
            d.publish.dup = true;
            if !self.window_open() {
                deferred.push((d.publish, self.now));
                continue;
            }
            if self.send_publish(&d.publish).is_err() {
                self.traffic.ids.release(id);
                self.events.push_back(ServerEvent::PublishDropped {
                    packet_id: id,
                    reason: DropReason::PacketTooLarge,
                });
                continue;
            }
            self.traffic.inflight.push_back(d);
        }
        for p in deferred.into_iter().rev() {
            self.traffic.queued.push_front(p);
        }
    }
}

/// The 3.1.1 return code that fits a 5.0 refusal 3.1.1 cannot spell, or
/// `None` when none does ([MQTT-3.2.2-6]: then no CONNACK is sent). The
/// server's own conditions (busy, quota, rate, moved, an unspecified or
/// implementation-specific error) are "Server unavailable" for this
/// client; bans and a refused authentication method are "Not authorized".
/// Faults of the client's packet (malformed, protocol error, too large, an
/// invalid will topic or payload, an unsupported will QoS or retain) have
/// no 3.1.1 return code: a 3.1.1 server closes on them without answering.
fn v311_refusal(reason_code: ReasonCode) -> Option<ReasonCode> {
    match reason_code {
        ReasonCode::UnspecifiedError
        | ReasonCode::ImplementationSpecificError
        | ReasonCode::ServerBusy
        | ReasonCode::QuotaExceeded
        | ReasonCode::ConnectionRateExceeded
        | ReasonCode::UseAnotherServer
        | ReasonCode::ServerMoved => Some(ReasonCode::ServerUnavailable),
        ReasonCode::Banned | ReasonCode::BadAuthenticationMethod => Some(ReasonCode::NotAuthorized),
        _ => None,
    }
}
