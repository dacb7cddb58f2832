//! A real SMTP server process for the tests: `tests/support/smtp_sink.py`
//! on aiosmtpd (from PyPI; `scripts/test-all` installs it and sets
//! `LEADQ_TEST_PYTHON`), writing every message it receives to a directory.

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// A real SMTP server process: `tests/support/smtp_sink.py` on aiosmtpd,
/// writing what it receives to a directory.
pub struct SmtpSink {
    child: Child,
    pub port: u16,
    dir: tempfile::TempDir,
}

impl SmtpSink {
    pub fn start(extra: &[&str]) -> SmtpSink {
        let python = std::env::var("LEADQ_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/support/smtp_sink.py");
        let dir = tempfile::tempdir().expect("a temp dir");
        let mut child = Command::new(&python)
            .arg(&script)
            .arg(dir.path())
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {python} (set LEADQ_TEST_PYTHON to a Python with aiosmtpd; scripts/test-all does): {e}"));
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("the SMTP server reports its port");
        let port = line
            .trim()
            .strip_prefix("PORT ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("the SMTP server did not start (is aiosmtpd installed for {python}? scripts/test-all installs it): {line:?}"));
        SmtpSink { child, port, dir }
    }

    /// A file the server wrote in its directory (`ca.pem` with --starttls).
    pub fn file(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.dir.path().join(name)).expect("the SMTP server's file")
    }

    /// The messages received, in order.
    pub fn messages(&self) -> Vec<String> {
        let mut out = Vec::new();
        for n in 1.. {
            let p: PathBuf = self.dir.path().join(format!("{n}.eml"));
            match std::fs::read(&p) {
                Ok(b) => out.push(unfold(&String::from_utf8_lossy(&b))),
                Err(_) => break,
            }
        }
        out
    }

    pub fn envelope(&self, n: usize) -> Value {
        let p: &Path = self.dir.path();
        serde_json::from_slice(&std::fs::read(p.join(format!("{n}.json"))).expect("the envelope"))
            .expect("JSON")
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The message with folded header lines joined and quoted-printable soft
/// line breaks removed, so headers and links can be searched whole.
fn unfold(raw: &str) -> String {
    raw.replace("\r\n", "\n")
        .replace("=\n", "")
        .replace("\n ", " ")
        .replace("\n\t", " ")
        .replace("=3D", "=")
}

pub fn header_of(message: &str, name: &str) -> Option<String> {
    message.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
    })
}
