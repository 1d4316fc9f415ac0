//! From the client: PUBLISH (our limits, topic aliases, acknowledgements
//! automatic or manual in arrival order, QoS 2 duplicates), PUBREL,
//! SUBSCRIBE and UNSUBSCRIBE and their answers.

use super::*;

impl ServerConnection {
    pub(super) fn on_publish(&mut self, mut publish: Publish) {
        if publish.qos > self.opts.maximum_qos {
            // [MQTT-3.2.2-11] 0x9B
            self.violation(ClientViolation::QoSNotSupported);
            return;
        }
        if publish.retain && !self.opts.retain_available {
            // [MQTT-3.2.2-14] 0x9A
            self.violation(ClientViolation::RetainNotSupported);
            return;
        }
        if self.version.is_v5() {
            if !publish.properties.subscription_identifiers.is_empty() {
                // [MQTT-3.3.4-6]
                self.violation(ClientViolation::SubscriptionIdentifierInPublish);
                return;
            }
            let resolved = match self.rare.as_mut() {
                Some(r) => r
                    .in_aliases
                    .resolve(&publish.topic, publish.properties.topic_alias),
                // No aliases allowed: the same answers as an empty table.
                None => InboundTopicAliases::new(0)
                    .resolve(&publish.topic, publish.properties.topic_alias),
            };
            match resolved {
                Ok(topic) => {
                    publish.topic = topic;
                    if publish.properties.topic_alias.is_some() {
                        publish.properties.topic_alias = None;
                    }
                }
                Err(e) => {
                    self.violation(ClientViolation::TopicAlias(e));
                    return;
                }
            }
        }
        let pid = publish.packet_id;
        let manual = self.opts.manual_ack;
        match publish.qos {
            QoS::AtMostOnce => {}
            QoS::AtLeastOnce => {
                if manual
                    && self
                        .traffic
                        .ack_queue
                        .iter()
                        .any(|p| p.packet_id == pid && p.qos == QoS::AtLeastOnce)
                {
                    // A resend of a message the application has not
                    // acknowledged yet: its PUBACK is on the way.
                    return;
                }
                if !self.inbound_room() {
                    return;
                }
                if manual {
                    self.traffic.ack_queue.push_back(PendingAck {
                        packet_id: pid,
                        qos: QoS::AtLeastOnce,
                        code: None,
                    });
                } else {
                    let _ = self.encode(PacketRef::PubAck(PubAck::new(pid).as_view()));
                }
            }
            QoS::ExactlyOnce => {
                if let Some(q) = self
                    .traffic
                    .inbound_qos2
                    .iter()
                    .find(|q| q.packet_id == pid)
                {
                    // A resend before PUBREL: not delivered again
                    // [MQTT-4.3.3-10]; PUBREC again once given.
                    if q.rec_sent {
                        let _ = self.encode(PacketRef::PubRec(PubRec::new(pid).as_view()));
                    }
                    return;
                }
                if !self.inbound_room() {
                    return;
                }
                self.traffic.inbound_qos2.push(InboundQos2 {
                    packet_id: pid,
                    rec_sent: !manual,
                    resumed: false,
                });
                if manual {
                    self.traffic.ack_queue.push_back(PendingAck {
                        packet_id: pid,
                        qos: QoS::ExactlyOnce,
                        code: None,
                    });
                } else {
                    let _ = self.encode(PacketRef::PubRec(PubRec::new(pid).as_view()));
                }
            }
        }
        self.events.push_back(ServerEvent::Message(publish));
    }

    /// Whether one more QoS 1 or 2 message fits under our Receive Maximum
    /// [MQTT-3.3.4-7]; if not, the connection is closed with 0x93. A 3.1.1
    /// client cannot know our limit, so it is not held to it (what it can
    /// hold is bounded by its 65,535 packet identifiers).
    fn inbound_room(&mut self) -> bool {
        if !self.version.is_v5() {
            return true;
        }
        let qos1 = self
            .traffic
            .ack_queue
            .iter()
            .filter(|p| p.qos == QoS::AtLeastOnce)
            .count();
        let qos2 = self
            .traffic
            .inbound_qos2
            .iter()
            .filter(|q| !q.resumed)
            .count();
        if qos1 + qos2 >= usize::from(self.opts.receive_maximum) {
            self.violation(ClientViolation::ReceiveMaximumExceeded);
            return false;
        }
        true
    }

    /// Acknowledges a received QoS 1 or 2 message (with
    /// [`ServerOptions::manual_ack`]): PUBACK or PUBREC with `reason_code`
    /// (5.0; e.g. 0x87 Not authorized, 0x10 No matching subscribers), sent
    /// in the order the messages arrived [MQTT-4.6.0-2]. An error code in
    /// PUBREC ends the QoS 2 exchange.
    ///
    /// Once the connection has ended, a QoS 2 message can still be
    /// acknowledged (nothing is sent) until [`take_session`](Self::take_session):
    /// the decision is kept in the session (an error forgets the message,
    /// otherwise a resend on the next connection gets PUBREC). A QoS 1
    /// message is then [`ServerError::NotConnected`]: the client resends it.
    pub fn acknowledge(
        &mut self,
        now: Instant,
        packet_id: u16,
        reason_code: ReasonCode,
    ) -> Result<(), ServerError> {
        self.set_now(now);
        if self.state == ServerState::Closed {
            return self.acknowledge_after_close(packet_id, reason_code);
        }
        if self.state != ServerState::Connected {
            return Err(ServerError::NotConnected);
        }
        let Some(p) = self
            .traffic
            .ack_queue
            .iter_mut()
            .find(|p| p.packet_id == packet_id && p.code.is_none())
        else {
            return Err(ServerError::InvalidState(
                "no message waiting for acknowledgement with this packet identifier",
            ));
        };
        let packet = if p.qos == QoS::AtLeastOnce {
            PacketType::PubAck
        } else {
            PacketType::PubRec
        };
        if !reason_code.allowed_in(packet) {
            return Err(ServerError::InvalidReasonCode(reason_code));
        }
        p.code = Some(if self.version.is_v5() {
            reason_code
        } else {
            ReasonCode::Success
        });
        while let Some(p) = self.traffic.ack_queue.front().copied() {
            let Some(code) = p.code else { break };
            self.traffic.ack_queue.pop_front();
            if p.qos == QoS::AtLeastOnce {
                let ack = PubAck::new(p.packet_id).with_reason_code(code);
                let _ = self.encode(PacketRef::PubAck(ack.as_view()));
            } else {
                if code.is_error() {
                    self.traffic
                        .inbound_qos2
                        .retain(|q| q.packet_id != p.packet_id);
                } else if let Some(q) = self
                    .traffic
                    .inbound_qos2
                    .iter_mut()
                    .find(|q| q.packet_id == p.packet_id)
                {
                    q.rec_sent = true;
                }
                let rec = PubRec::new(p.packet_id).with_reason_code(code);
                let _ = self.encode(PacketRef::PubRec(rec.as_view()));
            }
        }
        Ok(())
    }

    /// [`acknowledge`](Self::acknowledge) once the connection has ended.
    fn acknowledge_after_close(
        &mut self,
        packet_id: u16,
        reason_code: ReasonCode,
    ) -> Result<(), ServerError> {
        let Some(i) = self
            .traffic
            .ack_queue
            .iter()
            .position(|p| p.packet_id == packet_id && p.code.is_none())
        else {
            return Err(ServerError::NotConnected);
        };
        if !reason_code.allowed_in(PacketType::PubRec) {
            return Err(ServerError::InvalidReasonCode(reason_code));
        }
        self.traffic.ack_queue.remove(i);
        if reason_code.is_error() && self.version.is_v5() {
            self.traffic
                .inbound_qos2
                .retain(|q| q.packet_id != packet_id);
        }
        Ok(())
    }

    pub(super) fn on_pubrel(&mut self, rel: PubRel) {
        let pid = rel.packet_id;
        match crate::connection::answer_pubrel(
            &mut self.traffic.inbound_qos2,
            pid,
            self.version,
            false,
        ) {
            Some(comp) => {
                let _ = self.encode(PacketRef::PubComp(comp.as_view()));
                if self.opts.report_qos2_steps {
                    self.events
                        .push_back(ServerEvent::ReleaseReceived { packet_id: pid });
                }
            }
            None => self.violation(ClientViolation::UnexpectedPubRel(pid)),
        }
    }

    fn packet_id_pending(&self, pid: u16) -> bool {
        self.pending_subscribes.iter().any(|(p, _)| *p == pid)
            || self
                .rare
                .as_ref()
                .is_some_and(|r| r.pending_unsubscribes.iter().any(|(p, _)| *p == pid))
    }

    pub(super) fn on_subscribe(&mut self, s: Subscribe) {
        if self.version.is_v5() {
            if s.properties.subscription_identifier.is_some()
                && !self.opts.subscription_identifiers_available
            {
                self.violation(ClientViolation::SubscriptionIdentifiersNotSupported);
                return;
            }
            for f in &s.filters {
                let filter = f.filter.as_str();
                if !self.opts.shared_subscription_available && crate::topic::is_shared(filter) {
                    self.violation(ClientViolation::SharedSubscriptionsNotSupported);
                    return;
                }
                if !self.opts.wildcard_subscription_available
                    && (filter.contains('+') || filter.contains('#'))
                {
                    self.violation(ClientViolation::WildcardSubscriptionsNotSupported);
                    return;
                }
            }
        }
        if self.packet_id_pending(s.packet_id) {
            self.violation(ClientViolation::PacketIdInUse(s.packet_id));
            return;
        }
        self.pending_subscribes.push((s.packet_id, s.filters.len()));
        if self.version.is_v31() {
            let requested = s.filters.iter().map(|f| f.options.qos).collect();
            self.rare_mut().v31_requested.push((s.packet_id, requested));
        }
        self.events.push_back(ServerEvent::Subscribe(s));
    }

    pub(super) fn on_unsubscribe(&mut self, u: Unsubscribe) {
        if self.packet_id_pending(u.packet_id) {
            self.violation(ClientViolation::PacketIdInUse(u.packet_id));
            return;
        }
        self.rare_mut()
            .pending_unsubscribes
            .push((u.packet_id, u.filters.len()));
        self.events.push_back(ServerEvent::Unsubscribe(u));
    }

    /// Answers a SUBSCRIBE ([`ServerEvent::Subscribe`]) with one reason
    /// code per filter, in order [MQTT-3.9.3-1]: the granted QoS
    /// ([`SubAck::granted`]) or an error. In 3.1.1 every error is sent as
    /// 0x80 Failure. 3.1 has no failure code: a refused filter is answered,
    /// as mosquitto does, with the QoS it requested (at most our Maximum
    /// QoS), and no messages follow since it was not subscribed.
    pub fn suback(
        &mut self,
        now: Instant,
        packet_id: u16,
        reason_codes: &[ReasonCode],
    ) -> Result<(), ServerError> {
        self.suback_with_properties(now, packet_id, reason_codes, AckProperties::default())
    }

    /// [`suback`](Self::suback) with SUBACK properties (5.0: Reason String,
    /// User Properties; left out when the client asked for no problem
    /// information [MQTT-3.1.2-29] or when they would make the packet too
    /// large for the client).
    pub fn suback_with_properties(
        &mut self,
        now: Instant,
        packet_id: u16,
        reason_codes: &[ReasonCode],
        properties: AckProperties,
    ) -> Result<(), ServerError> {
        self.set_now(now);
        let i = self.answerable(&self.pending_subscribes, packet_id, reason_codes.len())?;
        let v5 = self.version.is_v5();
        let v31_requested = self.rare.as_ref().map_or(&[][..], |r| &r.v31_requested[..]);
        let requested = v31_requested.iter().position(|(p, _)| *p == packet_id);
        let mut codes = Vec::with_capacity(reason_codes.len());
        for (n, &c) in reason_codes.iter().enumerate() {
            if !c.allowed_in(PacketType::SubAck) {
                return Err(ServerError::InvalidReasonCode(c));
            }
            codes.push(match requested {
                Some(r) if c.is_error() => {
                    let qos = v31_requested[r].1.get(n).copied();
                    SubAck::granted(qos.unwrap_or(QoS::AtMostOnce).min(self.opts.maximum_qos))
                }
                _ if !v5 && c.is_error() => ReasonCode::UnspecifiedError,
                _ => c,
            });
        }
        let mut ack = SubAck::new(packet_id, codes);
        if v5 {
            ack.properties = properties;
            if !self.client.problem_information {
                strip_ack_properties(&mut ack.properties);
            }
        }
        if self.encode(PacketRef::SubAck(ack.as_view())).is_err() {
            strip_ack_properties(&mut ack.properties);
            self.encode(PacketRef::SubAck(ack.as_view()))?;
        }
        self.pending_subscribes.swap_remove(i);
        if let (Some(r), Some(rare)) = (requested, self.rare.as_mut()) {
            rare.v31_requested.swap_remove(r);
        }
        Ok(())
    }

    /// Answers an UNSUBSCRIBE ([`ServerEvent::Unsubscribe`]) with one
    /// reason code per filter (5.0: Success, 0x11 No subscription existed,
    /// or an error; 3.1.1 UNSUBACK carries none, so they are not sent).
    pub fn unsuback(
        &mut self,
        now: Instant,
        packet_id: u16,
        reason_codes: &[ReasonCode],
    ) -> Result<(), ServerError> {
        self.unsuback_with_properties(now, packet_id, reason_codes, AckProperties::default())
    }

    /// [`unsuback`](Self::unsuback) with UNSUBACK properties (5.0), under
    /// the same rules as [`suback_with_properties`](Self::suback_with_properties).
    pub fn unsuback_with_properties(
        &mut self,
        now: Instant,
        packet_id: u16,
        reason_codes: &[ReasonCode],
        properties: AckProperties,
    ) -> Result<(), ServerError> {
        self.set_now(now);
        let pending = self
            .rare
            .as_ref()
            .map_or(&[][..], |r| &r.pending_unsubscribes[..]);
        let i = self.answerable(pending, packet_id, reason_codes.len())?;
        for &c in reason_codes {
            if !c.allowed_in(PacketType::UnsubAck) {
                return Err(ServerError::InvalidReasonCode(c));
            }
        }
        let mut ack = UnsubAck::new(packet_id, reason_codes.to_vec());
        if self.version.is_v5() {
            ack.properties = properties;
            if !self.client.problem_information {
                strip_ack_properties(&mut ack.properties);
            }
        } else {
            ack.reason_codes.clear();
        }
        if self.encode(PacketRef::UnsubAck(ack.as_view())).is_err() {
            strip_ack_properties(&mut ack.properties);
            self.encode(PacketRef::UnsubAck(ack.as_view()))?;
        }
        if let Some(rare) = self.rare.as_mut() {
            rare.pending_unsubscribes.swap_remove(i);
        }
        Ok(())
    }

    fn answerable(
        &self,
        pending: &[(u16, usize)],
        packet_id: u16,
        got: usize,
    ) -> Result<usize, ServerError> {
        if self.state != ServerState::Connected {
            return Err(ServerError::NotConnected);
        }
        let Some(i) = pending.iter().position(|(p, _)| *p == packet_id) else {
            return Err(ServerError::InvalidState(
                "no request waiting for an answer with this packet identifier",
            ));
        };
        let expected = pending[i].1;
        if expected != got {
            return Err(ServerError::ReasonCodeCount { expected, got });
        }
        Ok(i)
    }
}
