//! mosquitto's password file (stub until the helper's module lands).
use std::path::Path;

/// Users and hashed passwords.
#[derive(Debug, Clone, Default)]
pub struct PasswordFile;

impl PasswordFile {
    /// Reads a file.
    pub fn load(_path: &Path) -> Result<PasswordFile, String> {
        Err("not yet".into())
    }
    /// Checks a password.
    pub fn check(&self, _user: &str, _password: &[u8]) -> bool {
        false
    }
}

/// The `passwd` subcommand (stub).
pub fn passwd_main(_args: &[String]) -> Result<(), String> {
    Err("not yet".into())
}
