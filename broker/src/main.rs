//! The `libmqtt-broker` command.

use std::process::ExitCode;

fn main() -> ExitCode {
    eprintln!("libmqtt-broker: not yet");
    ExitCode::FAILURE
}
