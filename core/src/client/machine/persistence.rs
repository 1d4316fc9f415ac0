//! Persistence: the session as plain data ([`SessionState`]), exported
//! and imported.

use super::*;

impl Client {
    /// The session state, as plain data: the client identifier, messages
    /// queued and in flight (in order, with where each is in its exchange),
    /// QoS 2 messages received and not released, and the subscriptions.
    /// Save it (see [`SessionState::to_bytes`]) to survive a restart of the
    /// program, and give it to [`import_session`](Self::import_session).
    pub fn export_session(&self) -> SessionState {
        let mut outgoing = Vec::with_capacity(self.inflight.len() + self.pending.len());
        for o in self.inflight.iter().chain(self.pending.iter()) {
            let stored = match &o.kind {
                OutKind::Publish {
                    publish,
                    expiry,
                    stage,
                } => {
                    let mut p = publish.clone();
                    if *expiry != p.properties.message_expiry_interval {
                        p.properties.message_expiry_interval = *expiry;
                    }
                    match stage {
                        Stage::Unsent => StoredOutgoing::Publish(p),
                        Stage::AwaitAck => StoredOutgoing::PublishSent(p),
                        Stage::AwaitComp => StoredOutgoing::Released(p.packet_id),
                    }
                }
                OutKind::Subscribe(s) => StoredOutgoing::Subscribe(s.clone()),
                OutKind::Unsubscribe(u) => StoredOutgoing::Unsubscribe(u.clone()),
            };
            outgoing.push(stored);
        }
        SessionState {
            client_id: self.client_id.clone(),
            connected_before: self.connected_once,
            outgoing,
            inbound_qos2: self
                .inbound_qos2
                .iter()
                .map(|q| StoredQos2 {
                    packet_id: q.packet_id,
                    released_by_app: q.acked,
                })
                .collect(),
            subscriptions: self.subscriptions.clone(),
        }
    }

    /// Restores a session exported by [`export_session`](Self::export_session),
    /// replacing the current one. Only while disconnected. Messages that
    /// were in flight are resent (DUP) after a CONNACK with Session Present;
    /// QoS 0 messages get new local tokens, and expiry intervals restart
    /// from now. A received QoS 2 message the application had not
    /// acknowledged (manual acknowledgement) is delivered again when the
    /// server resends it, with a new [`AckToken`].
    pub fn import_session(&mut self, now: Instant, state: SessionState) -> Result<(), ClientError> {
        if self.state != ConnectionState::Disconnected {
            return Err(ClientError::InvalidState(
                "import a session while disconnected",
            ));
        }
        self.now = now;
        let mut ids = PacketIds::new();
        let mut inflight = VecDeque::new();
        let mut pending = VecDeque::new();
        let mut inflight_publishes = 0u16;
        let mut next_token = FIRST_TOKEN;
        // The export lists what is in flight, then the queue; a SUBSCRIBE
        // or UNSUBSCRIBE after a queued publish was queued too (taken as
        // sent, it would go out ahead of that publish on resume).
        let mut queued = false;
        for stored in state.outgoing {
            let (kind, sent) = match stored {
                StoredOutgoing::Publish(p) => (
                    OutKind::Publish {
                        expiry: p.properties.message_expiry_interval,
                        publish: p,
                        stage: Stage::Unsent,
                    },
                    false,
                ),
                StoredOutgoing::PublishSent(p) if p.qos == QoS::AtMostOnce => (
                    OutKind::Publish {
                        expiry: p.properties.message_expiry_interval,
                        publish: p,
                        stage: Stage::Unsent,
                    },
                    false,
                ),
                StoredOutgoing::PublishSent(p) => (
                    OutKind::Publish {
                        expiry: p.properties.message_expiry_interval,
                        publish: p,
                        stage: Stage::AwaitAck,
                    },
                    true,
                ),
                StoredOutgoing::Released(id) => {
                    // Only the identifier is left of a released message
                    // (an empty topic, which `Publish::new` would refuse).
                    let p = Publish {
                        dup: true,
                        qos: QoS::ExactlyOnce,
                        retain: false,
                        topic: TopicName::EMPTY,
                        packet_id: id,
                        properties: Default::default(),
                        payload: Bytes::new(),
                    };
                    (
                        OutKind::Publish {
                            publish: p,
                            expiry: None,
                            stage: Stage::AwaitComp,
                        },
                        true,
                    )
                }
                StoredOutgoing::Subscribe(s) => (OutKind::Subscribe(s), !queued),
                StoredOutgoing::Unsubscribe(u) => (OutKind::Unsubscribe(u), !queued),
            };
            queued |= !sent;
            let mut o = Outgoing {
                id: PublishId(0),
                kind,
                queued_at: now,
            };
            let pid = o.packet_id();
            if pid == 0 {
                o.id = PublishId(next_token);
                next_token += 1;
            } else {
                if !ids.claim(pid) {
                    return Err(ClientError::InvalidState(
                        "the session uses a packet identifier twice",
                    ));
                }
                o.id = PublishId(u64::from(pid));
            }
            if sent {
                if o.is_counted_publish() {
                    inflight_publishes += 1;
                }
                inflight.push_back(o);
            } else {
                pending.push_back(o);
            }
        }
        self.ids = ids;
        self.inflight = inflight;
        self.pending = pending;
        self.recompute_queue_expiry();
        self.inflight_publishes = inflight_publishes;
        self.next_token = next_token;
        self.client_id = state.client_id;
        self.connected_once = state.connected_before;
        self.ack_queue.clear();
        self.inbound_qos1 = 0;
        // A QoS 2 message the application had not acknowledged is
        // forgotten: its token died with the program that held it, so the
        // copy the server sends again is delivered anew, with a new token
        // (kept, it would never be acknowledged and would block every later
        // acknowledgement). No PUBREC went for it, so no PUBREL can come.
        self.inbound_qos2 = state
            .inbound_qos2
            .iter()
            .filter(|q| q.released_by_app)
            .map(|q| {
                let token = self.next_ack_token;
                self.next_ack_token += 1;
                InboundQos2 {
                    packet_id: q.packet_id,
                    token,
                    acked: q.released_by_app,
                    rec_sent: q.released_by_app,
                }
            })
            .collect();
        // Kept in packet identifier order (see `on_publish`).
        self.inbound_qos2.sort_unstable_by_key(|q| q.packet_id);
        self.inbound_qos2.dedup_by_key(|q| q.packet_id);
        self.first_live_ack_token = self.next_ack_token;
        self.subscriptions = state.subscriptions;
        Ok(())
    }
}
