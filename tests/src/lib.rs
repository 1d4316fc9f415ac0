//! Test tools shared by libmqtt's workspace-level tests.
