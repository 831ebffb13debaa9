//! A faithful subset of Go's `net/url.Parse` and `net.SplitHostPort`.
//!
//! Metal³ decides which driver a BMC address selects by what Go's URL parser
//! makes of it, quirks included (`my.host:623` is a *scheme*, `10.0.0.1:623` is
//! not). The WHATWG parser of the `url` crate disagrees with Go on exactly those
//! inputs, so the rules are reproduced here instead.

/// The parts of a URL as Go's `url.URL` holds them (only what BMC parsing reads).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct GoUrl {
    /// Lower-cased scheme, empty when none.
    pub scheme: String,
    /// Text after `scheme:` when it does not start with `/` (an "opaque" URL).
    pub opaque: String,
    /// Whether an authority (`//...`) was present.
    pub has_authority: bool,
    /// `host[:port]`, IPv6 literals keep their brackets.
    pub host: String,
    /// Path, percent-decoded.
    pub path: String,
    /// Query without the `?`.
    pub raw_query: String,
}

/// Why Go's parser refused an input; the text mirrors Go's messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GoParseError(pub String);

fn is_ctl(b: u8) -> bool {
    b < 0x20 || b == 0x7f
}

/// Go's `getScheme`: a scheme is `[A-Za-z][A-Za-z0-9+.-]*` followed by `:`.
fn get_scheme(raw: &str) -> Result<(&str, &str), GoParseError> {
    for (i, c) in raw.bytes().enumerate() {
        match c {
            b'a'..=b'z' | b'A'..=b'Z' => {}
            b'0'..=b'9' | b'+' | b'-' | b'.' => {
                if i == 0 {
                    return Ok(("", raw));
                }
            }
            b':' => {
                if i == 0 {
                    return Err(GoParseError("missing protocol scheme".into()));
                }
                return Ok((&raw[..i], &raw[i + 1..]));
            }
            _ => return Ok(("", raw)),
        }
    }
    Ok(("", raw))
}

/// Go's `validOptionalPort`: empty, or `:` followed by digits only.
pub(crate) fn valid_optional_port(port: &str) -> bool {
    match port.strip_prefix(':') {
        None => port.is_empty(),
        Some(digits) => digits.bytes().all(|b| b.is_ascii_digit()),
    }
}

/// Characters Go accepts unescaped in a host (`shouldEscape(c, encodeHost)` false).
fn host_char_ok(c: u8) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(
            c,
            b'-' | b'_'
                | b'.'
                | b'~'
                | b'!'
                | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b';'
                | b'='
                | b':'
                | b'['
                | b']'
                | b'<'
                | b'>'
                | b'"'
        )
        || c >= 0x80
}

fn unhex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Percent-decoding; `in_host` applies Go's stricter host rules.
fn unescape(s: &str, in_host: bool) -> Result<String, GoParseError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c == b'%' {
            let hi = bytes.get(i + 1).copied().and_then(unhex);
            let lo = bytes.get(i + 2).copied().and_then(unhex);
            match (hi, lo) {
                (Some(h), Some(l)) => {
                    let v = h * 16 + l;
                    // RFC 3986 allows %-escapes in a host only for non-ASCII bytes,
                    // RFC 6874 adds %25 for IPv6 zones; Go enforces both.
                    if in_host && v < 0x80 && v != b'%' {
                        return Err(GoParseError(format!(
                            "invalid URL escape \"{}\"",
                            &s[i..(i + 3).min(s.len())]
                        )));
                    }
                    out.push(v);
                    i += 3;
                }
                _ => {
                    let end = (i + 3).min(s.len());
                    return Err(GoParseError(format!(
                        "invalid URL escape \"{}\"",
                        s.get(i..end).unwrap_or("%")
                    )));
                }
            }
        } else {
            if in_host && !host_char_ok(c) {
                return Err(GoParseError(format!(
                    "invalid character \"{}\" in host name",
                    c as char
                )));
            }
            out.push(c);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| GoParseError("invalid UTF-8 after unescaping".into()))
}

/// Go's `parseHost`.
fn parse_host(host: &str) -> Result<String, GoParseError> {
    if host.starts_with('[') {
        let Some(i) = host.rfind(']') else {
            return Err(GoParseError("missing ']' in host".into()));
        };
        let colon_port = &host[i + 1..];
        if !valid_optional_port(colon_port) {
            return Err(GoParseError(format!(
                "invalid port \"{colon_port}\" after host"
            )));
        }
    } else if let Some(i) = host.rfind(':') {
        let colon_port = &host[i..];
        if !valid_optional_port(colon_port) {
            return Err(GoParseError(format!(
                "invalid port \"{colon_port}\" after host"
            )));
        }
    }
    unescape(host, true)
}

/// Go's `url.Parse` (fragment dropped, as BMC parsing never reads it).
pub(crate) fn parse(raw: &str) -> Result<GoUrl, GoParseError> {
    let raw = raw.split_once('#').map_or(raw, |(before, _)| before);
    if raw.bytes().any(is_ctl) {
        return Err(GoParseError(
            "net/url: invalid control character in URL".into(),
        ));
    }
    let mut u = GoUrl::default();
    let (scheme, mut rest) = get_scheme(raw)?;
    u.scheme = scheme.to_ascii_lowercase();
    if rest.ends_with('?') && rest.matches('?').count() == 1 {
        rest = &rest[..rest.len() - 1];
    } else if let Some((r, q)) = rest.split_once('?') {
        rest = r;
        u.raw_query = q.to_string();
    }
    if !rest.starts_with('/') {
        if !u.scheme.is_empty() {
            u.opaque = rest.to_string();
            return Ok(u);
        }
        let segment = rest.split('/').next().unwrap_or("");
        if segment.contains(':') {
            return Err(GoParseError(
                "first path segment in URL cannot contain colon".into(),
            ));
        }
    }
    if (!u.scheme.is_empty() || !rest.starts_with("///")) && rest.starts_with("//") {
        let after = &rest[2..];
        let (authority, tail) = match after.find('/') {
            Some(i) => (&after[..i], &after[i..]),
            None => (after, ""),
        };
        // userinfo (before the last '@') is accepted and ignored by BMC parsing;
        // Go validates its characters, which we mirror loosely.
        let host_part = match authority.rfind('@') {
            Some(i) => &authority[i + 1..],
            None => authority,
        };
        u.host = parse_host(host_part)?;
        u.has_authority = true;
        rest = tail;
    }
    u.path = unescape(rest, false)?;
    Ok(u)
}

impl GoUrl {
    /// Go's `URL.Hostname()`: the host without port and brackets.
    pub fn hostname(&self) -> &str {
        let (h, _) = split_host_port_lenient(&self.host);
        h
    }

    /// Go's `URL.Port()`: the port text, empty when none.
    pub fn port(&self) -> &str {
        let (_, p) = split_host_port_lenient(&self.host);
        p
    }
}

/// Go's unexported `splitHostPort` used by `Hostname()`/`Port()` (never fails).
fn split_host_port_lenient(host_port: &str) -> (&str, &str) {
    let (mut host, mut port) = (host_port, "");
    if let Some(colon) = host_port.rfind(':') {
        if valid_optional_port(&host_port[colon..]) {
            host = &host_port[..colon];
            port = &host_port[colon + 1..];
        }
    }
    if host.starts_with('[') && host.ends_with(']') && host.len() >= 2 {
        host = &host[1..host.len() - 1];
    }
    (host, port)
}

/// Go's `net.SplitHostPort`; only success or failure matters to BMC parsing.
pub(crate) fn split_host_port(hostport: &str) -> Result<(String, String), GoParseError> {
    let missing_port = || GoParseError(format!("address {hostport}: missing port in address"));
    let too_many = || GoParseError(format!("address {hostport}: too many colons in address"));
    let Some(i) = hostport.rfind(':') else {
        return Err(missing_port());
    };
    let (host, j, k);
    if hostport.starts_with('[') {
        let Some(end) = hostport.find(']') else {
            return Err(GoParseError(format!(
                "address {hostport}: missing ']' in address"
            )));
        };
        if end + 1 == hostport.len() {
            return Err(missing_port());
        }
        if end + 1 != i {
            return Err(if hostport.as_bytes()[end + 1] == b':' {
                too_many()
            } else {
                missing_port()
            });
        }
        host = &hostport[1..end];
        j = 1;
        k = end + 1;
    } else {
        host = &hostport[..i];
        if host.contains(':') {
            return Err(too_many());
        }
        j = 0;
        k = 0;
    }
    if hostport[j..].contains('[') {
        return Err(GoParseError(format!(
            "address {hostport}: unexpected '[' in address"
        )));
    }
    if hostport[k..].contains(']') {
        return Err(GoParseError(format!(
            "address {hostport}: unexpected ']' in address"
        )));
    }
    Ok((host.to_string(), hostport[i + 1..].to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheme_rules_match_go() {
        assert!(parse("192.168.1.1:623").is_err());
        let u = parse("my.host.example.com:623").unwrap();
        assert_eq!(u.scheme, "my.host.example.com");
        assert_eq!(u.opaque, "623");
        let u = parse("REDFISH://h/x").unwrap();
        assert_eq!(u.scheme, "redfish");
        assert_eq!(u.path, "/x");
        assert!(parse(":foo").is_err());
    }

    #[test]
    fn hosts_and_ports() {
        let u = parse("ipmi://[fe80::1]:623").unwrap();
        assert_eq!(u.hostname(), "fe80::1");
        assert_eq!(u.port(), "623");
        let u = parse("redfish://admin:pw@10.0.0.1/redfish/v1/Systems/1?x=1").unwrap();
        assert_eq!(u.hostname(), "10.0.0.1");
        assert_eq!(u.path, "/redfish/v1/Systems/1");
        assert_eq!(u.raw_query, "x=1");
        assert!(parse("ipmi://host:12a").is_err());
        assert!(parse("ipmi://a b").is_err());
        assert!(parse("ipmi://[::1").is_err());
    }

    #[test]
    fn split_host_port_like_go() {
        assert_eq!(
            split_host_port("[fe80::1]:6233").unwrap(),
            ("fe80::1".to_string(), "6233".to_string())
        );
        assert!(split_host_port("[fe80::1]").is_err());
        assert!(split_host_port("00:11:22:33:44:55").is_err());
        assert!(split_host_port("host").is_err());
    }
}
