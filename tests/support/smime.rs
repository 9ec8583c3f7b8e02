//! S/MIME fixtures for the end-to-end tests: keys and messages made by
//! tests/fixtures/smime/*.sh, and three independent decrypters.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use super::repo_root;

/// A decrypter the product's output must satisfy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    Openssl,
    Gpgsm,
    Nss,
}

impl Tool {
    pub fn name(self) -> &'static str {
        match self {
            Self::Openssl => "openssl",
            Self::Gpgsm => "gpgsm",
            Self::Nss => "nss",
        }
    }
}

/// Keys and messages in a temp dir kept for the test process.
pub struct SmimeFixture {
    pub dir: PathBuf,
    _keep: tempfile::TempDir,
}

/// The fixture of this test process, made on first use.
pub fn smime() -> &'static SmimeFixture {
    static FIXTURE: OnceLock<SmimeFixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        // gpg-agent's socket path must stay short (108 bytes): use /tmp.
        let keep = tempfile::Builder::new()
            .prefix("dm-smime-")
            .tempdir_in("/tmp")
            .expect("temp dir");
        let dir = keep.path().to_owned();
        let status = Command::new("bash")
            .arg(repo_root().join("tests/fixtures/smime/messages.sh"))
            .arg(&dir)
            .stdout(std::process::Stdio::null())
            .status()
            .expect("run messages.sh");
        assert!(status.success(), "tests/fixtures/smime/messages.sh failed");
        SmimeFixture { dir, _keep: keep }
    })
}

impl SmimeFixture {
    pub fn cert(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.pem"))
    }

    pub fn message(&self, path: &str) -> PathBuf {
        self.dir.join(path)
    }

    /// Decrypts `message` for `name` with `tool`: the content bytes, or the
    /// tool's one-line error.
    pub fn decrypt(&self, tool: Tool, name: &str, message: &Path) -> Result<Vec<u8>, String> {
        let out = tempfile::NamedTempFile::new().expect("temp file");
        let result = Command::new("bash")
            .arg(repo_root().join("tests/fixtures/smime/decrypt.sh"))
            .args([tool.name(), &self.dir.display().to_string(), name])
            .arg(message)
            .arg(out.path())
            .output()
            .expect("run decrypt.sh");
        if result.status.success() {
            Ok(std::fs::read(out.path()).expect("read decrypted"))
        } else {
            Err(String::from_utf8_lossy(&result.stderr).trim().to_owned())
        }
    }

    /// The serial numbers named by the RecipientInfos of an S/MIME message.
    pub fn recipient_serials(&self, message: &Path) -> Vec<String> {
        let out = Command::new("openssl")
            .args(["cms", "-cmsout", "-print", "-inform", "SMIME", "-in"])
            .arg(message)
            .output()
            .expect("openssl cms -cmsout");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        let mut serials: Vec<String> = text
            .lines()
            .filter_map(|l| l.trim().strip_prefix("serialNumber: "))
            .map(str::to_owned)
            .collect();
        serials.sort();
        serials
    }

    /// A certificate's serial number as `openssl cms -print` shows it.
    pub fn serial(&self, name: &str) -> String {
        let pem = std::fs::read(self.cert(name)).expect("read cert");
        let cert = openssl::x509::X509::from_pem(&pem).expect("parse cert");
        let serial = cert.serial_number().to_bn().expect("serial");
        // cms -print writes small serials in decimal, large ones in hex.
        match serial.to_dec_str() {
            Ok(dec) if serial.num_bits() <= 64 => dec.to_string(),
            _ => format!("0x{}", serial.to_hex_str().expect("hex")),
        }
    }
}
