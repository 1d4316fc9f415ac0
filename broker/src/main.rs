//! The `libmqtt-broker` command: mosquitto's command line.
//!
//! ```text
//! libmqtt-broker [-c FILE] [-d] [-p PORT]... [-v] [--test-config]
//! libmqtt-broker passwd [-c] [-b] [-D USER] [-U] FILE [USER [PASSWORD]]
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use libmqtt_broker::config::Config;
use libmqtt_broker::log::Logger;
use libmqtt_broker::server::Server;

const USAGE: &str = "\
libmqtt-broker: an MQTT 3.1, 3.1.1 and 5.0 broker that reads mosquitto.conf

usage: libmqtt-broker [-c FILE] [-d] [-p PORT]... [-v] [--test-config]
       libmqtt-broker passwd [-c | -D USER | -U] [-b] FILE [USER [PASSWORD]]

 -c, --config-file FILE  read the configuration (mosquitto.conf format); without it,
                         one listener on 127.0.0.1:1883 with anonymous access
 -d, --daemon            run in the background
 -p, --port PORT         listen on 127.0.0.1:PORT instead of 1883 when the configuration
                         defines no listener (may be given several times)
 -v, --verbose           log everything (overrides log_type)
     --test-config       read and check the configuration, then exit
 -h, --help              this text
     --version           the version
 passwd                  manage a password file (mosquitto_passwd's options)";

struct Args {
    config: Option<PathBuf>,
    daemon: bool,
    ports: Vec<u16>,
    verbose: bool,
    test_config: bool,
}

fn parse_args(args: &[String]) -> Result<Args, String> {
    let mut a = Args {
        config: None,
        daemon: false,
        ports: Vec::new(),
        verbose: false,
        test_config: false,
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "-c" | "--config-file" => a.config = Some(PathBuf::from(value()?)),
            "-d" | "--daemon" => a.daemon = true,
            "-p" | "--port" => {
                let v = value()?;
                a.ports.push(
                    v.parse()
                        .map_err(|_| format!("-p {v}: not a port number"))?,
                )
            }
            "-v" | "--verbose" => a.verbose = true,
            "--test-config" => a.test_config = true,
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(a)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("passwd") => {
            return match libmqtt_broker::password::passwd_main(&args[1..]) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("Error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Some("-h" | "--help") => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Some("--version") => {
            println!("libmqtt-broker version {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        _ => {}
    }
    let args = match parse_args(&args) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("Error: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<(), String> {
    let mut config = match &args.config {
        Some(path) => Config::load(path).map_err(|e| e.to_string())?,
        None => Config::local_only(),
    };
    let ports_used = config.apply_command_line_ports(&args.ports);
    let mut log = Logger::new(&config.log, args.verbose)?;
    if !ports_used {
        libmqtt_broker::log!(
            log,
            Warning,
            "Warning: -p is ignored: the configuration defines listeners (as in mosquitto 2)"
        );
    }
    for warning in &config.warnings {
        libmqtt_broker::log!(log, Warning, "Warning: {warning}");
    }
    if args.test_config {
        // The files the configuration names are read too.
        libmqtt_broker::setup::security(&config)?;
        libmqtt_broker::setup::broker_options(&config)?;
        if config.persistence.enabled {
            libmqtt_broker::store::check(&config.persistence)?;
        }
        for l in &config.listeners {
            if let Some(tls) = &l.tls {
                libmqtt_broker::tls::server_config(tls)?;
            }
        }
        println!("configuration OK");
        return Ok(());
    }
    if args.daemon && std::env::var_os("LIBMQTT_BROKER_DAEMONIZED").is_none() {
        return daemonize();
    }
    let pid_file = config.pid_file.clone();
    let mut server = Server::bind(config, log)?;
    if let Some(path) = &pid_file {
        std::fs::write(path, format!("{}\n", std::process::id()))
            .map_err(|e| format!("pid_file {}: {e}", path.display()))?;
    }
    let result = server.run();
    if let Some(path) = &pid_file {
        let _ = std::fs::remove_file(path);
    }
    result
}

/// `-d`: the same command again, in the background, in its own process
/// group, detached from the terminal; this process exits.
fn daemonize() -> Result<(), String> {
    use std::os::unix::process::CommandExt;
    use std::process::{Command, Stdio};
    let exe = std::env::current_exe().map_err(|e| format!("-d: {e}"))?;
    let args = std::env::args()
        .skip(1)
        .filter(|a| a != "-d" && a != "--daemon");
    Command::new(exe)
        .args(args)
        .env("LIBMQTT_BROKER_DAEMONIZED", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .map_err(|e| format!("-d: {e}"))?;
    Ok(())
}
