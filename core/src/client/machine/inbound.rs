//! Inbound PUBLISH and PUBREL: delivery, QoS 1 and 2 acknowledgements
//! (automatic, or manual in arrival order), duplicates, our Receive
//! Maximum.

use super::*;

impl Client {
    pub(super) fn on_publish(&mut self, mut publish: Publish) {
        self.stats.messages_received[publish.qos as usize] += 1;
        if self.version.is_v5() {
            match self
                .in_aliases
                .resolve(&publish.topic, publish.properties.topic_alias)
            {
                Ok(topic) => publish.topic = topic,
                Err(e) => {
                    self.violation(ProtocolViolation::TopicAlias(e));
                    return;
                }
            }
        }
        let pid = publish.packet_id;
        match publish.qos {
            QoS::AtMostOnce => self.deliver(publish, None),
            QoS::AtLeastOnce => {
                if !self.opts.manual_ack {
                    // Acknowledged at once, but it still arrived beyond the
                    // server's quota if QoS 2 messages fill it [MQTT-3.3.4-9].
                    if !self.inbound_room() {
                        return;
                    }
                    self.deliver(publish, None);
                    let _ = self.encode_packet(PacketRef::PubAck(PubAck::new(pid).as_view()));
                    return;
                }
                if !self.inbound_room() {
                    return;
                }
                let token = self.new_ack_token();
                self.inbound_qos1 += 1;
                self.ack_queue.push_back(PendingAck {
                    token,
                    packet_id: pid,
                    qos: QoS::AtLeastOnce,
                    acked: false,
                });
                self.deliver(publish, Some(AckToken(token)));
            }
            QoS::ExactlyOnce => {
                // Held in packet identifier order: a binary search, as a
                // server may hold up to Receive Maximum (65,535) of them.
                let at = self
                    .inbound_qos2
                    .binary_search_by_key(&pid, |q| q.packet_id);
                if let Ok(i) = at {
                    // A duplicate before PUBREL: not delivered again
                    // [MQTT-4.3.3-10]; PUBREC again once the application
                    // acknowledged it.
                    let q = self.inbound_qos2[i];
                    if q.acked {
                        self.inbound_qos2[i].rec_sent = true;
                        let _ = self.encode_packet(PacketRef::PubRec(PubRec::new(pid).as_view()));
                    } else if !self.ack_queue.iter().any(|p| p.token == q.token) {
                        self.ack_queue.push_back(PendingAck {
                            token: q.token,
                            packet_id: pid,
                            qos: QoS::ExactlyOnce,
                            acked: false,
                        });
                    }
                    return;
                }
                if !self.inbound_room() {
                    return;
                }
                let token = self.new_ack_token();
                let manual = self.opts.manual_ack;
                let at = at.unwrap_or_else(|i| i);
                self.inbound_qos2.insert(
                    at,
                    InboundQos2 {
                        packet_id: pid,
                        token,
                        acked: !manual,
                        rec_sent: !manual,
                    },
                );
                if manual {
                    self.ack_queue.push_back(PendingAck {
                        token,
                        packet_id: pid,
                        qos: QoS::ExactlyOnce,
                        acked: false,
                    });
                    self.deliver(publish, Some(AckToken(token)));
                } else {
                    self.deliver(publish, None);
                    let _ = self.encode_packet(PacketRef::PubRec(PubRec::new(pid).as_view()));
                }
            }
        }
    }

    /// Whether one more QoS 1 or 2 message fits under our Receive Maximum
    /// [MQTT-3.3.4-9]; if not, the connection is closed with 0x93.
    pub(super) fn inbound_room(&mut self) -> bool {
        let held = self.inbound_qos1 as usize + self.inbound_qos2.len();
        if held >= usize::from(self.opts.receive_maximum) {
            self.violation(ProtocolViolation::ReceiveMaximumExceeded);
            return false;
        }
        true
    }

    pub(super) fn new_ack_token(&mut self) -> u64 {
        let t = self.next_ack_token;
        self.next_ack_token += 1;
        t
    }

    pub(super) fn deliver(&mut self, publish: Publish, ack_token: Option<AckToken>) {
        self.events
            .push_back(Event::Message(Message { publish, ack_token }));
    }

    /// Sends the acknowledgements at the head of the queue that the
    /// application has given, in arrival order.
    pub(super) fn release_acks(&mut self) {
        while self.ack_queue.front().is_some_and(|p| p.acked) {
            let Some(p) = self.ack_queue.pop_front() else {
                break;
            };
            if self.state != ConnectionState::Connected {
                continue;
            }
            if p.qos == QoS::AtLeastOnce {
                self.inbound_qos1 = self.inbound_qos1.saturating_sub(1);
                let _ = self.encode_packet(PacketRef::PubAck(PubAck::new(p.packet_id).as_view()));
            } else {
                if let Some(q) = self.inbound_qos2.iter_mut().find(|q| q.token == p.token) {
                    q.acked = true;
                    q.rec_sent = true;
                }
                let _ = self.encode_packet(PacketRef::PubRec(PubRec::new(p.packet_id).as_view()));
            }
        }
    }

    pub(super) fn on_pubrel(&mut self, rel: PubRel) {
        let pid = rel.packet_id;
        match crate::connection::answer_pubrel(&mut self.inbound_qos2, pid, self.version, true) {
            Some(comp) => {
                let _ = self.encode_packet(PacketRef::PubComp(comp.as_view()));
            }
            None => self.violation(ProtocolViolation::UnexpectedPubRel(pid)),
        }
    }
}
