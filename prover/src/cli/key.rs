//! `key`: the secp256k1 keys clients and providers sign requests with (their
//! Ethereum-style addresses hold balances and are paid). Secrets are read from
//! the environment, never from arguments, so they stay out of shell history and
//! process listings.

use serde_json::json;
use veriflop_verifier::auth::Signer;

use super::common::{CliError, Ctx};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(clap::Subcommand, Debug)]
enum Cmd {
    /// Print a fresh secret key (0x-hex, from the OS's randomness) on stdout,
    /// its address on stderr: `export VERIFLOP_CLIENT_KEY=$(veriflop-prover key new)`.
    New,
    /// Print the address of the secret key (0x-hex) in the environment variable VERIFLOP_KEY:
    /// `VERIFLOP_KEY=$VERIFLOP_CLIENT_KEY veriflop-prover key address`.
    Address,
}

pub fn run(args: Args, ctx: &Ctx) -> Result<(), CliError> {
    match args.cmd {
        Cmd::New => {
            let s = Signer::random();
            if !ctx.json {
                eprintln!("address {}", s.address());
            }
            ctx.emit(s.secret_hex(), json!({"ok": true, "secret": s.secret_hex(), "address": s.address()}));
        }
        Cmd::Address => {
            let key = std::env::var("VERIFLOP_KEY")
                .map_err(|_| CliError::new("bad_key", "set VERIFLOP_KEY to the secret key (0x-hex)"))?;
            let s = Signer::from_hex(&key).map_err(|e| CliError::new("bad_key", format!("VERIFLOP_KEY: {e}")))?;
            ctx.emit(s.address(), json!({"ok": true, "address": s.address()}));
        }
    }
    Ok(())
}
