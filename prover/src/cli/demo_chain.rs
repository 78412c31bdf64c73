//! The demo's chain on a real node (`demo --chain local`): hardhat's node on
//! loopback, JobEscrow deployed by the operator, the provider's chain agent
//! (`veriflop-prover chain work`) in its own process, and for each proof system
//! a job the client posts over JSON-RPC with its data on the service's data
//! plane, requiring the service's delivery receipt; the agent locks nothing
//! (no stake asked), proves, delivers, attests and settles; the client fetches
//! C by the settled commitment and checks it. The inference job goes the same
//! way with its model's InferenceVerifier, its input and model as A and B.

use std::io::BufRead;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use alloy::primitives::Address;
use veriflop_chain::devnode::{DevNode, DEV_CHAIN_ID, DEV_KEYS};
use veriflop_chain::{Connection, Escrow};
use veriflop_circuits::commit::Role;
use veriflop_circuits::{Bytes32, Job, Venue};
use veriflop_contracts::settle::{statement_address, PostTerms};
use veriflop_service::chain_data::DataAddress;
use veriflop_service::client::Client;
use veriflop_verifier::auth::Signer;
use veriflop_verifier::Verifier;

use super::common::{secs, CliError};
use super::onchain::chain_error;

/// What one job on the node gave.
pub struct ChainRun {
    pub lines: Vec<String>,
    pub json: serde_json::Value,
}

pub struct LocalChain {
    rt: tokio::runtime::Runtime,
    node: DevNode,
    owner: Connection,
    client: Connection,
    pub escrow: Address,
    agent: Option<Child>,
    agent_lines: Option<mpsc::Receiver<String>>,
}

const PRICE_WEI: u128 = 10_000_000_000_000_000;

impl LocalChain {
    /// Starts the node and deploys JobEscrow (the operator's first contract).
    pub fn start() -> Result<(LocalChain, String), CliError> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| CliError::new("io", e.to_string()))?;
        let t = Instant::now();
        let node = DevNode::start().map_err(chain_error)?;
        let (owner, client, escrow, gas) = rt
            .block_on(async {
                let key = |i: usize| veriflop_chain::wallet::parse_key(DEV_KEYS[i]);
                let owner = Connection::connect(&node.url, key(0)?, Some(DEV_CHAIN_ID)).await?;
                let client = Connection::connect(&node.url, key(1)?, Some(DEV_CHAIN_ID)).await?;
                let (address, gas) = {
                    let (e, tx) = Escrow::deploy(&owner, owner.from()).await?;
                    (e.address, tx.gas_used)
                };
                Ok::<_, veriflop_chain::ChainError>((owner, client, address, gas))
            })
            .map_err(chain_error)?;
        let line = format!(
            "  2 operator starts a hardhat node on {} (chain {DEV_CHAIN_ID}) and deploys JobEscrow at {escrow} ({gas} gas) in {}",
            node.url,
            secs(t.elapsed())
        );
        Ok((LocalChain { rt, node, owner, client, escrow, agent: None, agent_lines: None }, line))
    }

    /// Starts the provider's chain agent (hardhat's third development account).
    pub fn start_agent(
        &mut self,
        keys: &Path,
        data_url: &str,
        dir: &Path,
        device_args: Vec<String>,
    ) -> Result<String, CliError> {
        let exe = std::env::current_exe().map_err(|e| CliError::new("io", e.to_string()))?;
        std::fs::create_dir_all(dir).map_err(|e| CliError::new("io", e.to_string()))?;
        let log = dir.join("chain-agent.log");
        let log_file = std::fs::File::create(&log).map_err(|e| CliError::new("io", e.to_string()))?;
        let mut child = Command::new(exe)
            .args(["chain", "--rpc-url", &self.node.url, "--chain-id", &DEV_CHAIN_ID.to_string()])
            .args(["work", "--escrow", &self.escrow.to_string(), "--data-url", data_url])
            .args(["--depth", "1", "--from-block", "0", "--poll-secs", "0.2"])
            .arg("--cursor")
            .arg(dir.join("cursor.json"))
            .arg("--work-dir")
            .arg(dir.join("chain-work"))
            .arg("--keys")
            .arg(keys)
            .args(device_args)
            .env("VERIFLOP_PRIVATE_KEY", DEV_KEYS[2])
            .env_remove("VERIFLOP_KEYSTORE")
            .stdout(Stdio::piped())
            .stderr(log_file)
            .spawn()
            .map_err(|e| CliError::new("io", format!("starting the chain agent: {e}")))?;
        let stdout = child.stdout.take().expect("piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let line = format!(
            "    provider starts its chain agent (`veriflop-prover chain work`, pid {}; log in {}) for {}",
            child.id(),
            log.display(),
            veriflop_chain::wallet::parse_key(DEV_KEYS[2]).map_err(chain_error)?.address()
        );
        self.agent = Some(child);
        self.agent_lines = Some(rx);
        Ok(line)
    }

    /// One job on the node: register the shape's verifier, upload the data,
    /// post with the service's receipt required, wait for the agent's
    /// settlement, fetch C and check it.
    #[allow(clippy::too_many_arguments)]
    pub fn run_job(
        &self,
        job: &Job,
        verifier: &Verifier,
        a: &Path,
        b: &Path,
        data_url: &str,
        attestor: Address,
        want: &veriflop_circuits::OutputMatrix,
        keys: &super::common::KeyArgs,
        out: &Path,
    ) -> Result<ChainRun, CliError> {
        let venue = Venue::Chain { chain_id: DEV_CHAIN_ID, escrow: statement_address(self.escrow) };
        let nonce = Bytes32::random();
        let job = Job { job_id: venue.job_id(statement_address(self.client.from()), &nonce), ..job.clone() };
        let mut lines = Vec::new();
        let t = Instant::now();
        let (registered, posted) = self
            .rt
            .block_on(async {
                let owner = Escrow { conn: &self.owner, address: self.escrow };
                let registered = match (verifier.groth16_key(), verifier.halo2_key(), verifier.model_key()) {
                    (Some(vk), ..) => owner.register_groth16(vk).await?,
                    (None, Some(vk), _) => owner.register_halo2(vk, &job.shape).await?,
                    (None, None, Some(vk)) => owner.register_inference(vk).await.map(|(v, d, r, _)| (v, d, r))?,
                    (None, None, None) => {
                        return Err(veriflop_chain::ChainError::Mismatch("the verifier holds no key".into()))
                    }
                };
                let data = Client::new(data_url.to_string(), Signer::random());
                for (role, cm, path) in [(Role::A, job.cm_a, a), (Role::B, job.cm_b, b)] {
                    let addr = DataAddress::of(&job, role, cm);
                    data.put_data(&addr.path(), path)
                        .await
                        .map_err(|e| veriflop_chain::ChainError::Io(e.to_string()))?;
                }
                let ts = self.owner.latest_timestamp().await?;
                let terms = PostTerms { deadline: ts + 3600, lock_window: 0, lock_stake: 0 };
                let client = Escrow { conn: &self.client, address: self.escrow };
                let posted = client.post_with_delivery(&job, &nonce, &terms, PRICE_WEI, &[attestor], 1).await?;
                Ok((registered, posted))
            })
            .map_err(chain_error)?;
        let (verifier_addr, deploy, register) = registered;
        let inference = verifier.model_key().is_some();
        let (what, data) = match inference {
            true => ("model's InferenceVerifier".to_string(), "the input and the model"),
            false => (format!("{} verifier", job.system), "A and B"),
        };
        lines.push(format!(
            "    operator deploys the {what} at {verifier_addr} ({} gas) and registers it ({} gas)",
            deploy.gas_used, register.gas_used
        ));
        lines.push(format!(
            "    client uploads {data} to the data plane by commitment and posts job {} over JSON-RPC with {PRICE_WEI} wei, delivery receipt of the service's attestor {attestor} required (postJobWithDelivery {} gas, {})",
            job.job_id,
            posted.1.gas_used,
            secs(t.elapsed())
        ));

        // The agent proves, delivers C, attests the receipt and settles.
        let t = Instant::now();
        let rx = self.agent_lines.as_ref().ok_or_else(|| CliError::new("demo", "the chain agent is not running"))?;
        let id = job.job_id.to_string();
        let report = loop {
            match rx.recv_timeout(Duration::from_millis(200)) {
                Ok(l) if l.contains(&id) => break l,
                Ok(_) => {}
                Err(mpsc::RecvTimeoutError::Timeout) if t.elapsed() < Duration::from_secs(900) => {}
                Err(_) => return Err(CliError::new("demo", format!("the chain agent did not settle job {id}"))),
            }
        };
        lines.push(format!("    provider's agent: {report}"));

        // The client: status, the settled cm_C, and C from the data plane, checked.
        let (job_view, settlement) = self
            .rt
            .block_on(async {
                let client = Escrow { conn: &self.client, address: self.escrow };
                Ok::<_, veriflop_chain::ChainError>((
                    client.job(&job.job_id).await?,
                    // Settled after it was posted: scanned from the posting block.
                    client.settlement(&job.job_id, posted.1.block, veriflop_chain::escrow::LOG_WINDOW).await?,
                ))
            })
            .map_err(chain_error)?;
        let (cm_c, provider) =
            settlement.ok_or_else(|| CliError::new("demo", format!("job {id} has no JobSettled event")))?;
        let cm = veriflop_circuits::field::fr_from_bytes(&cm_c.to_be_bytes::<32>())
            .map_err(|e| CliError::new("demo", e.to_string()))?;
        let addr = DataAddress::of(&job, Role::C, cm);
        let tmp = out.with_extension("download");
        self.rt
            .block_on(Client::new(data_url.to_string(), Signer::random()).get_data(&addr.path(), &tmp))
            .map_err(super::submit::client_error)?;
        let ck = match verifier.model_key() {
            Some(vk) => Some(vk.commit_key()?), // an inference job's output: under its model's key
            None => super::common::commit_key_for(job.circuit, &job.shape, keys)?,
        };
        let f = std::fs::File::open(&tmp).map_err(|e| CliError::new("io", e.to_string()))?;
        let got = veriflop_circuits::stream::MatrixReader::new(f)
            .and_then(|mut r| {
                veriflop_circuits::stream::commit_stream(job.circuit, &job.shape, Role::C, ck.as_ref(), &mut r)
            })
            .map_err(|e| CliError::rejected("result_mismatch", e.to_string()))?;
        let c = veriflop_circuits::stream::read_file(&tmp)?;
        let _ = std::fs::remove_file(&tmp);
        if got != cm || c.data != want.data {
            return Err(CliError::new("wrong_result", "the C fetched for the on-chain job is not its proven result"));
        }
        veriflop_circuits::matrix::write_matrix(out, &c)?;
        lines.push(format!(
            "    client: job {:?}, paid to {provider}; C fetched by the settled cm_C, checked and written to {}",
            job_view.status,
            out.display()
        ));
        let json = serde_json::json!({
            "venue": venue.to_string(),
            "job_id": job.job_id,
            "status": format!("{:?}", job_view.status),
            "provider": provider.to_checksum(None),
            "post_gas": posted.1.gas_used,
            "deploy_verifier_gas": deploy.gas_used,
            "register_gas": register.gas_used,
            "price_wei": PRICE_WEI.to_string(),
            "agent": report,
        });
        Ok(ChainRun { lines, json })
    }
}

impl Drop for LocalChain {
    fn drop(&mut self) {
        if let Some(c) = self.agent.as_mut() {
            super::demo::stop(c);
        }
    }
}
