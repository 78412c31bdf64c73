//! `submit`: deliver a result to a verifier service — C, then its proof bundle —
//! signed with the provider's key. The escrow is released only for a delivered
//! C that matches the proof's cm_C.

use std::path::PathBuf;

use serde_json::json;
use veriflop_service::client::{blocking::BlockingClient, ClientError};
use veriflop_verifier::auth::Signer;

use super::common::{read_bundle, CliError, Ctx};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Proof bundle (binary or JSON).
    #[arg(long, default_value = "veriflop-data/job/bundle.vfpb")]
    pub bundle: PathBuf,
    /// The proven result C (.npy or .vfm), delivered to the client with the proof.
    #[arg(long, default_value = "veriflop-data/job/c.npy")]
    pub c: PathBuf,
    /// Verifier service base URL.
    #[arg(long, env = "VERIFLOP_VERIFIER_URL", default_value = "http://127.0.0.1:8645")]
    pub url: String,
    /// Provider's secp256k1 secret key (0x-hex); its address must be the bundle's payee.
    #[arg(long, env = "VERIFLOP_PROVIDER_KEY", hide_env_values = true)]
    pub key: String,
}

pub fn client_error(e: ClientError) -> CliError {
    match &e {
        ClientError::Api { code, message, .. } => {
            let code: &'static str = Box::leak(code.clone().into_boxed_str());
            CliError::rejected(code, format!("the verifier rejected the request: {message}"))
        }
        _ => CliError::new("verifier_unreachable", format!("verifier service: {e}")),
    }
}

pub fn run(args: Args, ctx: &Ctx) -> Result<(), CliError> {
    let bundle = read_bundle(&args.bundle)?;
    let signer = Signer::from_hex(&args.key).map_err(|e| CliError::new("bad_key", e.to_string()))?;
    if signer.address() != bundle.statement.provider {
        return Err(CliError::new(
            "wrong_provider",
            format!(
                "the bundle pays {}, but --key belongs to {}: sign with the payee's key",
                bundle.statement.provider,
                signer.address()
            ),
        ));
    }
    let client = BlockingClient::new(&args.url, signer).map_err(|e| CliError::new("io", e.to_string()))?;
    let r = client.run(|c| c.deliver(&bundle.statement.job_id, &args.c, &bundle)).map_err(client_error)?;
    ctx.emit(
        format!("{:?}: job {} escrow {:?}, {} wei to {}", r.outcome, r.job_id, r.state, r.amount, r.payee),
        json!({"ok": true, "response": r}),
    );
    Ok(())
}
