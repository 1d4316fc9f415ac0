//! CONNACK and AUTH: the server's limits, session resume (DUP and PUBREL
//! in order [MQTT-4.4.0-1]) or session loss, and enhanced authentication.

use super::*;

impl Client {
    pub(super) fn on_connack(&mut self, connack: ConnAck) {
        self.timers[Timer::ConnAck as usize] = None;
        if connack.reason_code.is_error() {
            self.teardown(DisconnectReason::Refused(connack));
            return;
        }
        if connack.session_present && self.clean_start_sent {
            self.violation(ProtocolViolation::SessionPresentOnCleanStart);
            return;
        }
        // [MQTT-4.12.0-5] [MQTT-4.12.0-6] a successful CONNACK names the
        // Authentication Method of CONNECT, and none if CONNECT had none.
        if self.version.is_v5()
            && connack.properties.authentication_method != self.opts.authentication_method
        {
            self.violation(ProtocolViolation::Authentication);
            return;
        }
        self.auth_challenged = false;
        if self.version.is_v5()
            && self.client_id.is_empty()
            && connack.properties.assigned_client_identifier.is_none()
        {
            // [MQTT-3.2.2-16] an empty Client Identifier must be answered
            // with an Assigned Client Identifier.
            self.violation(ProtocolViolation::MissingAssignedClientId);
            return;
        }
        let p = &connack.properties;
        self.server = ServerLimits {
            receive_maximum: p.receive_maximum.unwrap_or(u16::MAX),
            maximum_packet_size: p
                .maximum_packet_size
                .unwrap_or(crate::codec::MAX_PACKET_SIZE),
            maximum_qos: p.maximum_qos.unwrap_or(QoS::ExactlyOnce),
            retain_available: p.retain_available.unwrap_or(true),
            wildcard_available: p.wildcard_subscription_available.unwrap_or(true),
            subscription_ids_available: p.subscription_identifiers_available.unwrap_or(true),
            shared_available: p.shared_subscription_available.unwrap_or(true),
        };
        if let Some(id) = &p.assigned_client_identifier {
            self.client_id = id.clone();
        }
        if let Some(ka) = p.server_keep_alive {
            self.keep_alive = ka;
        }
        let alias_max = if self.opts.auto_topic_alias {
            p.topic_alias_maximum.unwrap_or(0)
        } else {
            0
        };
        self.out_aliases.set_maximum(alias_max);
        self.state = ConnectionState::Connected;
        self.connected_once = true;
        self.stats.connections += 1;
        let session_present = connack.session_present;
        // A 3.1 CONNACK has no Session Present flag (reported as 0): with
        // Clean Session 0 the server keeps the session, so what is in
        // flight is kept and goes again (PUBLISH with DUP, PUBREL); a
        // server that lost it takes those as new.
        let resume = session_present || (self.version.is_v31() && !self.clean_start_sent);
        self.events.push_back(Event::Connected(Connected {
            session_present,
            client_id: self.client_id.clone(),
            keep_alive: self.keep_alive,
            connack,
        }));
        if resume {
            self.resume_session();
        } else {
            self.session_lost();
        }
        self.flush_pending();
        self.send_waiting_controls();
    }

    /// [MQTT-3.3.4-8] Only PUBLISH waits for the window: SUBSCRIBE and
    /// UNSUBSCRIBE queued behind publishes it holds go now, in their order.
    pub(super) fn send_waiting_controls(&mut self) {
        let mut i = 0;
        while i < self.pending.len() && self.state == ConnectionState::Connected {
            if matches!(self.pending[i].kind, OutKind::Publish { .. }) {
                i += 1;
            } else if let Some(o) = self.pending.remove(i) {
                self.send_outgoing(o);
            }
        }
    }

    /// Session Present 1: everything in flight goes again, in its original
    /// order: PUBLISH with DUP for unacknowledged messages, PUBREL for
    /// received ones [MQTT-4.4.0-1].
    pub(super) fn resume_session(&mut self) {
        let inflight = core::mem::take(&mut self.inflight);
        self.inflight_publishes = 0;
        let window = self.window();
        let mut held = VecDeque::new();
        for o in inflight {
            if matches!(o.kind, OutKind::Subscribe(_) | OutKind::Unsubscribe(_)) {
                self.stats.retransmits += 1;
            }
            // The server's Receive Maximum may be smaller now: PUBLISH
            // beyond it waits at the head of the queue, in order, and goes
            // (still with DUP) as acknowledgements free the window
            // [MQTT-3.3.4-7]. PUBREL always goes: the server holds those.
            let is_unacked_publish = matches!(
                &o.kind,
                OutKind::Publish {
                    stage: Stage::AwaitAck,
                    ..
                }
            );
            if is_unacked_publish && (self.inflight_publishes >= window || !held.is_empty()) {
                held.push_back(o);
                continue;
            }
            self.send_outgoing(o);
        }
        while let Some(o) = held.pop_back() {
            self.pending.push_front(o);
        }
    }

    /// Session Present 0: the server has no state for us, so ours goes
    /// [MQTT-3.2.2-4]: in-flight publishes are requeued as new messages or
    /// dropped (by the policy), in-flight subscribes and unsubscribes go
    /// again, received QoS 2 state is forgotten, and subscriptions are
    /// made again.
    pub(super) fn session_lost(&mut self) {
        self.inbound_qos2.clear();
        let mut inflight = core::mem::take(&mut self.inflight);
        self.inflight_publishes = 0;
        // Publishes sent on an earlier connection and waiting at the head
        // of the queue for the window (see `resume_session`) were in flight
        // too: the same policy applies to them, in their order.
        while self.pending.front().is_some_and(|o| {
            matches!(
                o.kind,
                OutKind::Publish {
                    stage: Stage::AwaitAck,
                    ..
                }
            )
        }) {
            if let Some(o) = self.pending.pop_front() {
                inflight.push_back(o);
            }
        }
        let mut requeue = VecDeque::new();
        for mut o in inflight {
            match &mut o.kind {
                OutKind::Publish { publish, stage, .. } => match *stage {
                    Stage::AwaitComp => {
                        // The server had it (PUBREC): its delivery is done.
                        self.ids.release(publish.packet_id);
                        self.events.push_back(Event::PublishCompleted {
                            id: o.id,
                            reason_code: ReasonCode::Success,
                            properties: Default::default(),
                        });
                    }
                    _ if self.opts.session_lost == SessionLostPolicy::Drop => {
                        self.drop_outgoing(o, DropReason::SessionLost);
                    }
                    _ => {
                        self.ids.release(publish.packet_id);
                        let Some(pid) = self.ids.allocate() else {
                            self.drop_outgoing(o, DropReason::SessionLost);
                            continue;
                        };
                        publish.packet_id = pid;
                        publish.dup = false;
                        *stage = Stage::Unsent;
                        let old = o.id;
                        o.id = PublishId(u64::from(pid));
                        self.events
                            .push_back(Event::PublishRequeued { old, new: o.id });
                        requeue.push_back(o);
                    }
                },
                _ => requeue.push_back(o),
            }
        }
        // Resubscribe first, then what was in flight, then the queue.
        if self.opts.resubscribe_on_session_lost && !self.subscriptions.is_empty() {
            let mut groups: Vec<(Option<u32>, Vec<crate::codec::SubscribeFilter>)> = Vec::new();
            for s in &self.subscriptions {
                match groups.iter_mut().find(|g| g.0 == s.subscription_identifier) {
                    Some(g) => g.1.push(s.filter.clone()),
                    None => groups.push((s.subscription_identifier, alloc::vec![s.filter.clone()])),
                }
            }
            let mut resubscribe = Vec::with_capacity(groups.len());
            for (sid, filters) in groups {
                let Some(pid) = self.ids.allocate() else {
                    break;
                };
                let mut sub = Subscribe::new(pid, filters);
                if self.version.is_v5() {
                    sub.properties.subscription_identifier = sid;
                }
                resubscribe.push(Outgoing {
                    id: PublishId(u64::from(pid)),
                    kind: OutKind::Subscribe(sub),
                    queued_at: self.now,
                });
            }
            for o in resubscribe.into_iter().rev() {
                requeue.push_front(o);
            }
        }
        while let Some(o) = requeue.pop_back() {
            self.pending.push_front(o);
        }
        self.recompute_queue_expiry();
    }

    pub(super) fn on_auth(&mut self, auth: Auth) {
        let method_ok = match (
            &self.opts.authentication_method,
            &auth.properties.authentication_method,
        ) {
            (Some(ours), Some(theirs)) => ours == theirs,
            _ => false,
        };
        if !self.version.is_v5() || !method_ok {
            self.violation(ProtocolViolation::Authentication);
            return;
        }
        match (self.state, auth.reason_code) {
            (ConnectionState::Connecting, ReasonCode::ContinueAuthentication) => {
                self.auth_challenged = true;
                self.events.push_back(Event::AuthChallenge(auth));
            }
            (ConnectionState::Connected, ReasonCode::ContinueAuthentication)
                if self.reauthenticating =>
            {
                self.auth_challenged = true;
                self.events.push_back(Event::AuthChallenge(auth));
            }
            (ConnectionState::Connected, ReasonCode::Success) if self.reauthenticating => {
                self.reauthenticating = false;
                self.auth_challenged = false;
                self.events.push_back(Event::Reauthenticated(auth));
            }
            _ => self.violation(ProtocolViolation::Authentication),
        }
    }
}
