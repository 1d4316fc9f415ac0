//! mosquitto's password file: `username:$7$...` lines.
