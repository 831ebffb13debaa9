//! BMC credentials whose password never shows up in `Debug`, `Display` or logs.

use std::fmt;

/// Username and password for a BMC. `Debug` prints the username only.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// BMC user name.
    pub username: String,
    password: String,
}

impl Credentials {
    /// Builds credentials; surrounding whitespace is trimmed as Metal³ does.
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Self {
        Credentials {
            username: username.into().trim().to_string(),
            password: password.into().trim().to_string(),
        }
    }

    /// The password, for the wire only. Never format it into a message.
    pub fn password(&self) -> &str {
        &self.password
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_password() {
        let c = Credentials::new(" admin ", "hunter2\n");
        assert_eq!(c.username, "admin");
        assert_eq!(c.password(), "hunter2");
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
