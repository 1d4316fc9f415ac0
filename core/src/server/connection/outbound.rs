//! To the client: PUBLISH at QoS 0, 1 and 2 within the client's Receive
//! Maximum, Topic Alias Maximum and Maximum Packet Size, and the
//! acknowledgements that complete them.

use super::*;

impl ServerConnection {
    /// Sends `publish` to the client at its QoS (the broker has already
    /// downgraded it to the subscription's), returning the packet
    /// identifier it goes with (0 for QoS 0); the identifier in `publish`
    /// is ignored. Beyond the client's Receive Maximum (and
    /// [`ServerOptions::max_inflight`]) it waits in a bounded queue. A message larger than the client's Maximum Packet
    /// Size is refused with [`ServerError::PacketTooLarge`]: as
    /// [MQTT-3.1.2-25] says, the broker treats it as delivered. In 3.1.1
    /// properties are removed.
    pub fn publish(&mut self, now: Instant, mut publish: Publish) -> Result<u16, ServerError> {
        self.set_now(now);
        if self.state != ServerState::Connected {
            return Err(ServerError::NotConnected);
        }
        publish.dup = false;
        // (Reading first keeps an empty property set unallocated.)
        if publish.properties.topic_alias.is_some() {
            publish.properties.topic_alias = None;
        }
        if !self.version.is_v5() {
            publish.properties = Default::default();
        }
        let qos0 = publish.qos == QoS::AtMostOnce;
        publish.packet_id = if qos0 { 0 } else { 1 };
        let size = PacketRef::Publish(publish.as_view()).encoded_len(self.version)?;
        let maximum = self.client.maximum_packet_size;
        if size > maximum as usize {
            return Err(ServerError::PacketTooLarge { size, maximum });
        }
        if !self.traffic.queued.is_empty() || (!qos0 && !self.window_open()) {
            if self.traffic.queued.len() >= self.opts.max_queued {
                return Err(ServerError::QueueFull);
            }
            publish.packet_id = 0;
            if !qos0 {
                publish.packet_id = self
                    .traffic
                    .ids
                    .allocate()
                    .ok_or(ServerError::NoPacketIdentifier)?;
            }
            let id = publish.packet_id;
            self.traffic.queued.push_back((publish, now));
            self.flush_queued();
            return Ok(id);
        }
        if qos0 {
            publish.packet_id = 0;
            self.send_publish(&publish)?;
            return Ok(0);
        }
        let id = self
            .traffic
            .ids
            .allocate()
            .ok_or(ServerError::NoPacketIdentifier)?;
        publish.packet_id = id;
        if let Err(e) = self.send_publish(&publish) {
            self.traffic.ids.release(id);
            return Err(e);
        }
        self.traffic.inflight.push_back(InflightDelivery {
            publish,
            released: false,
        });
        Ok(id)
    }

    pub(super) fn window_open(&self) -> bool {
        let window = self.client.receive_maximum.min(self.opts.max_inflight);
        self.traffic.inflight.len() < usize::from(window)
    }

    /// Sends queued messages while the client's Receive Maximum allows.
    pub(super) fn flush_queued(&mut self) {
        if self.state != ServerState::Connected {
            return;
        }
        let now = self.now;
        while let Some((front, _)) = self.traffic.queued.front() {
            if front.qos != QoS::AtMostOnce && !self.window_open() {
                break;
            }
            let Some((mut p, at)) = self.traffic.queued.pop_front() else {
                break;
            };
            // A resend (DUP) of a resumed session was sent before: its
            // delivery has started, so it does not expire.
            if let Some(e) = p.properties.message_expiry_interval.filter(|_| !p.dup) {
                // [MQTT-3.3.2-5] not sent once expired; [MQTT-3.3.2-6]
                // sent with what is left.
                match remaining_expiry(e, at, now) {
                    Some(left) => p.properties.message_expiry_interval = Some(left),
                    None => {
                        self.traffic.ids.release(p.packet_id);
                        self.events.push_back(ServerEvent::PublishDropped {
                            packet_id: p.packet_id,
                            reason: DropReason::Expired,
                        });
                        continue;
                    }
                }
            }
            if p.qos != QoS::AtMostOnce && p.packet_id == 0 {
                match self.traffic.ids.allocate() {
                    Some(id) => p.packet_id = id,
                    None => {
                        self.traffic.queued.push_front((p, at));
                        break;
                    }
                }
            }
            if self.send_publish(&p).is_err() {
                self.traffic.ids.release(p.packet_id);
                self.events.push_back(ServerEvent::PublishDropped {
                    packet_id: p.packet_id,
                    reason: DropReason::PacketTooLarge,
                });
                continue;
            }
            if p.qos != QoS::AtMostOnce {
                self.traffic.inflight.push_back(InflightDelivery {
                    publish: p,
                    released: false,
                });
            }
        }
    }

    /// Encodes a PUBLISH, with a Topic Alias when the client accepts them
    /// and it still fits its Maximum Packet Size [MQTT-3.2.2-15].
    pub(super) fn send_publish(&mut self, publish: &Publish) -> Result<usize, ServerError> {
        if self
            .rare
            .as_ref()
            .is_none_or(|r| r.out_aliases.maximum() == 0)
        {
            return self.encode(PacketRef::Publish(publish.as_view()));
        }
        // The properties with the alias, on the stack (cloning an empty set
        // is free; the message itself is not copied).
        let mut properties = PublishProperties::clone(&publish.properties);
        properties.topic_alias = Some(1);
        let mut aliased = publish.as_view();
        let fits = PacketRef::Publish(PublishRef {
            properties: properties.as_view(),
            ..aliased
        })
        .encoded_len(self.version)
        .is_ok_and(|n| n <= self.client.maximum_packet_size as usize);
        if !fits {
            return self.encode(PacketRef::Publish(publish.as_view()));
        }
        let alias = self
            .rare_mut()
            .out_aliases
            .alias_for(publish.topic.as_str());
        match alias {
            OutboundAlias::None => properties.topic_alias = None,
            OutboundAlias::Assign(a) => properties.topic_alias = Some(a),
            OutboundAlias::Use(a) => {
                properties.topic_alias = Some(a);
                aliased.topic = TopicNameRef::EMPTY;
            }
        }
        aliased.properties = properties.as_view();
        let sent = self.encode(PacketRef::Publish(aliased));
        if let (Err(_), OutboundAlias::Assign(a)) = (&sent, alias) {
            // Never sent: the client did not learn the mapping.
            self.rare_mut().out_aliases.forget(a);
        }
        sent
    }

    fn complete(&mut self, index: usize, reason_code: ReasonCode, properties: AckProperties) {
        if let Some(d) = self.traffic.inflight.remove(index) {
            let packet_id = d.publish.packet_id;
            self.traffic.ids.release(packet_id);
            self.events.push_back(ServerEvent::PublishCompleted {
                packet_id,
                reason_code,
                properties,
            });
        }
    }

    fn find_inflight(&self, pid: u16, qos: QoS) -> Option<usize> {
        self.traffic
            .inflight
            .iter()
            .position(|d| d.publish.packet_id == pid && d.publish.qos == qos)
    }

    /// Whether `pid` is in flight at `qos` (for an acknowledgement of the
    /// other QoS: it is of the wrong kind).
    fn in_flight_at(&self, pid: u16, qos: QoS) -> bool {
        self.find_inflight(pid, qos).is_some()
    }

    /// An acknowledgement of the wrong kind for a message in flight (a
    /// PUBACK for QoS 2, a PUBREC or PUBCOMP for QoS 1, a PUBCOMP before
    /// our PUBREL): a Protocol Error, as the client role and established
    /// brokers treat it (5.0: DISCONNECT 0x82; 3.1.1: closed).
    fn wrong_ack(&mut self, packet: PacketType, packet_id: u16) {
        self.violation(ClientViolation::UnexpectedAcknowledgement { packet, packet_id });
    }

    pub(super) fn on_puback(&mut self, ack: PubAck) {
        // An acknowledgement for nothing in flight (e.g. repeated after a
        // resume) is ignored.
        if let Some(i) = self.find_inflight(ack.packet_id, QoS::AtLeastOnce) {
            self.complete(i, ack.reason_code, ack.properties);
        } else if self.in_flight_at(ack.packet_id, QoS::ExactlyOnce) {
            self.wrong_ack(PacketType::PubAck, ack.packet_id);
        }
    }

    pub(super) fn on_pubrec(&mut self, rec: PubRec) {
        let pid = rec.packet_id;
        match self.find_inflight(pid, QoS::ExactlyOnce) {
            Some(i) if rec.reason_code.is_error() && !self.traffic.inflight[i].released => {
                self.complete(i, rec.reason_code, rec.properties);
            }
            Some(i) => {
                let first = !self.traffic.inflight[i].released;
                self.traffic.inflight[i].released = true;
                let _ = self.encode(PacketRef::PubRel(PubRel::new(pid).as_view()));
                if first && self.opts.report_qos2_steps {
                    self.events
                        .push_back(ServerEvent::PublishReleased { packet_id: pid });
                }
                // Before CONNACK's resends: this PUBREL is its resend.
                if let Some(rare) = self.rare.as_mut() {
                    rare.resend.retain(|&id| id != pid);
                }
            }
            None if self.in_flight_at(pid, QoS::AtLeastOnce) => {
                self.wrong_ack(PacketType::PubRec, pid);
            }
            None => {
                let code = if self.version.is_v5() {
                    ReasonCode::PacketIdentifierNotFound
                } else {
                    ReasonCode::Success
                };
                let rel = PubRel::new(pid).with_reason_code(code);
                let _ = self.encode(PacketRef::PubRel(rel.as_view()));
            }
        }
    }

    pub(super) fn on_pubcomp(&mut self, comp: PubComp) {
        match self.find_inflight(comp.packet_id, QoS::ExactlyOnce) {
            Some(i) if self.traffic.inflight[i].released => {
                self.complete(i, comp.reason_code, comp.properties);
            }
            Some(_) => self.wrong_ack(PacketType::PubComp, comp.packet_id),
            None if self.in_flight_at(comp.packet_id, QoS::AtLeastOnce) => {
                self.wrong_ack(PacketType::PubComp, comp.packet_id);
            }
            None => {}
        }
    }
}
