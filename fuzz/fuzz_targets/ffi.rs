//! The C API of `ffi-c` (crate `mqtt-ffi`) driven through its `extern "C"`
//! functions with arbitrary arguments, the way a C program would call them:
//! a client created from fuzzed options (both versions, fuzzed limits and
//! policy bytes, user properties), arbitrary inbound bytes in arbitrary
//! chunks, `poll_transmit` / `poll_output` into small buffers, events,
//! publish / subscribe / unsubscribe / disconnect / authenticate /
//! acknowledge with fuzzed arguments (unknown enum values, invalid UTF-8,
//! NULL pointers with lengths), time steps; a broker with several
//! connections fed arbitrary bytes and, through a loopback, the client's own
//! output; `mqtt_decode` and the view accessors on arbitrary bytes; session
//! export into small buffers and import of fuzzed or cut session bytes;
//! the topic helpers and the backoff with arbitrary fields.
//!
//! Checked: no call returns `MQTT_STATUS_PANIC`. Beyond that, libfuzzer's
//! panic hook aborts on any panic, even one the library would catch: the
//! issue asks for panics to be unreachable, not only caught (in the size
//! profile, with panic=abort, catching is not available).
#![no_main]

use std::mem::MaybeUninit;
use std::ptr;

use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use mqtt::*;

/// Fails the run when a call reports a caught panic.
fn ok(what: &str, status: mqtt_status) -> mqtt_status {
    assert!(
        status != mqtt_status::MQTT_STATUS_PANIC,
        "{what} returned MQTT_STATUS_PANIC"
    );
    status
}

fn view(bytes: &[u8]) -> mqtt_bytes_view {
    mqtt_bytes_view {
        ptr: bytes.as_ptr(),
        len: bytes.len(),
    }
}

/// A byte string from the input; sometimes absent (NULL, 0) and sometimes
/// NULL with a length, which the library must refuse.
fn bytes_view<'a>(u: &mut Unstructured<'a>) -> Result<mqtt_bytes_view> {
    Ok(match u.int_in_range(0u8..=15)? {
        0 => mqtt_bytes_view {
            ptr: ptr::null(),
            len: 0,
        },
        1 => mqtt_bytes_view {
            ptr: ptr::null(),
            len: u.int_in_range(1usize..=8)?,
        },
        2 => {
            // An impossible length on a real pointer: must be refused before
            // any read.
            let s: &'a [u8] = u.bytes(0)?;
            mqtt_bytes_view {
                ptr: s.as_ptr(),
                len: usize::MAX - u.int_in_range(0usize..=3)?,
            }
        }
        3 => view(b"a/b"),
        4 => view(b"a/+"),
        5 => view(b"#"),
        6 => view(b"$share/g/a/#"),
        _ => {
            let n = u.int_in_range(0usize..=24)?;
            view(u.bytes(n)?)
        }
    })
}

/// User properties: a few key/value views held in `store` (kept alive by
/// the caller for the duration of the call).
fn user_properties(
    u: &mut Unstructured<'_>,
    store: &mut Vec<mqtt_user_property>,
) -> Result<mqtt_user_properties> {
    store.clear();
    match u.int_in_range(0u8..=7)? {
        0 => {
            return Ok(mqtt_user_properties {
                ptr: ptr::null(),
                len: u.int_in_range(1usize..=3)?,
            })
        }
        1..=4 => {
            return Ok(mqtt_user_properties {
                ptr: ptr::null(),
                len: 0,
            })
        }
        _ => {}
    }
    for _ in 0..u.int_in_range(1usize..=3)? {
        store.push(mqtt_user_property {
            key: bytes_view(u)?,
            value: bytes_view(u)?,
        });
    }
    Ok(mqtt_user_properties {
        ptr: store.as_ptr(),
        len: store.len(),
    })
}

fn opt_u8(u: &mut Unstructured<'_>) -> Result<mqtt_opt_u8> {
    Ok(mqtt_opt_u8 {
        present: u.arbitrary()?,
        value: u.arbitrary()?,
    })
}

fn opt_u32(u: &mut Unstructured<'_>) -> Result<mqtt_opt_u32> {
    Ok(mqtt_opt_u32 {
        present: u.arbitrary()?,
        value: u.arbitrary()?,
    })
}

/// A client (fuzzed options, falling back to the defaults when refused).
fn new_client(u: &mut Unstructured<'_>) -> Result<*mut mqtt_client> {
    let mut o = MaybeUninit::<mqtt_client_options>::uninit();
    // SAFETY: `o` is writable; the library fills it.
    ok("client_options_default", unsafe {
        mqtt_client_options_default(o.as_mut_ptr())
    });
    // SAFETY: filled above (a C struct of plain fields).
    let mut o = unsafe { o.assume_init() };
    let defaults = o;
    let mut props = Vec::new();
    o.version = *u.choose(&[3u8, 4, 5, 5, 5, 0])?;
    o.client_id = bytes_view(u)?;
    o.keep_alive = u.arbitrary()?;
    o.clean_start = u.arbitrary()?;
    o.session_expiry_interval = u.arbitrary()?;
    if u.arbitrary()? {
        o.username = bytes_view(u)?;
        o.password = bytes_view(u)?;
    }
    o.receive_maximum = u.arbitrary()?;
    o.maximum_packet_size = u.arbitrary()?;
    o.topic_alias_maximum = u.int_in_range(0u16..=4)?;
    o.request_response_information = u.arbitrary()?;
    o.request_problem_information = opt_u8(u)?;
    if u.ratio(1u8, 4)? {
        o.authentication_method = bytes_view(u)?;
        o.authentication_data = bytes_view(u)?;
    }
    o.user_properties = user_properties(u, &mut props)?;
    o.max_inflight = u.int_in_range(0u16..=8)?;
    o.max_queued = u.int_in_range(0usize..=8)?;
    o.queue_full_policy = u.int_in_range(0u8..=3)?;
    o.queue_qos0_offline = u.arbitrary()?;
    o.session_lost_policy = u.int_in_range(0u8..=3)?;
    o.resubscribe_on_session_lost = u.arbitrary()?;
    o.auto_topic_alias = u.arbitrary()?;
    o.manual_ack = u.arbitrary()?;
    o.connect_timeout_ms = u.int_in_range(0u64..=100_000)?;
    o.ping_timeout_ms = u.int_in_range(0u64..=100_000)?;
    o.max_transmit_buffer = u.int_in_range(0usize..=4096)?;
    o.ignore_unknown_acks = u.arbitrary()?;

    let mut msg = [0u8; 64];
    // SAFETY: `o` valid for the call; `msg` holds 64 writable bytes.
    ok("client_options_check", unsafe {
        mqtt_client_options_check(&o, msg.as_mut_ptr().cast(), msg.len())
    });
    let mut c: *mut mqtt_client = ptr::null_mut();
    // SAFETY: `o` and the views it holds live until the call returns.
    if ok("client_new", unsafe { mqtt_client_new(&o, &mut c) }) != mqtt_status::MQTT_STATUS_OK {
        let mut d = defaults;
        d.version = if u.arbitrary()? { 4 } else { 5 };
        d.client_id = view(b"fuzz");
        // SAFETY: as above.
        let s = ok("client_new (defaults)", unsafe {
            mqtt_client_new(&d, &mut c)
        });
        assert_eq!(
            s,
            mqtt_status::MQTT_STATUS_OK,
            "default client options refused"
        );
    }
    Ok(c)
}

/// A broker (fuzzed small limits, falling back to the defaults).
fn new_broker(u: &mut Unstructured<'_>) -> Result<*mut mqtt_broker> {
    let mut o = MaybeUninit::<mqtt_broker_options>::uninit();
    // SAFETY: `o` is writable; the library fills it.
    ok("broker_options_default", unsafe {
        mqtt_broker_options_default(o.as_mut_ptr())
    });
    // SAFETY: filled above.
    let mut o = unsafe { o.assume_init() };
    let defaults = o;
    if u.arbitrary()? {
        o.receive_maximum = u.arbitrary()?;
        o.maximum_packet_size = u.arbitrary()?;
        o.topic_alias_maximum = u.int_in_range(0u16..=4)?;
        o.maximum_qos = u.int_in_range(0u8..=3)?;
        o.retain_available = u.arbitrary()?;
        o.wildcard_subscription_available = u.arbitrary()?;
        o.subscription_identifiers_available = u.arbitrary()?;
        o.shared_subscription_available = u.arbitrary()?;
        o.assign_client_ids = u.arbitrary()?;
        o.max_queued_per_connection = u.int_in_range(0usize..=8)?;
        o.max_inflight = u.int_in_range(0u16..=8)?;
        o.outbound_topic_aliases = u.arbitrary()?;
        o.max_input_before_accept = u.int_in_range(0usize..=4096)?;
        o.max_connections = u.int_in_range(0usize..=4)?;
        o.max_sessions = u.int_in_range(0usize..=4)?;
        o.max_subscriptions_per_client = u.int_in_range(0usize..=8)?;
        o.max_queued_messages = u.int_in_range(0usize..=16)?;
        o.queue_full_policy = u.int_in_range(0u8..=3)?;
        o.max_retained_messages = u.int_in_range(0usize..=8)?;
        o.max_retained_bytes = u.int_in_range(0usize..=4096)?;
        o.max_topic_levels = u.int_in_range(0usize..=8)?;
    }
    let mut b: *mut mqtt_broker = ptr::null_mut();
    // SAFETY: `o` valid for the call.
    if ok("broker_new", unsafe { mqtt_broker_new(&o, &mut b) }) != mqtt_status::MQTT_STATUS_OK {
        // SAFETY: as above.
        let s = ok("broker_new (defaults)", unsafe {
            mqtt_broker_new(&defaults, &mut b)
        });
        assert_eq!(
            s,
            mqtt_status::MQTT_STATUS_OK,
            "default broker options refused"
        );
    }
    Ok(b)
}

fn client_drain(c: *mut mqtt_client, cap: usize, sink: &mut Vec<u8>) {
    let mut buf = vec![0u8; cap.max(1)];
    for _ in 0..64 {
        let mut n = 0usize;
        // SAFETY: `buf` holds `cap` writable bytes.
        let s = ok("client_poll_transmit", unsafe {
            mqtt_client_poll_transmit(c, buf.as_mut_ptr(), cap, &mut n)
        });
        if s != mqtt_status::MQTT_STATUS_OK || n == 0 {
            break;
        }
        sink.extend_from_slice(&buf[..n]);
    }
}

fn broker_drain(b: *mut mqtt_broker, cap: usize, to_client: &mut Vec<u8>, loop_conn: u64) {
    let mut buf = vec![0u8; cap.max(1)];
    for _ in 0..64 {
        let (mut conn, mut n) = (0u64, 0usize);
        // SAFETY: `buf` holds `cap` writable bytes.
        let s = ok("broker_poll_output", unsafe {
            mqtt_broker_poll_output(b, &mut conn, buf.as_mut_ptr(), cap, &mut n)
        });
        if s != mqtt_status::MQTT_STATUS_OK || n == 0 {
            break;
        }
        if conn == loop_conn {
            to_client.extend_from_slice(&buf[..n]);
        }
    }
}

fn run(u: &mut Unstructured<'_>) -> Result<()> {
    let c = new_client(u)?;
    let b = match new_broker(u) {
        Ok(b) => b,
        Err(e) => {
            // SAFETY: live, freed once.
            unsafe { mqtt_client_free(c) };
            return Err(e);
        }
    };
    let r = drive(u, c, b);
    // SAFETY: both live, freed once.
    unsafe {
        mqtt_client_free(c);
        mqtt_broker_free(b);
    }
    r
}

fn drive(u: &mut Unstructured<'_>, c: *mut mqtt_client, b: *mut mqtt_broker) -> Result<()> {
    let mut now: u64 = 0;
    let mut conns: Vec<u64> = Vec::new();
    for _ in 0..u.int_in_range(1usize..=3)? {
        let mut id = 0u64;
        // SAFETY: `b` is live; `id` writable.
        if ok("broker_connection_opened", unsafe {
            mqtt_broker_connection_opened(b, now, &mut id)
        }) == mqtt_status::MQTT_STATUS_OK
        {
            conns.push(id);
        }
    }
    // The client's transport: a loopback to the first broker connection.
    let loop_conn = conns.first().copied().unwrap_or(0);
    let mut to_broker: Vec<u8> = Vec::new();
    let mut to_client: Vec<u8> = Vec::new();
    let mut props = Vec::new();
    let mut tokens: Vec<u64> = vec![0, 1];

    while !u.is_empty() {
        match u.int_in_range(0u8..=21)? {
            0 => {
                let n = u.int_in_range(0usize..=64)?;
                let data = u.bytes(n.min(u.len()))?;
                // SAFETY: `data` holds `data.len()` bytes.
                ok("client_handle_input", unsafe {
                    mqtt_client_handle_input(c, data.as_ptr(), data.len(), now)
                });
            }
            1 => {
                let cap = u.int_in_range(0usize..=16)?;
                let mut len = 0usize;
                // SAFETY: `c` live; `len` writable.
                ok("client_transmit_len", unsafe {
                    mqtt_client_transmit_len(c, &mut len)
                });
                client_drain(c, cap, &mut to_broker);
            }
            2 => {
                for _ in 0..8 {
                    let mut ev = MaybeUninit::<mqtt_event>::uninit();
                    // SAFETY: `ev` writable.
                    let s = ok("client_poll_event", unsafe {
                        mqtt_client_poll_event(c, ev.as_mut_ptr())
                    });
                    if s != mqtt_status::MQTT_STATUS_OK {
                        break;
                    }
                    // SAFETY: filled by the library on OK.
                    let ev = unsafe { ev.assume_init() };
                    if ev.kind == mqtt_event_kind::MQTT_EVENT_NONE {
                        break;
                    }
                    if ev.message.has_ack_token {
                        tokens.push(ev.message.ack_token);
                    }
                }
            }
            3 => {
                let o = mqtt_publish_options {
                    topic: bytes_view(u)?,
                    payload: bytes_view(u)?,
                    qos: u.int_in_range(0u8..=3)?,
                    retain: u.arbitrary()?,
                    payload_format_indicator: opt_u8(u)?,
                    message_expiry_interval: opt_u32(u)?,
                    content_type: bytes_view(u)?,
                    response_topic: bytes_view(u)?,
                    correlation_data: bytes_view(u)?,
                    user_properties: user_properties(u, &mut props)?,
                };
                let mut id = 0u64;
                // SAFETY: `o` and its views live for the call.
                ok("client_publish", unsafe {
                    mqtt_client_publish(c, &o, now, &mut id)
                });
            }
            4 => {
                let mut subs = Vec::new();
                for _ in 0..u.int_in_range(0usize..=3)? {
                    subs.push(mqtt_subscription {
                        filter: bytes_view(u)?,
                        qos: u.int_in_range(0u8..=3)?,
                        no_local: u.arbitrary()?,
                        retain_as_published: u.arbitrary()?,
                        retain_handling: u.int_in_range(0u8..=3)?,
                    });
                }
                let o = mqtt_subscribe_options {
                    filters: if subs.is_empty() && u.arbitrary()? {
                        ptr::null()
                    } else {
                        subs.as_ptr()
                    },
                    filters_len: subs.len(),
                    subscription_identifier: opt_u32(u)?,
                    user_properties: user_properties(u, &mut props)?,
                };
                let mut pid = 0u16;
                // SAFETY: `o` and its arrays live for the call.
                ok("client_subscribe", unsafe {
                    mqtt_client_subscribe(c, &o, now, &mut pid)
                });
            }
            5 => {
                let mut filters = Vec::new();
                for _ in 0..u.int_in_range(0usize..=3)? {
                    filters.push(bytes_view(u)?);
                }
                let o = mqtt_unsubscribe_options {
                    filters: filters.as_ptr(),
                    filters_len: filters.len(),
                    user_properties: user_properties(u, &mut props)?,
                };
                let mut pid = 0u16;
                // SAFETY: as above.
                ok("client_unsubscribe", unsafe {
                    mqtt_client_unsubscribe(c, &o, now, &mut pid)
                });
            }
            6 => {
                now = now.saturating_add(u.int_in_range(0u64..=120_000)?);
                let mut deadline = 0u64;
                // SAFETY: `c` live; `deadline` writable.
                unsafe {
                    if u.ratio(1u8, 4)? {
                        // Reading paused or resumed (any byte: non-zero
                        // means paused).
                        ok(
                            "client_set_input_paused",
                            mqtt_client_set_input_paused(c, now, u.arbitrary()?),
                        );
                    }
                    ok("client_handle_timeout", mqtt_client_handle_timeout(c, now));
                    ok(
                        "client_poll_timeout",
                        mqtt_client_poll_timeout(c, &mut deadline),
                    );
                }
            }
            7 => {
                // SAFETY: `c` live.
                ok("client_connect", unsafe { mqtt_client_connect(c, now) });
            }
            8 => {
                let o = mqtt_disconnect_options {
                    reason_code: u.arbitrary()?,
                    session_expiry_interval: opt_u32(u)?,
                    reason_string: bytes_view(u)?,
                    user_properties: user_properties(u, &mut props)?,
                };
                let p: *const mqtt_disconnect_options =
                    if u.ratio(1u8, 4)? { ptr::null() } else { &o };
                // SAFETY: `p` NULL or valid for the call.
                ok("client_disconnect", unsafe {
                    mqtt_client_disconnect(c, p, now)
                });
            }
            9 => {
                let t = if u.arbitrary()? {
                    *u.choose(&tokens)?
                } else {
                    u.arbitrary()?
                };
                // SAFETY: `c` live.
                ok("client_acknowledge", unsafe {
                    mqtt_client_acknowledge(c, t, now)
                });
            }
            10 => {
                // SAFETY: `c` live.
                ok("client_transport_closed", unsafe {
                    mqtt_client_transport_closed(c, now)
                });
                to_broker.clear();
                to_client.clear();
                let mut id = 0u64;
                // The loopback's broker side closes too; a new connection
                // carries on (not looped: the loopback keeps its first id).
                // SAFETY: `b` live.
                unsafe {
                    ok(
                        "broker_connection_closed",
                        mqtt_broker_connection_closed(b, loop_conn, now),
                    );
                    ok(
                        "broker_connection_opened",
                        mqtt_broker_connection_opened(b, now, &mut id),
                    );
                }
            }
            11 => {
                let conn = if conns.is_empty() || u.ratio(1u8, 8)? {
                    u.arbitrary()?
                } else {
                    *u.choose(&conns)?
                };
                let n = u.int_in_range(0usize..=64)?;
                let data = u.bytes(n.min(u.len()))?;
                // SAFETY: `data` holds `data.len()` bytes.
                ok("broker_handle_input", unsafe {
                    mqtt_broker_handle_input(b, conn, data.as_ptr(), data.len(), now)
                });
            }
            12 => {
                let cap = u.int_in_range(0usize..=16)?;
                let (mut conn, mut len) = (0u64, 0usize);
                // SAFETY: `b` live; outputs writable.
                unsafe {
                    ok(
                        "broker_output_len",
                        mqtt_broker_output_len(b, &mut conn, &mut len),
                    );
                }
                broker_drain(b, cap, &mut to_client, loop_conn);
                for _ in 0..8 {
                    let mut conn = 0u64;
                    // SAFETY: `b` live; `conn` writable.
                    let s = ok("broker_poll_close", unsafe {
                        mqtt_broker_poll_close(b, &mut conn)
                    });
                    if s != mqtt_status::MQTT_STATUS_OK || conn == 0 {
                        break;
                    }
                    // SAFETY: `b` live.
                    ok("broker_connection_closed", unsafe {
                        mqtt_broker_connection_closed(b, conn, now)
                    });
                }
            }
            13 => {
                now = now.saturating_add(u.int_in_range(0u64..=120_000)?);
                let mut deadline = 0u64;
                let mut stats = MaybeUninit::<mqtt_broker_stats>::uninit();
                // SAFETY: `b` live; outputs writable.
                unsafe {
                    ok("broker_handle_timeout", mqtt_broker_handle_timeout(b, now));
                    ok(
                        "broker_poll_timeout",
                        mqtt_broker_poll_timeout(b, &mut deadline),
                    );
                    ok(
                        "broker_get_stats",
                        mqtt_broker_get_stats(b, stats.as_mut_ptr()),
                    );
                }
            }
            14 => {
                let mut id = 0u64;
                // SAFETY: `b` live.
                unsafe {
                    if u.arbitrary()? {
                        if ok(
                            "broker_connection_opened",
                            mqtt_broker_connection_opened(b, now, &mut id),
                        ) == mqtt_status::MQTT_STATUS_OK
                        {
                            conns.push(id);
                        }
                    } else if !conns.is_empty() {
                        let i = u.choose_index(conns.len())?;
                        let conn = conns.swap_remove(i);
                        ok(
                            "broker_connection_closed",
                            mqtt_broker_connection_closed(b, conn, now),
                        );
                    }
                }
            }
            15 => {
                let n = u.int_in_range(0usize..=128)?;
                let data = u.bytes(n.min(u.len()))?;
                let version = *u.choose(&[4u8, 5, 3, 0])?;
                let max: u32 = if u.arbitrary()? { 0 } else { u.arbitrary()? };
                let mut pv = MaybeUninit::<mqtt_packet_view>::uninit();
                let mut consumed = 0usize;
                // SAFETY: `data` holds `data.len()` bytes; outputs writable.
                let s = ok("decode", unsafe {
                    mqtt_decode(
                        data.as_ptr(),
                        data.len(),
                        version,
                        max,
                        pv.as_mut_ptr(),
                        &mut consumed,
                    )
                });
                assert!(consumed <= data.len(), "consumed beyond the input");
                if s == mqtt_status::MQTT_STATUS_OK {
                    // SAFETY: written by mqtt_decode (always, on OK).
                    let pv = unsafe { pv.assume_init() };
                    for i in 0..3usize {
                        let mut p = MaybeUninit::<mqtt_user_property>::uninit();
                        let mut id = 0u32;
                        let mut f = MaybeUninit::<mqtt_subscription>::uninit();
                        // SAFETY: `pv` views `data`, still alive.
                        unsafe {
                            ok(
                                "packet_view_user_property",
                                mqtt_packet_view_user_property(&pv, i, p.as_mut_ptr()),
                            );
                            ok(
                                "packet_view_will_user_property",
                                mqtt_packet_view_will_user_property(&pv, i, p.as_mut_ptr()),
                            );
                            ok(
                                "packet_view_subscription_identifier",
                                mqtt_packet_view_subscription_identifier(&pv, i, &mut id),
                            );
                            ok(
                                "packet_view_filter",
                                mqtt_packet_view_filter(&pv, i, f.as_mut_ptr()),
                            );
                        }
                    }
                }
            }
            16 => {
                // Loopback: the client's bytes to the broker, the broker's
                // answers back, in chunks of fuzzed size.
                let cap = u.int_in_range(1usize..=512)?;
                client_drain(c, cap, &mut to_broker);
                for chunk in to_broker.chunks(cap) {
                    // SAFETY: `chunk` holds `chunk.len()` bytes.
                    ok("broker_handle_input (loopback)", unsafe {
                        mqtt_broker_handle_input(b, loop_conn, chunk.as_ptr(), chunk.len(), now)
                    });
                }
                to_broker.clear();
                broker_drain(b, cap, &mut to_client, loop_conn);
                for chunk in to_client.chunks(cap) {
                    // SAFETY: as above.
                    ok("client_handle_input (loopback)", unsafe {
                        mqtt_client_handle_input(c, chunk.as_ptr(), chunk.len(), now)
                    });
                }
                to_client.clear();
            }
            17 => {
                let data = bytes_view(u)?;
                let reason = bytes_view(u)?;
                let up = user_properties(u, &mut props)?;
                // SAFETY: views live for the call.
                ok("client_authenticate", unsafe {
                    mqtt_client_authenticate(c, data, reason, up, now)
                });
            }
            18 => {
                let mut st = MaybeUninit::<mqtt_connection_state>::uninit();
                let mut e = MaybeUninit::<mqtt_bytes_view>::uninit();
                // SAFETY: outputs writable.
                unsafe {
                    ok("client_state", mqtt_client_state(c, st.as_mut_ptr()));
                    ok(
                        "client_last_error",
                        mqtt_client_last_error(c, e.as_mut_ptr()),
                    );
                    ok(
                        "broker_last_error",
                        mqtt_broker_last_error(b, e.as_mut_ptr()),
                    );
                }
                let code: u32 = u.arbitrary()?;
                assert!(!mqtt_status_str(code).is_null());
                assert!(!mqtt_reason_code_str(u.arbitrary()?).is_null());
            }
            19 => {
                // Session persistence: export into a small buffer, and
                // import fuzzed or damaged bytes (refused unless a whole
                // session, and only while disconnected).
                let cap = u.int_in_range(0usize..=96)?;
                let mut out = vec![0u8; cap];
                let mut written = 0usize;
                // SAFETY: `out` holds `cap` bytes; `written` writable.
                ok("client_session_export", unsafe {
                    mqtt_client_session_export(c, out.as_mut_ptr(), cap, &mut written)
                });
                let data: &[u8] = if u.arbitrary()? {
                    let keep = u.int_in_range(0usize..=written.min(cap))?;
                    &out[..keep]
                } else {
                    let n = u.int_in_range(0usize..=128)?;
                    u.bytes(n.min(u.len()))?
                };
                // SAFETY: `data` holds `data.len()` bytes.
                ok("client_session_import", unsafe {
                    mqtt_client_session_import(c, now, data.as_ptr(), data.len())
                });
                let mut st = MaybeUninit::<mqtt_client_stats>::uninit();
                // SAFETY: `st` writable.
                ok("client_get_stats", unsafe {
                    mqtt_client_get_stats(c, st.as_mut_ptr())
                });
            }
            20 => {
                // Topic helpers and the backoff, with no handle.
                let filter = bytes_view(u)?;
                let topic = bytes_view(u)?;
                let mut m = false;
                // SAFETY: views live for the call; `m` writable.
                unsafe {
                    ok("topic_matches", mqtt_topic_matches(filter, topic, &mut m));
                    ok("topic_name_check", mqtt_topic_name_check(topic));
                    ok("topic_filter_check", mqtt_topic_filter_check(filter));
                }
                let mut b = mqtt_backoff {
                    initial_ms: u.arbitrary()?,
                    max_ms: u.arbitrary()?,
                    multiplier: u.arbitrary()?,
                    attempt: u.arbitrary()?,
                };
                let mut d = 0u64;
                // SAFETY: `b` and `d` writable.
                unsafe {
                    ok(
                        "backoff_next",
                        mqtt_backoff_next(&mut b, u.arbitrary()?, &mut d),
                    );
                    ok(
                        "backoff_init",
                        mqtt_backoff_init(&mut b, u.arbitrary()?, u.arbitrary()?),
                    );
                    ok(
                        "backoff_next",
                        mqtt_backoff_next(&mut b, u.arbitrary()?, &mut d),
                    );
                }
            }
            _ => {
                // NULL handles and outputs: refused, never dereferenced.
                let mut n = 0usize;
                // SAFETY: NULL is what is being tested.
                unsafe {
                    ok(
                        "client_handle_input (NULL)",
                        mqtt_client_handle_input(ptr::null_mut(), ptr::null(), 1, now),
                    );
                    ok(
                        "client_poll_transmit (NULL)",
                        mqtt_client_poll_transmit(c, ptr::null_mut(), 4, &mut n),
                    );
                    ok(
                        "broker_handle_input (NULL data)",
                        mqtt_broker_handle_input(b, loop_conn, ptr::null(), 3, now),
                    );
                    ok(
                        "client_publish (NULL)",
                        mqtt_client_publish(c, ptr::null(), now, ptr::null_mut()),
                    );
                }
            }
        }
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let _ = run(&mut u);
});
