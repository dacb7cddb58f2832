//! Sending email over SMTP (lettre), with the settings from `--smtp-url`,
//! a per-recipient-domain rate limit, and errors sorted into those worth
//! retrying and those that are final.

use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{Message, SmtpTransport, Transport};
use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::time::Duration;

/// How the connection to the SMTP server is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// Plain text (only for a relay on the same host or network).
    None,
    /// Plain connection upgraded with STARTTLS, which is required.
    StartTls,
    /// TLS from the first byte (`smtps://`, usually port 465).
    Tls,
}

/// Where and how email is sent.
#[derive(Clone)]
pub struct MailConfig {
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    pub username: Option<String>,
    pub password: Option<String>,
    /// The From mailbox, e.g. `Acme Sales <sales@acme.example>`.
    pub from: String,
    /// The server's address as recipients reach it, for links in emails.
    pub public_url: String,
    /// Emails per minute to one recipient domain.
    pub per_domain_per_minute: u32,
    /// Attempts before an email is given up as failed.
    pub max_attempts: i64,
    /// First retry delay; doubles per attempt.
    pub backoff_ms: i64,
    /// A PEM certificate to trust besides the public roots (a relay with
    /// an internal CA or a self-signed certificate).
    pub ca_pem: Option<Vec<u8>>,
}

// Credentials never reach a log line.
impl fmt::Debug for MailConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MailConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("from", &self.from)
            .field("public_url", &self.public_url)
            .field("ca_pem", &self.ca_pem.as_ref().map(|p| p.len()))
            .finish()
    }
}

impl MailConfig {
    /// Reads `smtp://[user[:password]@]host[:port][?tls=none|starttls]` or
    /// `smtps://…` (TLS). Without `tls=`, `smtp://` requires STARTTLS
    /// unless the host is a loopback address.
    pub fn from_url(url: &str, from: &str, public_url: &str) -> Result<MailConfig, String> {
        let parsed = reqwest::Url::parse(url).map_err(|e| {
            format!("the SMTP URL is not a URL ({e}); expected smtp://user:password@host:port")
        })?;
        let host = parsed
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or("the SMTP URL names no host")?
            .trim_matches(['[', ']'])
            .to_string();
        let loopback = host == "localhost" || host.starts_with("127.") || host == "::1";
        let mut tls = match parsed.scheme() {
            "smtp" if loopback => TlsMode::None,
            "smtp" => TlsMode::StartTls,
            "smtps" => TlsMode::Tls,
            other => {
                return Err(format!(
                    "unsupported SMTP URL scheme '{other}': use smtp:// or smtps://"
                ))
            }
        };
        for (k, v) in parsed.query_pairs() {
            match (k.as_ref(), v.as_ref()) {
                ("tls", "none") => tls = TlsMode::None,
                ("tls", "starttls") => tls = TlsMode::StartTls,
                ("tls", "tls") => tls = TlsMode::Tls,
                ("tls", other) => {
                    return Err(format!("tls={other} is not one of none, starttls, tls"))
                }
                (other, _) => return Err(format!("unknown SMTP URL parameter '{other}'")),
            }
        }
        let port = parsed.port().unwrap_or(match tls {
            TlsMode::Tls => 465,
            TlsMode::StartTls => 587,
            TlsMode::None => 25,
        });
        let decode = |s: &str| {
            percent_decode(s).ok_or_else(|| {
                "the SMTP URL's credentials are not valid percent-encoding".to_string()
            })
        };
        let username = match parsed.username() {
            "" => None,
            u => Some(decode(u)?),
        };
        let password = parsed.password().map(decode).transpose()?;
        from.parse::<Mailbox>()
            .map_err(|e| format!("the sender address '{from}' is not a valid mailbox: {e}"))?;
        let public_url = public_url.trim_end_matches('/').to_string();
        if !(public_url.starts_with("http://") || public_url.starts_with("https://")) {
            return Err(format!(
                "the public URL '{public_url}' must start with http:// or https://"
            ));
        }
        Ok(MailConfig {
            host,
            port,
            tls,
            username,
            password,
            from: from.to_string(),
            public_url,
            per_domain_per_minute: 60,
            max_attempts: 6,
            backoff_ms: 60_000,
            ca_pem: None,
        })
    }

    /// The domain of the sender, for Message-IDs.
    pub fn from_domain(&self) -> String {
        self.from
            .parse::<Mailbox>()
            .map(|m| m.email.domain().to_string())
            .unwrap_or_else(|_| "leadq.invalid".into())
    }

    /// The sender's display name and address.
    pub fn sender(&self) -> (String, String) {
        match self.from.parse::<Mailbox>() {
            Ok(m) => (m.name.clone().unwrap_or_default(), m.email.to_string()),
            Err(_) => (String::new(), self.from.clone()),
        }
    }

    /// Trusts the PEM certificate(s) in `pem` besides the public roots.
    pub fn with_ca_pem(mut self, pem: Vec<u8>) -> Result<MailConfig, String> {
        Certificate::from_pem(&pem)
            .map_err(|e| format!("the SMTP CA file is not a PEM certificate: {e}"))?;
        self.ca_pem = Some(pem);
        Ok(self)
    }

    fn tls_parameters(&self) -> Result<TlsParameters, SendError> {
        let mut b = TlsParameters::builder(self.host.clone());
        if let Some(pem) = &self.ca_pem {
            b = b.add_root_certificate(Certificate::from_pem(pem).map_err(SendError::permanent)?);
        }
        b.build_rustls().map_err(SendError::permanent)
    }

    fn transport(&self) -> Result<SmtpTransport, SendError> {
        let builder = SmtpTransport::builder_dangerous(&self.host);
        let builder = match self.tls {
            TlsMode::None => builder,
            TlsMode::StartTls => builder.tls(Tls::Required(self.tls_parameters()?)),
            TlsMode::Tls => builder.tls(Tls::Wrapper(self.tls_parameters()?)),
        };
        let mut builder = builder
            .port(self.port)
            .timeout(Some(Duration::from_secs(30)));
        if let (Some(u), Some(p)) = (&self.username, &self.password) {
            builder = builder.credentials(Credentials::new(u.clone(), p.clone()));
        }
        Ok(builder.build())
    }
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Why a send failed, and whether trying again may help.
#[derive(Debug, Clone)]
pub struct SendError {
    pub permanent: bool,
    pub message: String,
}

impl SendError {
    fn transient(e: impl fmt::Display) -> SendError {
        SendError {
            permanent: false,
            message: e.to_string(),
        }
    }
    fn permanent(e: impl fmt::Display) -> SendError {
        SendError {
            permanent: true,
            message: e.to_string(),
        }
    }
}

/// One message ready to go.
pub struct Outgoing<'a> {
    pub message_id: &'a str,
    pub to: &'a str,
    pub subject: &'a str,
    pub text: &'a str,
    pub html: &'a str,
    /// RFC 8058 one-click unsubscribe URL (marketing email only).
    pub unsubscribe: Option<&'a str>,
}

/// Sends over SMTP.
pub struct Mailer {
    pub config: MailConfig,
    limiter: DomainLimiter,
}

impl Mailer {
    pub fn new(config: MailConfig) -> Mailer {
        let limiter = DomainLimiter::new(config.per_domain_per_minute);
        Mailer { config, limiter }
    }

    /// Whether a message to `domain` may go now; otherwise the wait in ms.
    pub fn admit(&self, domain: &str, now_ms: i64) -> Result<(), i64> {
        self.limiter.take(domain, now_ms)
    }

    pub fn send(&self, m: &Outgoing<'_>) -> Result<(), SendError> {
        let from: Mailbox = self.config.from.parse().map_err(SendError::permanent)?;
        let to: Mailbox = m.to.parse().map_err(|e| {
            SendError::permanent(format!("the address '{}' is not valid: {e}", m.to))
        })?;
        let mut builder = Message::builder()
            .from(from)
            .to(to)
            .subject(m.subject)
            .message_id(Some(m.message_id.to_string()));
        if let Some(url) = m.unsubscribe {
            builder = builder
                .raw_header(HeaderValue::new(
                    HeaderName::new_from_ascii_str("List-Unsubscribe"),
                    format!("<{url}>"),
                ))
                .raw_header(HeaderValue::new(
                    HeaderName::new_from_ascii_str("List-Unsubscribe-Post"),
                    "List-Unsubscribe=One-Click".to_string(),
                ));
        }
        let message = builder
            .multipart(MultiPart::alternative_plain_html(
                m.text.to_string(),
                m.html.to_string(),
            ))
            .map_err(SendError::permanent)?;
        let transport = self.config.transport()?;
        match transport.send(&message) {
            Ok(_) => Ok(()),
            Err(e) if e.is_permanent() => Err(SendError::permanent(e)),
            Err(e) => Err(SendError::transient(e)),
        }
    }
}

/// A token bucket per recipient domain: `per_minute` messages a minute,
/// bursts up to the same number.
struct DomainLimiter {
    per_minute: u32,
    buckets: Mutex<HashMap<String, (f64, i64)>>,
}

impl DomainLimiter {
    fn new(per_minute: u32) -> DomainLimiter {
        DomainLimiter {
            per_minute: per_minute.max(1),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    fn take(&self, domain: &str, now: i64) -> Result<(), i64> {
        let capacity = self.per_minute as f64;
        let per_ms = capacity / 60_000.0;
        let Ok(mut map) = self.buckets.lock() else {
            return Ok(());
        };
        let (tokens, last) = map
            .entry(domain.to_ascii_lowercase())
            .or_insert((capacity, now));
        let refill = ((now - *last).max(0) as f64) * per_ms;
        *tokens = (*tokens + refill).min(capacity);
        *last = now.max(*last);
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - *tokens) / per_ms).ceil() as i64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_smtp_url_gives_host_port_tls_and_credentials() {
        let c = MailConfig::from_url(
            "smtp://mailer:p%40ss@mail.example.com:2525",
            "Sales <sales@acme.example>",
            "https://leadq.acme.example/",
        )
        .unwrap();
        assert_eq!(
            (c.host.as_str(), c.port, c.tls),
            ("mail.example.com", 2525, TlsMode::StartTls)
        );
        assert_eq!(c.username.as_deref(), Some("mailer"));
        assert_eq!(c.password.as_deref(), Some("p@ss"));
        assert_eq!(c.public_url, "https://leadq.acme.example");
        assert!(
            !format!("{c:?}").contains("p@ss"),
            "the password is never printed"
        );
        let tls =
            MailConfig::from_url("smtps://mail.example.com", "a@b.example", "http://x").unwrap();
        assert_eq!((tls.port, tls.tls), (465, TlsMode::Tls));
        let local =
            MailConfig::from_url("smtp://127.0.0.1:1025", "a@b.example", "http://x").unwrap();
        assert_eq!(local.tls, TlsMode::None);
        assert!(MailConfig::from_url("smtp://h?tls=maybe", "a@b.example", "http://x").is_err());
        assert!(MailConfig::from_url("smtp://h", "not a mailbox", "http://x").is_err());
    }

    #[test]
    fn the_domain_limit_admits_a_burst_then_spaces_sends() {
        let l = DomainLimiter::new(2);
        assert!(l.take("acme.example", 0).is_ok());
        assert!(l.take("ACME.example", 0).is_ok());
        let wait = l.take("acme.example", 0).unwrap_err();
        assert_eq!(wait, 30_000);
        assert!(
            l.take("other.example", 0).is_ok(),
            "domains are limited separately"
        );
        assert!(l.take("acme.example", 30_000).is_ok());
    }
}
