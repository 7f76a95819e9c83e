//! Where webhooks may be sent: `http` or `https` URLs whose host is not a private, loopback or
//! link-local address (unless `LOCKBRIDGE_WEBHOOK_ALLOW_PRIVATE=true`), checked when an
//! endpoint is saved and again at each delivery — for names, by the HTTP client's resolver, so
//! a name that later resolves to an internal address is refused too.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Whether `ip` is an address of the public internet (an IPv6 address that carries an IPv4
/// one — mapped, compatible, NAT64, 6to4 — is as public as the address it carries).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => {
            let [first, second, third, _] = a.octets();
            !(a.is_private()
                || a.is_loopback()
                || a.is_link_local()
                || a.is_unspecified()
                || a.is_broadcast()
                || a.is_multicast()
                || a.is_documentation()
                // Carrier-grade NAT, 100.64.0.0/10.
                || (first == 100 && (64..128).contains(&second))
                // IETF protocol assignments 192.0.0.0/24, the 6to4 relay 192.88.99.0/24.
                || (first, second, third) == (192, 0, 0)
                || (first, second, third) == (192, 88, 99)
                // Benchmarking, 198.18.0.0/15.
                || (first == 198 && (second & 0xfe) == 18)
                // Reserved, 240.0.0.0/4.
                || first >= 240
                || first == 0)
        }
        IpAddr::V6(a) => {
            let seg = a.segments();
            let v4 = |hi: u16, lo: u16| {
                IpAddr::V4(std::net::Ipv4Addr::new(
                    (hi >> 8) as u8,
                    hi as u8,
                    (lo >> 8) as u8,
                    lo as u8,
                ))
            };
            if let Some(v4) = a.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            // IPv4-compatible ::/96 (:: and ::1 among them) and NAT64 64:ff9b::/96.
            if seg[..6] == [0; 6] || seg[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                return is_public(v4(seg[6], seg[7]));
            }
            // 6to4, 2002::/16: the IPv4 address follows the prefix.
            if seg[0] == 0x2002 {
                return is_public(v4(seg[1], seg[2]));
            }
            !(a.is_loopback()
                || a.is_unspecified()
                || a.is_multicast()
                // Unique local fc00::/7, link-local fe80::/10, site-local fec0::/10.
                || (seg[0] & 0xfe00) == 0xfc00
                || (seg[0] & 0xffc0) == 0xfe80
                || (seg[0] & 0xffc0) == 0xfec0
                // Teredo 2001::/32 (an IPv4 address hidden inside) and documentation
                // 2001:db8::/32.
                || (seg[0] == 0x2001 && (seg[1] == 0 || seg[1] == 0xdb8)))
        }
    }
}

/// Refuses a named host whose addresses are all private (a name that cannot be resolved now
/// passes: it is checked again at each delivery).
pub async fn check_resolved(url: &Url) -> Result<(), String> {
    let Some(name) = url.host_str().filter(|h| {
        h.trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_err()
    }) else {
        return Ok(());
    };
    let port = url.port_or_known_default().unwrap_or(443);
    let Ok(found) = tokio::net::lookup_host((name, port)).await else {
        return Ok(());
    };
    let found: Vec<SocketAddr> = found.collect();
    if !found.is_empty() && !found.iter().any(|a| is_public(a.ip())) {
        return Err(format!(
            "must not resolve to a private, loopback or link-local address ({name} is {}); set LOCKBRIDGE_WEBHOOK_ALLOW_PRIVATE=true to allow it",
            found[0].ip()
        ));
    }
    Ok(())
}

/// Checks an endpoint URL; the error says the rule it breaks.
pub fn check_url(text: &str, allow_private: bool) -> Result<Url, String> {
    let url = Url::parse(text.trim()).map_err(|_| "is not a URL".to_owned())?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("must be an http or https URL".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry a user name or password".into());
    }
    let host = url.host_str().ok_or("must name a host")?;
    if !allow_private {
        let literal = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>();
        if let Ok(ip) = literal
            && !is_public(ip)
        {
            return Err(format!(
                "must not be a private, loopback or link-local address ({ip}); set LOCKBRIDGE_WEBHOOK_ALLOW_PRIVATE=true to allow it"
            ));
        }
        if host.eq_ignore_ascii_case("localhost") || host.ends_with(".localhost") {
            return Err(
                "must not be localhost; set LOCKBRIDGE_WEBHOOK_ALLOW_PRIVATE=true to allow it"
                    .into(),
            );
        }
    }
    Ok(url)
}

/// Resolves names as the system does, keeping only public addresses.
#[derive(Debug)]
struct PublicOnly;

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(async move {
            let found = tokio::net::lookup_host((name.as_str(), 0)).await?;
            let public: Vec<SocketAddr> = found.filter(|a| is_public(a.ip())).collect();
            if public.is_empty() {
                return Err("the name resolves to no public address".into());
            }
            let addrs: Addrs = Box::new(public.into_iter());
            Ok(addrs)
        })
    }
}

/// The HTTP client deliveries are sent with: no redirects (a redirect could lead anywhere), no
/// proxy from the environment (it would resolve names where the check cannot see), `timeout`
/// per attempt, and the public-only resolver unless private targets are allowed.
pub fn client(timeout: std::time::Duration, allow_private: bool) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .timeout(timeout)
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("lockbridge-webhooks/", env!("CARGO_PKG_VERSION")));
    if !allow_private {
        builder = builder.dns_resolver(Arc::new(PublicOnly));
    }
    builder.build().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_targets_are_refused_unless_allowed() {
        for bad in [
            "http://127.0.0.1:9000/hook",
            "http://10.1.2.3/",
            "http://192.168.0.10/",
            "http://172.16.5.4/",
            "http://169.254.169.254/latest/meta-data",
            "http://[::1]/",
            "http://[fd00::1]/",
            "http://[fe80::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://100.64.0.1/",
            "http://0.0.0.0/",
            "http://localhost:8080/",
            "http://[::7f00:1]/",
            "http://[64:ff9b::a00:1]/",
            "http://[2002:c0a8:1::1]/",
            "http://[fec0::1]/",
            "http://[2001:0:4136:e378::1]/",
            "http://198.18.0.1/",
            "http://240.0.0.1/",
            "http://192.0.0.8/",
        ] {
            assert!(check_url(bad, false).is_err(), "{bad}");
            assert!(check_url(bad, true).is_ok(), "{bad} allowed");
        }
        for good in [
            "https://hooks.example.com/lockbridge",
            "http://93.184.216.34/x",
            "http://[64:ff9b::5db8:d822]/",
            "http://[2606:4700::1111]/",
        ] {
            assert!(check_url(good, false).is_ok(), "{good}");
        }
        for malformed in [
            "ftp://example.com/",
            "not a url",
            "https://user:pw@example.com/",
        ] {
            assert!(check_url(malformed, true).is_err(), "{malformed}");
        }
    }
}
