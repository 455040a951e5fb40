//! Secrets at rest: endpoint signing secrets and custom header values are
//! stored sealed with AES-256-GCM under a master key, never in clear.
//!
//! A sealed value reads `hv1:<key id>:<base64(nonce ‖ ciphertext ‖ tag)>`. The
//! key id (the first 8 hex digits of the key's SHA-256) says which key sealed
//! it, so a vault holding the old and the new key opens both while a rotation
//! is under way. The purpose of the value (`endpoint_secret`, `header_value`)
//! is bound in as associated data: a sealed header value cannot be passed off
//! as a signing secret.
//!
//! The master key comes from `HERALD_MASTER_KEY` (base64 or hex of 32 bytes)
//! or from `master.key` in the data directory, written with mode 0600 on first
//! start.

use std::path::{Path, PathBuf};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore;
use rand::rngs::OsRng;
use sha2::{Digest, Sha256};

use crate::{EngineError, Result};

const PREFIX: &str = "hv1:";
pub const KEY_FILE: &str = "master.key";
/// Written by `herald rotate-master-key` before it re-seals anything; renamed
/// over `master.key` when done. Found at start, it means a rotation was cut
/// short: the vault opens values under either key.
pub const NEXT_KEY_FILE: &str = "master.key.next";

/// What a sealed value is, bound into its ciphertext.
#[derive(Debug, Clone, Copy)]
pub enum Purpose {
    EndpointSecret,
    HeaderValue,
}

impl Purpose {
    fn aad(self) -> &'static [u8] {
        match self {
            Purpose::EndpointSecret => b"herald:endpoint_secret",
            Purpose::HeaderValue => b"herald:header_value",
        }
    }
}

#[derive(Clone)]
pub struct MasterKey {
    id: String,
    cipher: Aes256Gcm,
    bytes: [u8; 32],
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MasterKey({})", self.id)
    }
}

impl MasterKey {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        let digest = Sha256::digest(bytes);
        let id = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
        Self {
            id,
            cipher: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&bytes)),
            bytes,
        }
    }

    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        OsRng.fill_bytes(&mut bytes);
        Self::from_bytes(bytes)
    }

    /// Reads a key written as base64 (44 characters) or hex (64 digits).
    pub fn parse(text: &str) -> Result<Self> {
        let text = text.trim();
        let decoded = if text.len() == 64 && text.chars().all(|c| c.is_ascii_hexdigit()) {
            (0..32)
                .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16))
                .collect::<std::result::Result<Vec<u8>, _>>()
                .ok()
        } else {
            STANDARD.decode(text).ok()
        };
        let bytes: [u8; 32] = decoded.and_then(|d| d.try_into().ok()).ok_or_else(|| {
            EngineError::invalid(
                "master_key",
                "must be 32 bytes written as base64 (44 characters) or hex (64 digits)",
            )
        })?;
        Ok(Self::from_bytes(bytes))
    }

    /// The key in the form `parse` reads and the key file holds.
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.bytes)
    }

    pub fn id(&self) -> &str {
        &self.id
    }
}

/// The keys secrets are sealed and opened with: the current one seals, any opens.
#[derive(Debug, Clone)]
pub struct Vault {
    current: MasterKey,
    previous: Vec<MasterKey>,
}

impl Vault {
    pub fn new(current: MasterKey) -> Self {
        Self {
            current,
            previous: Vec::new(),
        }
    }

    /// A vault that seals with `current` and still opens what `previous` sealed.
    pub fn rotating(current: MasterKey, previous: MasterKey) -> Self {
        Self {
            current,
            previous: vec![previous],
        }
    }

    /// This vault with `new` sealing from now on; every key it had still opens.
    pub fn rotate_to(&self, new: MasterKey) -> Vault {
        let mut previous = vec![self.current.clone()];
        previous.extend(self.previous.iter().cloned());
        previous.retain(|k| k.id != new.id);
        Vault {
            current: new,
            previous,
        }
    }

    /// A vault with a throwaway key, for stores that live as long as a test.
    pub fn ephemeral() -> Self {
        Self::new(MasterKey::generate())
    }

    pub fn current_key_id(&self) -> &str {
        self.current.id()
    }

    pub fn seal(&self, purpose: Purpose, plaintext: &str) -> String {
        let mut nonce = [0u8; 12];
        OsRng.fill_bytes(&mut nonce);
        let sealed = self
            .current
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: purpose.aad(),
                },
            )
            .expect("AES-GCM encryption of an in-memory buffer cannot fail");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        format!("{PREFIX}{}:{}", self.current.id, STANDARD.encode(out))
    }

    /// Whether a stored value is sealed under the current key (nothing to re-seal).
    pub fn is_current(&self, stored: &str) -> bool {
        stored
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split_once(':'))
            .is_some_and(|(id, _)| id == self.current.id)
    }

    /// Opens a sealed value. A value without the `hv1:` prefix was written in
    /// clear by a Herald older than sealing and is returned as it is (start-up
    /// seals those).
    pub fn open(&self, purpose: Purpose, stored: &str) -> Result<String> {
        let Some(rest) = stored.strip_prefix(PREFIX) else {
            return Ok(stored.to_string());
        };
        let corrupt =
            |why: &str| EngineError::Internal(format!("cannot open a sealed secret: {why}"));
        let (id, data) = rest.split_once(':').ok_or_else(|| corrupt("malformed"))?;
        let key = std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|k| k.id == id)
            .ok_or_else(|| {
                corrupt(&format!(
                    "it was sealed with master key {id}, which this Herald does not have \
                     (check HERALD_MASTER_KEY or the data directory's master.key)"
                ))
            })?;
        let bytes = STANDARD.decode(data).map_err(|_| corrupt("not base64"))?;
        if bytes.len() < 12 + 16 {
            return Err(corrupt("too short"));
        }
        let (nonce, sealed) = bytes.split_at(12);
        let plain = key
            .cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: purpose.aad(),
                },
            )
            .map_err(|_| {
                corrupt("authentication failed (tampered, or sealed for another purpose)")
            })?;
        String::from_utf8(plain).map_err(|_| corrupt("not UTF-8"))
    }
}

/// Where the master key comes from, for the start-up log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    Environment,
    File(PathBuf),
    Generated(PathBuf),
}

/// The vault for a data directory: `HERALD_MASTER_KEY` when given, else the
/// key file (created with mode 0600 when missing). A leftover `master.key.next`
/// from an interrupted rotation is opened alongside.
pub fn load(data_dir: &Path, env_key: Option<&str>) -> Result<(Vault, KeySource)> {
    let next = data_dir.join(NEXT_KEY_FILE);
    let next_key = if next.exists() {
        Some(read_key_file(&next)?)
    } else {
        None
    };
    let (key, source) = match env_key.filter(|k| !k.trim().is_empty()) {
        Some(text) => (MasterKey::parse(text)?, KeySource::Environment),
        None => {
            let path = data_dir.join(KEY_FILE);
            if path.exists() {
                (read_key_file(&path)?, KeySource::File(path))
            } else {
                let key = MasterKey::generate();
                write_key_file(&path, &key)?;
                (key, KeySource::Generated(path))
            }
        }
    };
    let vault = match next_key {
        Some(next) if next.id != key.id => Vault::rotating(key, next),
        _ => Vault::new(key),
    };
    Ok((vault, source))
}

fn read_key_file(path: &Path) -> Result<MasterKey> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        EngineError::Internal(format!(
            "cannot read the master key {}: {e}",
            path.display()
        ))
    })?;
    MasterKey::parse(&text).map_err(|e| {
        EngineError::Internal(format!(
            "the master key in {} is unusable: {e}",
            path.display()
        ))
    })
}

/// Writes a key file readable by its owner only, durably.
pub fn write_key_file(path: &Path, key: &MasterKey) -> Result<()> {
    use std::io::Write;
    let fail =
        |e: std::io::Error| EngineError::Internal(format!("cannot write {}: {e}", path.display()));
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(fail)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(fail)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(fail)?;
    }
    file.write_all(format!("{}\n", key.to_base64()).as_bytes())
        .map_err(fail)?;
    file.sync_all().map_err(fail)
}

/// Re-seals every stored secret not sealed under `key_id`, the key the
/// store's vault seals with now (see `EndpointStore::reseal_secrets`). When
/// anything changed, its audit entry commits with it.
pub async fn reseal(
    store: &dyn crate::store::Store,
    by: &crate::audit::AuditBy,
    key_id: &str,
) -> crate::Result<u64> {
    let entry = |n: u64| {
        by.entry(
            None,
            crate::model::AuditAction::MasterKeyRotate,
            key_id,
            format!("re-sealed {n} values under master key {key_id}"),
        )
    };
    let resealed = store
        .reseal_secrets(&|n: &u64| (*n > 0).then(|| entry(*n)))
        .await?;
    if resealed > 0 {
        crate::audit::logged(&entry(resealed));
    }
    Ok(resealed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_and_hide_their_plaintext() {
        let vault = Vault::ephemeral();
        let sealed = vault.seal(Purpose::EndpointSecret, "whsec_c2VjcmV0");
        assert!(sealed.starts_with("hv1:"));
        assert!(!sealed.contains("whsec_c2VjcmV0") && !sealed.contains("c2VjcmV0"));
        assert_ne!(
            sealed,
            vault.seal(Purpose::EndpointSecret, "whsec_c2VjcmV0"),
            "fresh nonce"
        );
        assert_eq!(
            vault.open(Purpose::EndpointSecret, &sealed).unwrap(),
            "whsec_c2VjcmV0"
        );
        assert!(vault.is_current(&sealed));
    }

    #[test]
    fn a_value_sealed_for_one_purpose_does_not_open_as_another() {
        let vault = Vault::ephemeral();
        let sealed = vault.seal(Purpose::HeaderValue, "Bearer abc");
        assert!(vault.open(Purpose::EndpointSecret, &sealed).is_err());
        let mut tampered = sealed.clone();
        tampered.pop();
        tampered.push(if sealed.ends_with('A') { 'B' } else { 'A' });
        assert!(vault.open(Purpose::HeaderValue, &tampered).is_err());
    }

    #[test]
    fn a_rotating_vault_opens_both_keys_and_seals_with_the_new_one() {
        let old = MasterKey::generate();
        let new = MasterKey::generate();
        let before = Vault::new(old.clone()).seal(Purpose::EndpointSecret, "s1");
        let vault = Vault::rotating(new.clone(), old);
        assert_eq!(vault.open(Purpose::EndpointSecret, &before).unwrap(), "s1");
        assert!(!vault.is_current(&before));
        let after = vault.seal(Purpose::EndpointSecret, "s2");
        assert!(
            Vault::new(new)
                .open(Purpose::EndpointSecret, &after)
                .is_ok()
        );
        let stranger = Vault::ephemeral();
        let err = stranger
            .open(Purpose::EndpointSecret, &before)
            .unwrap_err()
            .to_string();
        assert!(err.contains("master key"), "{err}");
    }

    #[test]
    fn keys_parse_from_base64_and_hex_and_name_the_problem_otherwise() {
        let key = MasterKey::generate();
        assert_eq!(MasterKey::parse(&key.to_base64()).unwrap().id(), key.id());
        let hex: String = key.bytes.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(MasterKey::parse(&hex).unwrap().id(), key.id());
        let err = MasterKey::parse("short").unwrap_err().to_string();
        assert!(err.contains("32 bytes"), "{err}");
    }

    #[test]
    fn the_key_file_is_created_once_with_owner_only_permissions() {
        let dir = tempfile::tempdir().unwrap();
        let (first, source) = load(dir.path(), None).unwrap();
        assert!(matches!(source, KeySource::Generated(_)));
        let (second, source) = load(dir.path(), None).unwrap();
        assert!(matches!(source, KeySource::File(_)));
        assert_eq!(first.current_key_id(), second.current_key_id());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let from_env = MasterKey::generate();
        let (vault, source) = load(dir.path(), Some(&from_env.to_base64())).unwrap();
        assert_eq!(source, KeySource::Environment);
        assert_eq!(vault.current_key_id(), from_env.id());
    }
}
