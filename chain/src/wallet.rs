//! Where a chain key comes from: an Ethereum keystore file (its password from
//! a file or the environment) or a hex key in the environment. Never a bare
//! command-line argument, which would land in shell history and `ps`.

use std::path::Path;

use alloy::signers::local::PrivateKeySigner;

use crate::error::ChainError;

/// The environment variable holding a hex private key.
pub const KEY_ENV: &str = "VERIFLOP_PRIVATE_KEY";
/// The environment variable holding a keystore's password (when no password file is given).
pub const KEYSTORE_PASSWORD_ENV: &str = "VERIFLOP_KEYSTORE_PASSWORD";

/// A signer from `keystore` (password from `password_file`, else
/// [`KEYSTORE_PASSWORD_ENV`]), else from [`KEY_ENV`].
pub fn load_signer(keystore: Option<&Path>, password_file: Option<&Path>) -> Result<PrivateKeySigner, ChainError> {
    if let Some(path) = keystore {
        let password = match password_file {
            Some(p) => std::fs::read_to_string(p)
                .map_err(|e| ChainError::Config(format!("password file {}: {e}", p.display())))?
                .trim_end_matches(['\n', '\r'])
                .to_string(),
            None => std::env::var(KEYSTORE_PASSWORD_ENV).map_err(|_| {
                ChainError::Config(format!(
                    "keystore {} needs its password: --password-file FILE or {KEYSTORE_PASSWORD_ENV}",
                    path.display()
                ))
            })?,
        };
        return PrivateKeySigner::decrypt_keystore(path, password)
            .map_err(|e| ChainError::Config(format!("keystore {}: {e}", path.display())));
    }
    let hex = std::env::var(KEY_ENV).map_err(|_| {
        ChainError::Config(format!("no chain key: set {KEY_ENV} to a hex private key, or pass --keystore FILE"))
    })?;
    parse_key(&hex)
}

/// A hex private key (with or without 0x).
pub fn parse_key(hex: &str) -> Result<PrivateKeySigner, ChainError> {
    hex.trim()
        .parse::<PrivateKeySigner>()
        .map_err(|_| ChainError::Config(format!("{KEY_ENV} is not a 32-byte hex private key")))
}

/// Writes `signer`'s key to an encrypted keystore in `dir` (scrypt, the
/// geth/foundry format); returns the file's path.
pub fn write_keystore(dir: &Path, signer: &PrivateKeySigner, password: &str) -> Result<std::path::PathBuf, ChainError> {
    std::fs::create_dir_all(dir).map_err(|e| ChainError::Io(format!("{}: {e}", dir.display())))?;
    let mut rng = rand::thread_rng();
    let name = format!("{}.json", signer.address().to_checksum(None));
    PrivateKeySigner::encrypt_keystore(dir, &mut rng, signer.credential().to_bytes(), password, Some(&name))
        .map_err(|e| ChainError::Io(format!("keystore in {}: {e}", dir.display())))?;
    Ok(dir.join(name))
}
