//! `--probe` specifications: which protocol to speak, where, and for how
//! long. Input is one string as the user wrote it, e.g.
//! `milter:127.0.0.1:8891`, `clamd:unix:/run/clamav/clamd.ctl` or
//! `http:http://127.0.0.1:8080/health`. `parse` does no I/O: names are
//! resolved when probed, so a name that stops resolving shows up in the
//! samples instead of stopping the recorder from starting.

use crate::error::BadInput;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long a probe may take, resolution and answer included, unless the
/// configuration says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);

const FORMS: &str = "tcp:HOST:PORT, smtp:HOST:PORT, milter:HOST:PORT, milter:unix:/PATH, \
                     clamd:HOST:PORT, clamd:unix:/PATH or http:http://HOST[:PORT]/PATH, \
                     where HOST is an IPv4 address, a bracketed IPv6 address like [::1], or a name";

/// `sun_path` holds 108 bytes including the terminating NUL.
const UNIX_PATH_MAX: usize = 107;

/// What is asked once connected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Protocol {
    /// Nothing, or the first line against the expected banner prefix.
    Tcp,
    /// The greeting, then `QUIT`.
    Smtp,
    /// The mail-filter option negotiation.
    Milter,
    /// ClamAV's `PING`.
    Clamd,
    /// `GET path` with `Host: authority`, as written in the URL.
    Http { authority: String, path: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    Ip(IpAddr),
    /// Resolved at every probe.
    Name(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Inet { host: Host, port: u16 },
    Unix(PathBuf),
}

/// One configured probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeSpec {
    target: String,
    protocol: Protocol,
    endpoint: Endpoint,
    timeout: Duration,
    expect: Option<String>,
}

impl ProbeSpec {
    /// Bounds the whole probe: resolution, connect and answer.
    pub fn with_timeout(self, timeout: Duration) -> Self {
        ProbeSpec { timeout, ..self }
    }

    /// The prefix the first line must start with: any banner for `tcp`
    /// (which then waits for a line instead of only connecting), the
    /// greeting for `smtp` (otherwise `220`). The other protocols check
    /// their own answer and ignore it.
    pub fn with_expect(self, expect: String) -> Self {
        ProbeSpec { expect: Some(expect), ..self }
    }

    /// The spec as written, trimmed: the probe's identity across samples.
    pub fn target(&self) -> &str {
        &self.target
    }

    pub fn protocol(&self) -> &Protocol {
        &self.protocol
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    pub fn expect(&self) -> Option<&str> {
        self.expect.as_deref()
    }
}

/// Reads one `--probe` value.
pub fn parse(spec: &str) -> Result<ProbeSpec, BadInput> {
    let target = spec.trim();
    let bad = |reason: String| BadInput::BadValue {
        option: "--probe",
        value: target.to_string(),
        reason: format!("{reason}; expected {FORMS}"),
    };
    let (name, rest) = target.split_once(':').ok_or_else(|| bad("no protocol before ':'".into()))?;
    let (protocol, endpoint) = match name {
        "tcp" => (Protocol::Tcp, inet(rest).map_err(bad)?),
        "smtp" => (Protocol::Smtp, inet(rest).map_err(bad)?),
        "milter" => (Protocol::Milter, inet_or_unix(rest).map_err(bad)?),
        "clamd" => (Protocol::Clamd, inet_or_unix(rest).map_err(bad)?),
        "http" => http(rest).map_err(bad)?,
        _ => return Err(bad(format!("unknown protocol {name:?}"))),
    };
    Ok(ProbeSpec { target: target.to_string(), protocol, endpoint, timeout: DEFAULT_TIMEOUT, expect: None })
}

fn inet_or_unix(text: &str) -> Result<Endpoint, String> {
    match text.strip_prefix("unix:") {
        Some(path) => unix(path),
        None => inet(text),
    }
}

fn unix(path: &str) -> Result<Endpoint, String> {
    if !path.starts_with('/') {
        return Err(format!("socket path {path:?} is not absolute"));
    }
    if path.len() > UNIX_PATH_MAX || path.contains('\0') {
        return Err(format!("socket path {path:?} is longer than {UNIX_PATH_MAX} bytes or holds a NUL"));
    }
    Ok(Endpoint::Unix(Path::new(path).to_path_buf()))
}

/// `HOST:PORT`, the port after the last colon so that `[::1]:25` works.
fn inet(text: &str) -> Result<Endpoint, String> {
    let (host, port) = text.rsplit_once(':').ok_or_else(|| format!("{text:?} has no :PORT"))?;
    Ok(Endpoint::Inet { host: host_part(host)?, port: port_part(port)? })
}

fn port_part(text: &str) -> Result<u16, String> {
    match text.parse::<u16>() {
        Ok(port) if port > 0 => Ok(port),
        _ => Err(format!("port {text:?} is not a number from 1 to 65535")),
    }
}

fn host_part(text: &str) -> Result<Host, String> {
    if let Some(inner) = text.strip_prefix('[') {
        let inner = inner.strip_suffix(']').ok_or_else(|| format!("host {text:?} has no closing ']'"))?;
        let ip: Ipv6Addr = inner.parse().map_err(|_| format!("{inner:?} is not an IPv6 address"))?;
        return Ok(Host::Ip(ip.into()));
    }
    if text.is_empty() {
        return Err("the host is empty".into());
    }
    if text.parse::<Ipv6Addr>().is_ok() {
        return Err(format!("write IPv6 addresses in brackets: [{text}]"));
    }
    if let Ok(ip) = text.parse::<Ipv4Addr>() {
        return Ok(Host::Ip(ip.into()));
    }
    if is_name(text) {
        return Ok(Host::Name(text.to_string()));
    }
    Err(format!("host {text:?} is neither an address nor a host name"))
}

/// Letters, digits, '-' and '_' in dot-separated labels of 1 to 63 bytes.
fn is_name(text: &str) -> bool {
    text.len() <= 253
        && text.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// `http://HOST[:PORT][/PATH][?QUERY]`; the fragment is the client's and
/// is dropped.
fn http(url: &str) -> Result<(Protocol, Endpoint), String> {
    let Some(rest) = url.strip_prefix("http://") else {
        if url.starts_with("https://") {
            return Err("https is not supported, only plain http".into());
        }
        return Err(format!("{url:?} is not an http:// URL"));
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    if authority.contains('@') {
        return Err("user names in the URL are not supported".into());
    }
    let path = path.split('#').next().unwrap_or_default();
    if path.bytes().any(|b| b.is_ascii_whitespace() || b.is_ascii_control()) {
        return Err(format!("path {path:?} holds spaces or control characters"));
    }
    let path = match path {
        "" => "/".to_string(),
        query if query.starts_with('?') => format!("/{query}"),
        path => path.to_string(),
    };
    let endpoint = if authority.ends_with(']') || !authority.contains(':') {
        Endpoint::Inet { host: host_part(authority)?, port: 80 }
    } else {
        inet(authority)?
    };
    let protocol = Protocol::Http { authority: authority.to_string(), path };
    Ok((protocol, endpoint))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inet_endpoint(host: Host, port: u16) -> Endpoint {
        Endpoint::Inet { host, port }
    }

    #[test]
    fn parses_every_form() {
        let v4 = |a, b, c, d| Host::Ip(IpAddr::V4(Ipv4Addr::new(a, b, c, d)));
        let cases = [
            ("tcp:127.0.0.1:25", Protocol::Tcp, inet_endpoint(v4(127, 0, 0, 1), 25)),
            ("smtp:mail.example.org:587", Protocol::Smtp, {
                inet_endpoint(Host::Name("mail.example.org".into()), 587)
            }),
            ("milter:localhost:8891", Protocol::Milter, {
                inet_endpoint(Host::Name("localhost".into()), 8891)
            }),
            ("milter:[::1]:8891", Protocol::Milter, {
                inet_endpoint(Host::Ip(IpAddr::V6(Ipv6Addr::LOCALHOST)), 8891)
            }),
            (
                "milter:unix:/var/run/clamav/clamav-milter.ctl",
                Protocol::Milter,
                Endpoint::Unix("/var/run/clamav/clamav-milter.ctl".into()),
            ),
            ("clamd:127.0.0.1:3310", Protocol::Clamd, inet_endpoint(v4(127, 0, 0, 1), 3310)),
            (
                "clamd:unix:/run/clamav/clamd.ctl",
                Protocol::Clamd,
                Endpoint::Unix("/run/clamav/clamd.ctl".into()),
            ),
        ];
        for (text, protocol, endpoint) in cases {
            let spec = parse(text).unwrap();
            assert_eq!(spec.target(), text);
            assert_eq!(spec.protocol(), &protocol, "{text}");
            assert_eq!(spec.endpoint(), &endpoint, "{text}");
            assert_eq!(spec.timeout(), DEFAULT_TIMEOUT);
            assert_eq!(spec.expect(), None);
        }
    }

    #[test]
    fn parses_http_urls() {
        let cases = [
            ("http:http://127.0.0.1:8080/path", "127.0.0.1:8080", "/path", 8080),
            ("http:http://127.0.0.1", "127.0.0.1", "/", 80),
            ("http:http://localhost/?probe=1#top", "localhost", "/?probe=1", 80),
            ("http:http://localhost?probe=1", "localhost", "/?probe=1", 80),
            ("http:http://[::1]:8080/status", "[::1]:8080", "/status", 8080),
            ("http:http://[::1]/", "[::1]", "/", 80),
        ];
        for (text, authority, path, port) in cases {
            let spec = parse(text).unwrap();
            let expected = Protocol::Http { authority: authority.into(), path: path.into() };
            assert_eq!(spec.protocol(), &expected, "{text}");
            let Endpoint::Inet { port: got, .. } = spec.endpoint() else {
                panic!("{text}: not an inet endpoint");
            };
            assert_eq!(*got, port, "{text}");
        }
    }

    #[test]
    fn trims_and_keeps_the_spec_as_written() {
        let spec = parse("  smtp:127.0.0.1:25\n").unwrap();
        assert_eq!(spec.target(), "smtp:127.0.0.1:25");
    }

    #[test]
    fn builders_set_timeout_and_expect() {
        let spec = parse("tcp:127.0.0.1:22")
            .unwrap()
            .with_timeout(Duration::from_millis(250))
            .with_expect("SSH-".into());
        assert_eq!(spec.timeout(), Duration::from_millis(250));
        assert_eq!(spec.expect(), Some("SSH-"));
    }

    #[test]
    fn rejects_garbage_naming_the_spec_and_the_forms() {
        let cases = [
            ("", "no protocol"),
            ("tcp:", "has no :PORT"),
            ("tcp:host", "has no :PORT"),
            ("tcp::25", "host is empty"),
            ("tcp:host:99999", "port \"99999\""),
            ("tcp:host:0", "port \"0\""),
            ("tcp:host:x", "port \"x\""),
            ("tcp:::1:25", "brackets: [::1]"),
            ("tcp:[::1:25", "no closing"),
            ("tcp:[nonsense]:25", "not an IPv6 address"),
            ("tcp:bad host:25", "neither an address nor a host name"),
            ("tcp:a..b:25", "neither an address nor a host name"),
            ("ftp:x:1", "unknown protocol \"ftp\""),
            ("milter:unix:relative.sock", "not absolute"),
            ("clamd:unix:", "not absolute"),
            ("http:https://127.0.0.1/", "https is not supported"),
            ("http:127.0.0.1:80", "not an http:// URL"),
            ("http:http://", "host is empty"),
            ("http:http://user@host/", "user names"),
            ("http:http://host/a b", "spaces or control"),
            ("http:http://host:99999/", "port \"99999\""),
        ];
        for (text, reason) in cases {
            let message = parse(text).unwrap_err().to_string();
            assert!(message.starts_with(&format!("--probe {:?}: ", text.trim())), "{text}: {message}");
            assert!(message.contains(reason), "{text}: {message}");
            assert!(message.contains("milter:unix:/PATH"), "{text}: {message}");
        }
    }

    #[test]
    fn rejects_unix_paths_too_long_for_a_socket() {
        let long = format!("clamd:unix:/{}", "x".repeat(UNIX_PATH_MAX));
        let message = parse(&long).unwrap_err().to_string();
        assert!(message.contains("longer than 107 bytes"), "{message}");
    }
}
