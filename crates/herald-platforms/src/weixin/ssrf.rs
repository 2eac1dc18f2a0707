//! The CDN host allowlist: inbound media URLs come from the peer's message (`full_url`),
//! so before fetching one — and every redirect it leads to — its host must be a known
//! WeChat CDN host, or the bot could be made to fetch internal addresses (SSRF).
//!
//! URLs are parsed with the `url` crate, the parser reqwest itself uses, so the host
//! checked here is the host that would be connected to (after WHATWG normalisation:
//! lowercase, percent-decoding, numeric IPv4 forms, `\` as `/`).

use std::net::IpAddr;

use url::{Host, Url};

/// Hermes's allowlist of hosts `full_url` may point at (§12.6).
pub const DEFAULT_CDN_HOSTS: &[&str] = &[
    "novac2c.cdn.weixin.qq.com",
    "ilinkai.weixin.qq.com",
    "wx.qlogo.cn",
    "thirdwx.qlogo.cn",
    "res.wx.qq.com",
    "mmbiz.qpic.cn",
    "mmbiz.qlogo.cn",
];

/// [`DEFAULT_CDN_HOSTS`] as owned strings, the shape configuration holds.
pub fn default_cdn_hosts() -> Vec<String> {
    DEFAULT_CDN_HOSTS.iter().map(|h| (*h).to_string()).collect()
}

/// Why a URL was refused. Carries the scheme or host, never the path or query (the
/// query holds the encrypted media parameter).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SsrfError {
    #[error("media URL does not parse")]
    Invalid,
    #[error("media URL scheme {0:?} refused: only http and https")]
    Scheme(String),
    #[error("media URL with user info refused")]
    Userinfo,
    #[error("media URL has no host")]
    NoHost,
    #[error("media URL host {0:?} is not an allowed CDN host")]
    HostNotAllowed(String),
    #[error("media URL IP address {0} is not an allowed CDN host")]
    IpLiteral(IpAddr),
}

/// An allowlist entry: `host` (any port) or `host:port` / `[v6]:port` (only that port).
struct Entry<'a> {
    host: &'a str,
    port: Option<u16>,
}

fn parse_entry(raw: &str) -> Entry<'_> {
    let raw = raw.trim();
    if let Some(rest) = raw.strip_prefix('[') {
        // [v6] or [v6]:port
        if let Some((host, after)) = rest.split_once(']') {
            let port = after.strip_prefix(':').and_then(|p| p.parse().ok());
            return Entry { host, port };
        }
    }
    // One colon is host:port; more is a bare IPv6 address.
    match raw.split_once(':') {
        Some((host, port)) if !port.contains(':') => match port.parse() {
            Ok(port) => Entry { host, port: Some(port) },
            Err(_) => Entry { host: raw, port: None },
        },
        _ => Entry { host: raw, port: None },
    }
}

fn entry_matches(entry: &Entry<'_>, host: &Host<&str>, port: Option<u16>) -> bool {
    if entry.port.is_some() && entry.port != port {
        return false;
    }
    match host {
        Host::Domain(d) => entry.host.eq_ignore_ascii_case(d),
        Host::Ipv4(ip) => entry.host.parse::<IpAddr>().is_ok_and(|e| e == IpAddr::V4(*ip)),
        Host::Ipv6(ip) => entry.host.parse::<IpAddr>().is_ok_and(|e| e == IpAddr::V6(*ip)),
    }
}

/// Checks a media URL (or a redirect target) before it is fetched: `http`/`https` only,
/// no user info, and the host equal (case-insensitively) to an entry of `allowed_hosts`.
/// IP literals pass only when that address is itself listed. An entry may carry a port
/// (`127.0.0.1:8080`) to allow only that port; without one, any port is allowed.
///
/// Subdomains are not implied: `evil.novac2c.cdn.weixin.qq.com` needs its own entry.
pub fn check_cdn_url(url: &str, allowed_hosts: &[String]) -> Result<Url, SsrfError> {
    let parsed = Url::parse(url.trim()).map_err(|_| SsrfError::Invalid)?;
    match parsed.scheme() {
        "http" | "https" => {}
        other => return Err(SsrfError::Scheme(other.to_string())),
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(SsrfError::Userinfo);
    }
    let host = parsed.host().ok_or(SsrfError::NoHost)?;
    let port = parsed.port_or_known_default();
    if allowed_hosts.iter().map(|e| parse_entry(e)).any(|e| entry_matches(&e, &host, port)) {
        return Ok(parsed);
    }
    Err(match host {
        Host::Domain(d) => SsrfError::HostNotAllowed(d.to_string()),
        Host::Ipv4(ip) => SsrfError::IpLiteral(IpAddr::V4(ip)),
        Host::Ipv6(ip) => SsrfError::IpLiteral(IpAddr::V6(ip)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> Vec<String> {
        default_cdn_hosts()
    }

    fn list(hosts: &[&str]) -> Vec<String> {
        hosts.iter().map(|h| (*h).to_string()).collect()
    }

    #[test]
    fn every_default_host_is_accepted() {
        for host in DEFAULT_CDN_HOSTS {
            for scheme in ["http", "https"] {
                let url = format!("{scheme}://{host}/c2c/download?encrypted_query_param=abc%2B");
                let got = check_cdn_url(&url, &defaults()).unwrap();
                assert_eq!(got.host_str(), Some(*host));
                assert_eq!(got.query(), Some("encrypted_query_param=abc%2B"));
            }
        }
    }

    #[test]
    fn schemes_other_than_http_are_refused() {
        for (url, scheme) in [
            ("file:///etc/passwd", "file"),
            ("ftp://novac2c.cdn.weixin.qq.com/x", "ftp"),
            ("gopher://novac2c.cdn.weixin.qq.com/x", "gopher"),
            ("data:text/plain,hi", "data"),
            ("javascript:alert(1)", "javascript"),
            ("ws://novac2c.cdn.weixin.qq.com/x", "ws"),
        ] {
            assert_eq!(check_cdn_url(url, &defaults()), Err(SsrfError::Scheme(scheme.into())), "{url}");
        }
        assert!(check_cdn_url("HTTPS://novac2c.cdn.weixin.qq.com/x", &defaults()).is_ok());
    }

    #[test]
    fn unparsable_and_relative_urls_are_refused() {
        for url in ["", "novac2c.cdn.weixin.qq.com/x", "/download?x=1", "http://", "https://[::1/"] {
            assert!(check_cdn_url(url, &defaults()).is_err(), "{url:?}");
        }
        assert_eq!(check_cdn_url("not a url", &defaults()), Err(SsrfError::Invalid));
    }

    #[test]
    fn other_hosts_and_lookalikes_are_refused() {
        for (url, host) in [
            ("https://evil.example/x", "evil.example"),
            ("https://novac2c.cdn.weixin.qq.com.evil.example/x", "novac2c.cdn.weixin.qq.com.evil.example"),
            ("https://evil.novac2c.cdn.weixin.qq.com/x", "evil.novac2c.cdn.weixin.qq.com"),
            ("https://qq.com/x", "qq.com"),
            ("https://localhost/x", "localhost"),
            ("https://novac2c.cdn.weixin.qq.com./x", "novac2c.cdn.weixin.qq.com."),
            // WHATWG treats `\` as `/`: the host is evil.example, not the part after `@`.
            ("https://evil.example\\@novac2c.cdn.weixin.qq.com/x", "evil.example"),
            ("https://evil.example#@novac2c.cdn.weixin.qq.com/x", "evil.example"),
            ("https://evil.example?@novac2c.cdn.weixin.qq.com/x", "evil.example"),
        ] {
            assert_eq!(check_cdn_url(url, &defaults()), Err(SsrfError::HostNotAllowed(host.into())), "{url}");
        }
    }

    #[test]
    fn userinfo_is_refused_even_on_allowed_hosts() {
        for url in [
            "https://user@novac2c.cdn.weixin.qq.com/x",
            "https://user:pw@novac2c.cdn.weixin.qq.com/x",
            "https://:pw@novac2c.cdn.weixin.qq.com/x",
            "https://novac2c.cdn.weixin.qq.com@evil.example/x",
        ] {
            assert_eq!(check_cdn_url(url, &defaults()), Err(SsrfError::Userinfo), "{url}");
        }
    }

    #[test]
    fn host_case_and_percent_encoding_are_normalised() {
        let got = check_cdn_url("https://NovaC2C.CDN.WeiXin.QQ.com/x", &defaults()).unwrap();
        assert_eq!(got.host_str(), Some("novac2c.cdn.weixin.qq.com"));
        assert!(check_cdn_url("https://%6eovac2c.cdn.weixin.qq.com/x", &defaults()).is_ok());
        assert!(check_cdn_url("https://wx.qlogo.cn/x", &list(&["WX.QLOGO.CN"])).is_ok());
        assert!(check_cdn_url("https://wx.qlogo.cn/x", &list(&[" wx.qlogo.cn "])).is_ok());
    }

    #[test]
    fn ip_literals_are_refused_unless_listed() {
        use std::net::{Ipv4Addr, Ipv6Addr};
        let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
        for url in [
            "http://127.0.0.1/x",
            "http://127.0.0.1:8080/x",
            // Numeric forms WHATWG reads as IPv4, as reqwest would connect to them.
            "http://2130706433/x",
            "http://0x7f.1/x",
            "http://0177.0.0.1/x",
        ] {
            assert_eq!(check_cdn_url(url, &defaults()), Err(SsrfError::IpLiteral(lo)), "{url}");
        }
        assert_eq!(
            check_cdn_url("http://169.254.169.254/latest/meta-data", &defaults()),
            Err(SsrfError::IpLiteral("169.254.169.254".parse().unwrap()))
        );
        assert_eq!(
            check_cdn_url("http://[::1]/x", &defaults()),
            Err(SsrfError::IpLiteral(IpAddr::V6(Ipv6Addr::LOCALHOST)))
        );

        let allowed = list(&["127.0.0.1", "::1"]);
        assert!(check_cdn_url("http://127.0.0.1:41234/download", &allowed).is_ok());
        assert!(check_cdn_url("http://2130706433/x", &allowed).is_ok());
        assert!(check_cdn_url("http://[::1]:9/x", &allowed).is_ok());
        assert!(check_cdn_url("http://[0:0:0:0:0:0:0:1]/x", &list(&["[::1]"])).is_ok());
        assert_eq!(
            check_cdn_url("http://127.0.0.2/x", &allowed),
            Err(SsrfError::IpLiteral("127.0.0.2".parse().unwrap()))
        );
        // An IP entry does not allow a name that resolves to it, nor the reverse.
        assert!(check_cdn_url("http://localhost/x", &allowed).is_err());
        assert!(check_cdn_url("http://127.0.0.1/x", &list(&["localhost"])).is_err());
    }

    #[test]
    fn ports_any_unless_the_entry_names_one() {
        assert!(check_cdn_url("https://novac2c.cdn.weixin.qq.com:8443/x", &defaults()).is_ok());
        let pinned = list(&["127.0.0.1:8080", "[::1]:8080", "cdn.test:443"]);
        assert!(check_cdn_url("http://127.0.0.1:8080/x", &pinned).is_ok());
        assert!(check_cdn_url("http://127.0.0.1:8081/x", &pinned).is_err());
        assert!(check_cdn_url("http://127.0.0.1/x", &pinned).is_err());
        assert!(check_cdn_url("http://[::1]:8080/x", &pinned).is_ok());
        assert!(check_cdn_url("http://[::1]:80/x", &pinned).is_err());
        // The scheme's default port counts: https without a port is 443.
        assert!(check_cdn_url("https://cdn.test/x", &pinned).is_ok());
        assert!(check_cdn_url("http://cdn.test/x", &pinned).is_err());
    }

    #[test]
    fn empty_allowlist_refuses_everything() {
        assert_eq!(
            check_cdn_url("https://novac2c.cdn.weixin.qq.com/x", &[]),
            Err(SsrfError::HostNotAllowed("novac2c.cdn.weixin.qq.com".into()))
        );
    }

    #[test]
    fn errors_do_not_carry_the_query() {
        let err = check_cdn_url("https://evil.example/d?encrypted_query_param=SECRETPARAM", &defaults()).unwrap_err();
        assert!(!err.to_string().contains("SECRETPARAM"));
        let err = check_cdn_url("https://u:SECRETPW@novac2c.cdn.weixin.qq.com/", &defaults()).unwrap_err();
        assert!(!err.to_string().contains("SECRETPW"));
    }
}
