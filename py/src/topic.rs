//! Topic helpers: `topic_matches`, `validate_topic_name` and
//! `validate_topic_filter` (the core's `mqtt_core::topic`).

use pyo3::prelude::*;

use mqtt_core::codec::ReasonCode;
use mqtt_core::topic::{self, TopicError};

use crate::errors::mqtt_error;

/// The name of a topic error variant (``"Empty"``, ``"WildcardInName"``, ...).
fn kind(e: &TopicError) -> String {
    let debug = format!("{e:?}");
    debug
        .split(['(', ' ', '{'])
        .next()
        .unwrap_or(&debug)
        .to_owned()
}

/// Whether the topic name ``topic`` matches the topic filter ``filter``
/// (``+`` one level, ``#`` any number of levels including none; a filter
/// starting with a wildcard does not match a topic starting with ``$``).
/// A shared subscription's ``$share/{ShareName}/`` prefix must be stripped
/// first. Never raises: invalid inputs are compared literally.
#[pyfunction]
pub(crate) fn topic_matches(filter: &str, topic: &str) -> bool {
    topic::topic_matches(filter, topic)
}

/// Checks a topic name (the topic of a PUBLISH or a will): non-empty, at
/// most 65,535 bytes, no U+0000, no ``+`` or ``#``. Raises
/// :class:`TopicNameInvalid` (``kind`` names the rule) otherwise.
#[pyfunction]
pub(crate) fn validate_topic_name(py: Python<'_>, topic: &str) -> PyResult<()> {
    topic::validate_topic_name(topic).map_err(|e| {
        mqtt_error(
            py,
            "TopicNameInvalid",
            format!("invalid topic name {topic:?}: {e}"),
            Some(ReasonCode::TopicNameInvalid),
            &kind(&e),
        )
    })
}

/// Checks a topic filter (of a SUBSCRIBE or UNSUBSCRIBE): the rules of a
/// name, ``#`` only as the whole last level, ``+`` only as a whole level,
/// and a well-formed ``$share/{ShareName}/{filter}``. Raises
/// :class:`TopicFilterInvalid` (``kind`` names the rule) otherwise.
#[pyfunction]
pub(crate) fn validate_topic_filter(py: Python<'_>, filter: &str) -> PyResult<()> {
    topic::validate_topic_filter(filter).map_err(|e| {
        mqtt_error(
            py,
            "TopicFilterInvalid",
            format!("invalid topic filter {filter:?}: {e}"),
            Some(ReasonCode::TopicFilterInvalid),
            &kind(&e),
        )
    })
}
