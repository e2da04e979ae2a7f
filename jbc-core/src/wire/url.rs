//! [`normalize_url`]: what a node's URL must look like (PROTOCOL.md §7.1),
//! checked the same way by every client and by a node adding a peer.

use alloc::format;
use alloc::string::{String, ToString};

/// Why a text is not a node's URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadUrl(pub String);

/// Checks a node's base URL and gives its one spelling: `http://` or
/// `https://` (any case), a host (a name, an IPv4 address or a bracketed
/// IPv6 address, ASCII only), an optional port, an optional path; no
/// credentials, query or fragment. The scheme and host are lowercased, a
/// default port (80 for `http`, 443 for `https`) is dropped and so are
/// trailing `/`s: `HTTP://Node.Example:80/jbc/` is `http://node.example/jbc`.
///
/// ```
/// use jbc_core::wire::normalize_url;
///
/// assert_eq!(normalize_url(" http://127.0.0.1:5001/ ").unwrap(), "http://127.0.0.1:5001");
/// assert!(normalize_url("127.0.0.1:5000").is_err());
/// assert!(normalize_url("http://user:pw@node.example").is_err());
/// ```
pub fn normalize_url(url: &str) -> Result<String, BadUrl> {
    let bad = |why: &str| BadUrl(format!("{url:?} {why}"));
    let trimmed = url.trim();
    let (scheme, rest) = trimmed
        .split_once("://")
        .map(|(scheme, rest)| (scheme.to_ascii_lowercase(), rest))
        .filter(|(scheme, _)| scheme == "http" || scheme == "https")
        .ok_or_else(|| bad("must start with http:// or https://"))?;
    if rest.contains(['?', '#']) {
        return Err(bad("must not have a query or fragment"));
    }
    if let Some(c) = rest.chars().find(|c| !c.is_ascii_graphic()) {
        return Err(bad(&format!("is not a URL: {c:?} is not allowed")));
    }
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    if authority.contains('@') {
        return Err(bad("must not contain credentials"));
    }
    let (host, port) = split_host_port(authority).map_err(&bad)?;
    check_path(path).map_err(bad)?;
    let default_port = if scheme == "http" { 80 } else { 443 };
    let mut normal = format!("{scheme}://{}", host.to_ascii_lowercase());
    if let Some(port) = port.filter(|p| *p != default_port) {
        normal.push(':');
        normal.push_str(&port.to_string());
    }
    normal.push_str(path);
    let kept = normal.trim_end_matches('/').len();
    normal.truncate(kept);
    Ok(normal)
}

/// The host and port of `host[:port]` or `[v6][:port]`.
fn split_host_port(authority: &str) -> Result<(&str, Option<u16>), &'static str> {
    let (host, port) = if authority.starts_with('[') {
        let end = authority.find(']').ok_or("has an unclosed [ in its host")?;
        let (host, after) = authority.split_at(end + 1);
        let inner = &host[1..host.len() - 1];
        if !inner.contains(':')
            || !inner
                .chars()
                .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
        {
            return Err("has an invalid IPv6 address");
        }
        match after {
            "" => (host, None),
            _ => (
                host,
                Some(after.strip_prefix(':').ok_or("has an invalid port")?),
            ),
        }
    } else {
        match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err("has no host");
    }
    let name_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_');
    if !host.starts_with('[') && !host.chars().all(name_char) {
        return Err("has an invalid host");
    }
    let port = match port {
        None | Some("") => None,
        Some(digits) => Some(
            digits
                .parse::<u16>()
                .ok()
                .filter(|_| digits.bytes().all(|b| b.is_ascii_digit()))
                .ok_or("has an invalid port")?,
        ),
    };
    Ok((host, port))
}

/// A path of plain segments: URL characters only, `%` escapes well formed,
/// no `.` or `..` segment.
fn check_path(path: &str) -> Result<(), &'static str> {
    let allowed = |c: u8| c.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/%".contains(&c);
    let bytes = path.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if !allowed(b) {
            return Err("has a character a URL path cannot hold");
        }
        if b == b'%'
            && !(bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
        {
            return Err("has a malformed % escape");
        }
    }
    if path
        .split('/')
        .any(|segment| segment == "." || segment == "..")
    {
        return Err("must not have . or .. in its path");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_and_normalised() {
        for (given, normal) in [
            ("http://127.0.0.1:5001/", "http://127.0.0.1:5001"),
            ("https://node.example/jbc", "https://node.example/jbc"),
            ("HTTP://Node.Example:80/jbc/", "http://node.example/jbc"),
            ("https://node.example:443", "https://node.example"),
            ("http://node.example:443", "http://node.example:443"),
            ("http://[::1]:5000", "http://[::1]:5000"),
            ("http://[FE80::1]", "http://[fe80::1]"),
            ("  http://localhost:05000//  ", "http://localhost:5000"),
            ("http://a:/", "http://a"),
            ("http://a/b%20c", "http://a/b%20c"),
        ] {
            assert_eq!(normalize_url(given).as_deref(), Ok(normal), "{given}");
        }
        for bad in [
            "ftp://x",
            "127.0.0.1:5000",
            "",
            "http://",
            "http:///x",
            "http://a/?q=1",
            "http://a/#f",
            "http://u:p@a/",
            "http://u@a/",
            "http:/127.0.0.1:1",
            "http:127.0.0.1:2",
            "é",
            "http://é.example",
            "http://a b",
            "http://a:65536",
            "http://a:+1",
            "http://a:x",
            "http://[::1",
            "http://[zz]",
            "http://a/%zz",
            "http://a/../b",
            "http://a/./b",
            "http://a\\b",
        ] {
            assert!(normalize_url(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn the_error_says_what_is_wrong() {
        let error = normalize_url("ftp://example").unwrap_err();
        assert!(error.0.contains("http://"), "{error}");
        assert!(
            normalize_url("http://u:p@a")
                .unwrap_err()
                .0
                .contains("credentials")
        );
    }
}
