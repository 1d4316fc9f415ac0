//! Outbound: the queue, the inflight window, sending (topic aliases,
//! message expiry, Maximum Packet Size), and the acknowledgements of our
//! PUBLISH, SUBSCRIBE and UNSUBSCRIBE packets.

use super::*;
use crate::codec::{PublishProperties, PublishRef};

impl Client {
    pub(super) fn drop_outgoing(&mut self, o: Outgoing, reason: DropReason) {
        let pid = o.packet_id();
        self.ids.release(pid);
        // A SUBSCRIBE or UNSUBSCRIBE that cannot go out gets no SUBACK or
        // UNSUBACK: it is answered here, one failure code per filter.
        let code = match reason {
            DropReason::PacketTooLarge => ReasonCode::PacketTooLarge,
            _ => ReasonCode::UnspecifiedError,
        };
        let properties = crate::codec::AckProperties::default();
        match &o.kind {
            OutKind::Publish { .. } => self
                .events
                .push_back(Event::PublishDropped { id: o.id, reason }),
            OutKind::Subscribe(s) => self.events.push_back(Event::Subscribed {
                packet_id: pid,
                reason_codes: alloc::vec![code; s.filters.len()],
                properties,
            }),
            OutKind::Unsubscribe(u) => self.events.push_back(Event::Unsubscribed {
                packet_id: pid,
                reason_codes: alloc::vec![code; u.filters.len()],
                properties,
            }),
        }
    }

    /// When a queued publish expires: `queued_at` plus its Message Expiry
    /// Interval. `None` for anything else.
    fn expiry_deadline(o: &Outgoing) -> Option<Instant> {
        match &o.kind {
            OutKind::Publish {
                expiry: Some(e),
                stage: Stage::Unsent,
                ..
            } => Some(o.queued_at + u64::from(*e) * 1000),
            _ => None,
        }
    }

    /// Takes note of a publish entering the queue.
    pub(super) fn note_expiry(&mut self, o: &Outgoing) {
        if let Some(d) = Self::expiry_deadline(o) {
            self.queue_expiry = Some(self.queue_expiry.map_or(d, |t| t.min(d)));
        }
    }

    pub(super) fn recompute_queue_expiry(&mut self) {
        self.queue_expiry = self.pending.iter().filter_map(Self::expiry_deadline).min();
    }

    /// Drops every queued publish whose Message Expiry passed, each
    /// reported with [`DropReason::Expired`], in queue order.
    pub(super) fn drop_expired(&mut self) {
        let now = self.now;
        let mut kept = VecDeque::with_capacity(self.pending.len());
        let mut expired = Vec::new();
        for o in core::mem::take(&mut self.pending) {
            if Self::expiry_deadline(&o).is_some_and(|d| now >= d) {
                expired.push(o);
            } else {
                kept.push_back(o);
            }
        }
        self.pending = kept;
        for o in expired {
            self.drop_outgoing(o, DropReason::Expired);
        }
        self.recompute_queue_expiry();
    }

    /// Sends queued commands while connected and the window and transmit
    /// buffer allow, in order.
    pub(super) fn flush_pending(&mut self) {
        if self.state != ConnectionState::Connected {
            return;
        }
        while let Some(front) = self.pending.front() {
            if self.out.len() >= self.opts.max_transmit_buffer {
                break;
            }
            if front.is_counted_publish() && self.inflight_publishes >= self.window() {
                break;
            }
            if let Some(o) = self.pending.pop_front() {
                self.send_outgoing(o);
            }
        }
    }

    /// Puts a command on the wire (first transmission, or again on resume)
    /// and records it in flight when it expects an answer.
    pub(super) fn send_outgoing(&mut self, o: Outgoing) {
        if let Err((o, _)) = self.try_send_outgoing(o) {
            // Too large for limits learned after it was queued (or in
            // flight across a reconnect): it cannot go out.
            self.drop_outgoing(o, DropReason::PacketTooLarge);
        }
    }

    /// [`send_outgoing`](Self::send_outgoing), except that a publish that
    /// cannot be encoded (invalid, or over the server's Maximum Packet
    /// Size) is handed back with the error, nothing sent or reported.
    // The large error is the entry itself, handed back on a rare path;
    // boxing it would allocate there instead.
    #[allow(clippy::result_large_err)]
    pub(super) fn try_send_outgoing(
        &mut self,
        mut o: Outgoing,
    ) -> Result<(), (Outgoing, ClientError)> {
        let now = self.now;
        match &mut o.kind {
            OutKind::Publish {
                publish,
                expiry,
                stage,
            } => {
                if *stage == Stage::AwaitComp {
                    let rel = PubRel::new(publish.packet_id);
                    let _ = self.encode_packet(PacketRef::PubRel(rel.as_view()));
                    self.stats.retransmits += 1;
                    self.push_inflight(o);
                    return Ok(());
                }
                let first = *stage == Stage::Unsent;
                if let Some(e) = *expiry {
                    let elapsed = (now.saturating_sub(o.queued_at) / 1000).min(u64::from(u32::MAX));
                    let elapsed = elapsed as u32;
                    if first && elapsed >= e {
                        self.drop_outgoing(o, DropReason::Expired);
                        return Ok(());
                    }
                    // [MQTT-3.3.2-6] the remaining lifetime; an in-flight
                    // message is resent (its exchange must end) with at
                    // least one second.
                    publish.properties.message_expiry_interval = Some((e - elapsed.min(e)).max(1));
                }
                if first
                    && (publish.qos > self.server.maximum_qos
                        || (publish.retain && !self.server.retain_available))
                {
                    self.drop_outgoing(o, DropReason::NotSupported);
                    return Ok(());
                }
                let Publish {
                    dup,
                    qos,
                    retain,
                    topic,
                    packet_id,
                    properties,
                    payload,
                } = publish;
                let base = PublishRef {
                    dup: *dup,
                    qos: *qos,
                    retain: *retain,
                    topic: topic.as_view(),
                    packet_id: *packet_id,
                    properties: Default::default(),
                    payload,
                };
                // (Checked first: writing an alias into an empty property
                // set would allocate it.)
                let alias = if self.auto_alias_on() {
                    self.set_alias(properties, base)
                } else {
                    OutboundAlias::None
                };
                let encoded = self.send_publish(publish.as_view(), alias);
                if publish.properties.topic_alias.is_some() {
                    publish.properties.topic_alias = None;
                }
                if let Err(e) = encoded {
                    return Err((o, e));
                }
                let qos = publish.qos;
                if !first {
                    self.stats.retransmits += 1;
                }
                if qos == QoS::AtMostOnce {
                    return Ok(());
                }
                publish.dup = true;
                *stage = Stage::AwaitAck;
                self.push_inflight(o);
            }
            // Never over the server's Maximum Packet Size [MQTT-3.2.2-15]
            // either (limits learned after it was queued, or on resume).
            OutKind::Subscribe(s) => {
                if let Some(code) = self.unsupported_by_server(s) {
                    // Queued before CONNACK said the server lacks the
                    // feature: not sent, answered here per filter.
                    self.ids.release(s.packet_id);
                    self.events.push_back(Event::Subscribed {
                        packet_id: s.packet_id,
                        reason_codes: alloc::vec![code; s.filters.len()],
                        properties: Default::default(),
                    });
                    return Ok(());
                }
                let max = self.server.maximum_packet_size;
                if let Err(e) = self.encode_packet_within(PacketRef::Subscribe(s.as_view()), max) {
                    return Err((o, e));
                }
                self.inflight.push_back(o);
            }
            OutKind::Unsubscribe(u) => {
                let max = self.server.maximum_packet_size;
                if let Err(e) = self.encode_packet_within(PacketRef::Unsubscribe(u.as_view()), max)
                {
                    return Err((o, e));
                }
                self.inflight.push_back(o);
            }
        }
        Ok(())
    }

    /// Whether outbound Topic Aliases are chosen here: 5.0,
    /// `auto_topic_alias`, and the server allows some.
    pub(super) fn auto_alias_on(&self) -> bool {
        self.version.is_v5() && self.opts.auto_topic_alias && self.out_aliases.maximum() > 0
    }

    /// Chooses the outbound Topic Alias of a PUBLISH about to be sent (5.0,
    /// `auto_topic_alias`, and the server allows some) and writes it into
    /// its `properties`. `base` is the PUBLISH without its properties, to
    /// size it with the alias: one that fits the server's Maximum Packet
    /// Size only without the alias is sent without it [MQTT-3.2.2-15], and
    /// no mapping the server never saw is recorded.
    pub(super) fn set_alias(
        &mut self,
        properties: &mut PublishProperties,
        base: PublishRef<'_>,
    ) -> OutboundAlias {
        if !self.auto_alias_on() {
            return OutboundAlias::None;
        }
        properties.topic_alias = Some(1);
        let probe = PublishRef {
            properties: properties.as_view(),
            ..base
        };
        let fits = PacketRef::Publish(probe)
            .encoded_len(self.version)
            .is_ok_and(|size| size <= self.server.maximum_packet_size as usize);
        let alias = if fits {
            self.out_aliases.alias_for(probe.topic.as_str())
        } else {
            OutboundAlias::None
        };
        properties.topic_alias = match alias {
            OutboundAlias::Assign(a) | OutboundAlias::Use(a) => Some(a),
            OutboundAlias::None => None,
        };
        alias
    }

    /// Encodes a PUBLISH to send now (its properties carrying `alias`, if
    /// any): one encode validates and sizes it, and over the server's
    /// Maximum Packet Size it is taken back out of the transmit buffer.
    /// When it cannot be sent, an alias just assigned is forgotten (the
    /// server never learnt it).
    pub(super) fn send_publish(
        &mut self,
        mut view: PublishRef<'_>,
        alias: OutboundAlias,
    ) -> Result<(), ClientError> {
        if matches!(alias, OutboundAlias::Use(_)) {
            view.topic = TopicNameRef::EMPTY;
        }
        let encoded =
            self.encode_packet_within(PacketRef::Publish(view), self.server.maximum_packet_size);
        match encoded {
            Ok(_) => {
                self.stats.messages_sent[view.qos as usize] += 1;
                Ok(())
            }
            Err(e) => {
                if let OutboundAlias::Assign(a) = alias {
                    self.out_aliases.forget(a);
                }
                Err(e)
            }
        }
    }

    pub(super) fn push_inflight(&mut self, o: Outgoing) {
        self.inflight_publishes += 1;
        self.inflight.push_back(o);
    }

    /// The in-flight publish awaiting `stage` with this packet identifier.
    pub(super) fn find_inflight(&self, pid: u16, qos: QoS, stage: Stage) -> Option<usize> {
        let is_it = |o: &Outgoing| {
            matches!(&o.kind, OutKind::Publish { publish, stage: s, .. }
                if publish.packet_id == pid && publish.qos == qos && *s == stage)
        };
        // Identifiers are handed out in increasing order (wrapping after
        // 65,535) and sent in that order, so the entry is most likely as
        // far from the oldest as its identifier is from the oldest's: one
        // look instead of a scan (with acks in order, and a window of n,
        // QoS 2 would otherwise cost O(n) per PUBREC).
        let front = self.inflight.front()?.packet_id();
        if front != 0 {
            let guess = if pid >= front {
                usize::from(pid - front)
            } else {
                usize::from(pid) + usize::from(u16::MAX - front)
            };
            if self.inflight.get(guess).is_some_and(is_it) {
                return Some(guess);
            }
        }
        self.inflight.iter().position(is_it)
    }

    pub(super) fn unknown_ack(&mut self, packet: PacketType, packet_id: u16) {
        if !self.opts.leniency.ignore_unknown_acks {
            self.violation(ProtocolViolation::UnknownPacketId { packet, packet_id });
        }
    }

    pub(super) fn complete(
        &mut self,
        index: usize,
        reason_code: ReasonCode,
        properties: crate::codec::AckProperties,
    ) {
        let o = if index == 0 {
            self.inflight.pop_front()
        } else {
            self.inflight.remove(index)
        };
        if let Some(o) = o {
            self.ids.release(o.packet_id());
            self.inflight_publishes = self.inflight_publishes.saturating_sub(1);
            self.events.push_back(Event::PublishCompleted {
                id: o.id,
                reason_code,
                properties,
            });
        }
    }

    pub(super) fn on_puback(&mut self, ack: PubAck) {
        match self.find_inflight(ack.packet_id, QoS::AtLeastOnce, Stage::AwaitAck) {
            Some(i) => self.complete(i, ack.reason_code, ack.properties),
            None => self.unknown_ack(PacketType::PubAck, ack.packet_id),
        }
    }

    pub(super) fn on_pubrec(&mut self, rec: PubRec) {
        let pid = rec.packet_id;
        if let Some(i) = self.find_inflight(pid, QoS::ExactlyOnce, Stage::AwaitAck) {
            if rec.reason_code.is_error() {
                self.complete(i, rec.reason_code, rec.properties);
                return;
            }
            if let Some(OutKind::Publish { publish, stage, .. }) =
                self.inflight.get_mut(i).map(|o| &mut o.kind)
            {
                *stage = Stage::AwaitComp;
                // The message is the server's now: keep only the id.
                publish.payload = Bytes::new();
                publish.properties = Default::default();
            }
        } else if self
            .find_inflight(pid, QoS::ExactlyOnce, Stage::AwaitComp)
            .is_none()
        {
            self.unknown_ack(PacketType::PubRec, pid);
            return;
        }
        let _ = self.encode_packet(PacketRef::PubRel(PubRel::new(pid).as_view()));
    }

    pub(super) fn on_pubcomp(&mut self, comp: PubComp) {
        match self.find_inflight(comp.packet_id, QoS::ExactlyOnce, Stage::AwaitComp) {
            Some(i) => self.complete(i, comp.reason_code, comp.properties),
            None => self.unknown_ack(PacketType::PubComp, comp.packet_id),
        }
    }

    pub(super) fn take_control(&mut self, pid: u16, subscribe: bool) -> Option<Outgoing> {
        let i = self.inflight.iter().position(|o| match &o.kind {
            OutKind::Subscribe(s) => subscribe && s.packet_id == pid,
            OutKind::Unsubscribe(u) => !subscribe && u.packet_id == pid,
            _ => false,
        })?;
        let o = self.inflight.remove(i)?;
        self.ids.release(pid);
        Some(o)
    }

    pub(super) fn on_suback(&mut self, ack: SubAck) {
        let Some(o) = self.take_control(ack.packet_id, true) else {
            self.violation(ProtocolViolation::UnknownPacketId {
                packet: PacketType::SubAck,
                packet_id: ack.packet_id,
            });
            return;
        };
        let OutKind::Subscribe(sub) = o.kind else {
            return;
        };
        if sub.filters.len() != ack.reason_codes.len() {
            self.violation(ProtocolViolation::ReasonCodeCount {
                packet: PacketType::SubAck,
                expected: sub.filters.len(),
                got: ack.reason_codes.len(),
            });
            return;
        }
        let sid = sub.properties.subscription_identifier;
        for (f, code) in sub.filters.iter().zip(&ack.reason_codes) {
            if code.is_error() {
                continue;
            }
            let entry = Subscription {
                filter: f.clone(),
                subscription_identifier: sid,
            };
            match self
                .subscriptions
                .iter_mut()
                .find(|s| s.filter.filter == f.filter)
            {
                Some(s) => *s = entry,
                None => self.subscriptions.push(entry),
            }
        }
        self.events.push_back(Event::Subscribed {
            packet_id: ack.packet_id,
            reason_codes: ack.reason_codes,
            properties: ack.properties,
        });
    }

    pub(super) fn on_unsuback(&mut self, ack: UnsubAck) {
        let Some(o) = self.take_control(ack.packet_id, false) else {
            self.violation(ProtocolViolation::UnknownPacketId {
                packet: PacketType::UnsubAck,
                packet_id: ack.packet_id,
            });
            return;
        };
        let OutKind::Unsubscribe(unsub) = o.kind else {
            return;
        };
        // 3.1.1 UNSUBACK has no codes; the codec reports one Success per
        // filter only in 5.0.
        if self.version.is_v5() && unsub.filters.len() != ack.reason_codes.len() {
            self.violation(ProtocolViolation::ReasonCodeCount {
                packet: PacketType::UnsubAck,
                expected: unsub.filters.len(),
                got: ack.reason_codes.len(),
            });
            return;
        }
        // A filter the server refused to remove (an error code, 5.0) is
        // still held; 3.1.1 UNSUBACK has no codes and removes them all.
        let removed = |i: usize| ack.reason_codes.get(i).is_none_or(|c| !c.is_error());
        self.subscriptions.retain(|s| {
            !unsub
                .filters
                .iter()
                .enumerate()
                .any(|(i, f)| f.as_bytes() == s.filter.filter.as_bytes() && removed(i))
        });
        let reason_codes = if self.version.is_v5() {
            ack.reason_codes
        } else {
            alloc::vec![ReasonCode::Success; unsub.filters.len()]
        };
        self.events.push_back(Event::Unsubscribed {
            packet_id: ack.packet_id,
            reason_codes,
            properties: ack.properties,
        });
    }
}
