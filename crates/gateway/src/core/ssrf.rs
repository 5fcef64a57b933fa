//! The guard against server-side request forgery, shared by everything that
//! makes the gateway connect to an address a client chose (`file_url`
//! uploads, webhook endpoints): such targets must be public unless the
//! operator allows private ones. A host is resolved once and the connection
//! pinned to addresses that passed, and redirects are never followed, so
//! neither DNS rebinding nor a redirect reaches the gateway's own network.
//! Targets kept for later (a `customProxy`) are pinned: stored as the
//! address that passed ([`pin`]), so no later lookup can answer otherwise.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use futures::future::BoxFuture;

/// Resolves host names: the system's resolver ([`SystemLookup`]), or in
/// tests one that answers what the test needs (e.g. a rebinding name).
pub trait Lookup: Send + Sync {
    fn lookup<'a>(
        &'a self,
        host: &'a str,
        port: u16,
    ) -> BoxFuture<'a, std::io::Result<Vec<SocketAddr>>>;
}

/// The system's resolver (`getaddrinfo`, through tokio).
pub struct SystemLookup;

impl Lookup for SystemLookup {
    fn lookup<'a>(
        &'a self,
        host: &'a str,
        port: u16,
    ) -> BoxFuture<'a, std::io::Result<Vec<SocketAddr>>> {
        Box::pin(async move { Ok(tokio::net::lookup_host((host, port)).await?.collect()) })
    }
}

/// An http(s) URL with a host, or why not.
pub fn parse_target(raw: &str) -> Result<url::Url, String> {
    let parsed = url::Url::parse(raw).map_err(|e| format!("not a valid URL ({e})"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err("must be an http or https URL".into());
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err("has no host".into());
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("must not carry credentials".into());
    }
    Ok(parsed)
}

/// The URL's host without IPv6 brackets.
pub fn host_of(url: &url::Url) -> String {
    url.host_str()
        .unwrap_or_default()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned()
}

/// Resolves `host` once and keeps the addresses the gateway may connect to;
/// an error when there are none.
pub async fn resolve(
    host: &str,
    port: u16,
    allow_private: bool,
) -> Result<Vec<SocketAddr>, String> {
    resolve_with(&SystemLookup, host, port, allow_private).await
}

/// [`resolve`] through `lookup`.
pub async fn resolve_with(
    lookup: &dyn Lookup,
    host: &str,
    port: u16,
    allow_private: bool,
) -> Result<Vec<SocketAddr>, String> {
    let addrs: Vec<SocketAddr> = lookup
        .lookup(host, port)
        .await
        .map_err(|e| format!("host {host} does not resolve ({e})"))?;
    let allowed: Vec<SocketAddr> = addrs
        .into_iter()
        .filter(|a| allow_private || is_public(a.ip()))
        .collect();
    if allowed.is_empty() {
        return Err(format!("host {host} is not a public address"));
    }
    Ok(allowed)
}

/// Resolves `host` once and answers the one address every later connection
/// must use: the first that passed the guard. A target kept for later (a
/// proxy) is stored as this address, so a name that answers a public
/// address now and a private one later (DNS rebinding) still reaches only
/// the address that was checked.
pub async fn pin(
    lookup: &dyn Lookup,
    host: &str,
    port: u16,
    allow_private: bool,
) -> Result<SocketAddr, String> {
    let allowed = resolve_with(lookup, host, port, allow_private).await?;
    allowed
        .into_iter()
        .next()
        .ok_or_else(|| format!("host {host} is not a public address"))
}

/// Checks a URL the way a connection to it will be checked: scheme, host,
/// and that the host resolves to an allowed address.
pub async fn check_url(raw: &str, allow_private: bool) -> Result<url::Url, String> {
    let url = parse_target(raw)?;
    let port = url.port_or_known_default().unwrap_or(443);
    resolve(&host_of(&url), port, allow_private).await?;
    Ok(url)
}

/// A reqwest resolver that answers only allowed addresses, so a long-lived
/// client (with its connection pool) keeps the guard on every new
/// connection. Hosts given as IP literals never reach a resolver: check
/// those with [`literal_allowed`] before sending.
pub struct GuardedResolver {
    pub allow_private: bool,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow_private = self.allow_private;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs = resolve(&host, 0, allow_private).await?;
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

impl GuardedResolver {
    pub fn shared(allow_private: bool) -> Arc<GuardedResolver> {
        Arc::new(GuardedResolver { allow_private })
    }
}

/// For a URL whose host is an IP literal: whether it may be contacted.
/// Host names answer `true` here (the resolver checks them).
pub fn literal_allowed(url: &url::Url, allow_private: bool) -> bool {
    match host_of(url).parse::<IpAddr>() {
        Ok(ip) => allow_private || is_public(ip),
        Err(_) => true,
    }
}

/// Addresses a client may make the gateway connect to: not loopback,
/// private, link-local, shared, unspecified, multicast or documentation.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || o[0] == 0
                || (o[0] == 100 && (64..128).contains(&o[1])))
        }
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public(IpAddr::V4(v4)),
            None => {
                let seg = v6.segments()[0];
                !(v6.is_loopback()
                    || v6.is_unspecified()
                    || v6.is_multicast()
                    || (seg & 0xfe00) == 0xfc00
                    || (seg & 0xffc0) == 0xfe80)
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_are_allowed() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.0.1",
            "172.16.5.5",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in ["93.184.216.34", "2606:4700::6810:84e5"] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    #[test]
    fn targets_must_be_plain_http_urls() {
        assert!(parse_target("ftp://example.com/x").is_err());
        assert!(parse_target("https://user:pw@example.com/x").is_err());
        assert!(parse_target("not a url").is_err());
        assert!(parse_target("https://example.com/hook").is_ok());
        let u = parse_target("http://[::1]:8080/").unwrap();
        assert!(!literal_allowed(&u, false));
        assert!(literal_allowed(&u, true));
    }
}
