//! Gas of every JobEscrow function, measured on hardhat's node over JSON-RPC
//! (real transactions, receipts' `gasUsed`), published in
//! `bench/results/gas-node/gas.json` and generated into docs/CONTRACTS.md
//! between `<!-- gas-node:start -->` and `<!-- gas-node:end -->`.
//!
//! ```sh
//! cargo run -p veriflop-chain --example gas-table            # measure, write both
//! cargo run -p veriflop-chain --example gas-table -- --check # docs match the published file
//! ```
//! (`chain/tests/gas_table.rs` runs the check with the tests.)

use std::path::{Path, PathBuf};

use alloy::primitives::{Address, U256};
use alloy::sol_types::SolCall;
use rand::rngs::OsRng;
use veriflop_chain::devnode::{DevNode, DEV_CHAIN_ID, DEV_KEYS};
use veriflop_chain::gas_table::{render, splice, GasRow, GasTable};
use veriflop_chain::{Connection, Escrow};
use veriflop_circuits::commit::commit_output;
use veriflop_circuits::execute::matmul;
use veriflop_circuits::{Bytes32, CircuitKind, Dtype, InputMatrix, Job, ProofSystem, Shape, Witness};
use veriflop_contracts::abi::IJobEscrow;
use veriflop_contracts::delivery::{attestor_address, cm_c_word, delivery_digest, sign_delivery};
use veriflop_contracts::settle::{statement_address, PostTerms};
use veriflop_prover::{prove_bundle, CpuBackend, ProveOptions};
use veriflop_verifier::ProofBundle;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn posting(
    kind: CircuitKind,
    system: ProofSystem,
    shape: Shape,
    ck: Option<&veriflop_circuits::cp::CommitKey>,
    escrow: &Escrow<'_>,
    client: Address,
) -> (Job, Bytes32, InputMatrix, InputMatrix) {
    let a = InputMatrix::random(shape.m as usize, shape.k as usize, shape.dtype, rand::random()).unwrap();
    let b = InputMatrix::random(shape.k as usize, shape.n as usize, shape.dtype, rand::random()).unwrap();
    let nonce = Bytes32::random();
    let id = escrow.venue().job_id(statement_address(client), &nonce);
    let job = Job::new(id, kind, shape, ck, &a, &b).unwrap().with_system(system).unwrap();
    (job, nonce, a, b)
}

fn groth16(
    pk: &veriflop_prover::ProverKey,
    job: &Job,
    a: &InputMatrix,
    b: &InputMatrix,
    provider: Address,
) -> ProofBundle {
    let w = Witness {
        job_id: job.job_id.0,
        provider: statement_address(provider),
        a: a.clone(),
        b: b.clone(),
        c: matmul(&job.shape, a, b).unwrap(),
    };
    prove_bundle(pk, w, &CpuBackend::new(), &mut OsRng, ProveOptions::default(), &|_| {}).unwrap().0
}

async fn measure() -> anyhow::Result<GasTable> {
    let node = DevNode::start()?;
    let conn = |i: usize| {
        let url = node.url.clone();
        async move { Connection::connect(&url, DEV_KEYS[i].parse().unwrap(), Some(DEV_CHAIN_ID)).await }
    };
    let (owner, client, provider, other) = (conn(0).await?, conn(1).await?, conn(2).await?, conn(3).await?);
    let mut rows = Vec::new();
    let mut row = |function: &str, caller: &str, case: &str, gas: u64| {
        rows.push(GasRow { function: function.into(), caller: caller.into(), case: case.into(), gas });
    };
    let (escrow, t) = Escrow::deploy(&owner, owner.from()).await?;
    row("constructor (deploy JobEscrow)", "operator", "", t.gas_used);
    let esc = |c| Escrow { conn: c, address: escrow.address };
    let shape = Shape::new(4, 4, 4, Dtype::Int8)?;
    let (cpk, cvk) = veriflop_prover::setup::generate(CircuitKind::Committed, shape, &mut OsRng)?;
    let (ppk, pvk) = veriflop_prover::setup::generate(CircuitKind::Poseidon, shape, &mut OsRng)?;
    let (_, d, r) = escrow.register_groth16(&cvk).await?;
    row("deploy verifier", "operator", "CommittedVerifier (Groth16, committed)", d.gas_used);
    row("registerVerifier", "owner", "", r.gas_used);
    let (_, d, _) = escrow.register_groth16(&pvk).await?;
    row("deploy verifier", "operator", "Groth16Verifier (Poseidon / naive)", d.gas_used);
    let srs = veriflop_halo2::setup_srs(12, [7; 32])?;
    let (hpk, hvk) = veriflop_halo2::keygen(&shape, &srs)?;
    let (_, d, _) = escrow.register_halo2(&hvk, &shape).await?;
    row("deploy verifier", "operator", "halo2 verifier (snark-verifier, 4×4×4)", d.gas_used);

    let now = || async {
        let b = client.dev_rpc("eth_getBlockByNumber", serde_json::json!(["latest", false])).await.unwrap();
        u64::from_str_radix(b["timestamp"].as_str().unwrap().trim_start_matches("0x"), 16).unwrap()
    };
    let deadline = now().await + 3600;
    let plain = PostTerms { deadline, lock_window: 0, lock_stake: 0 };
    let locking = PostTerms { deadline, lock_window: 600, lock_stake: 10u128.pow(17) };
    let ck = cpk.commit_key().ok();

    // Committed: postJob, lock, submit by the locker.
    let (job, nonce, a, b) =
        posting(CircuitKind::Committed, ProofSystem::Groth16Bn254, shape, ck.as_ref(), &escrow, client.from());
    let (id, t) = esc(&client).post(&job, &nonce, &locking, 10u128.pow(16)).await?;
    row("postJob", "client", "with lock terms", t.gas_used);
    row("lock", "provider", "", esc(&provider).lock(&id).await?.gas_used);
    let bundle = groth16(&cpk, &job, &a, &b, provider.from());
    row(
        "submit",
        "provider",
        "committed circuit, by the lock holder (stake returned)",
        esc(&provider).settle(&bundle).await?.gas_used,
    );
    // Committed without a lock.
    let (job, nonce, a, b) =
        posting(CircuitKind::Committed, ProofSystem::Groth16Bn254, shape, ck.as_ref(), &escrow, client.from());
    let (_, t) = esc(&client).post(&job, &nonce, &plain, 10u128.pow(16)).await?;
    row("postJob", "client", "no lock", t.gas_used);
    let bundle = groth16(&cpk, &job, &a, &b, provider.from());
    row("submit", "provider", "committed circuit, unlocked", esc(&provider).settle(&bundle).await?.gas_used);
    // Poseidon.
    let (job, nonce, a, b) =
        posting(CircuitKind::Poseidon, ProofSystem::Groth16Bn254, shape, None, &escrow, client.from());
    esc(&client).post(&job, &nonce, &plain, 10u128.pow(16)).await?;
    let bundle = groth16(&ppk, &job, &a, &b, provider.from());
    row("submitPoseidon", "provider", "Poseidon circuit, unlocked", esc(&provider).settle(&bundle).await?.gas_used);
    // halo2.
    let (job, nonce, a, b) =
        posting(CircuitKind::Poseidon, ProofSystem::Halo2KzgBn254, shape, None, &escrow, client.from());
    esc(&client).post(&job, &nonce, &plain, 10u128.pow(16)).await?;
    let c = matmul(&shape, &a, &b)?;
    let payee = statement_address(provider.from());
    let proof = veriflop_halo2::proof::prove_unchecked(&hpk, job.job_id.0, payee.to_fr(), &a, &b, &c)?;
    let bundle = ProofBundle::halo2(job.statement(payee, commit_output(&shape, &c)), proof);
    row("submitHalo2", "provider", "halo2, unlocked", esc(&provider).settle(&bundle).await?.gas_used);
    // Delivery: 1 of 1 attestor.
    let attestor = k256::ecdsa::SigningKey::random(&mut OsRng);
    let set = [Address::from(attestor_address(&attestor))];
    let (job, nonce, a, b) =
        posting(CircuitKind::Committed, ProofSystem::Groth16Bn254, shape, ck.as_ref(), &escrow, client.from());
    let (id, t) = esc(&client).post_with_delivery(&job, &nonce, &plain, 10u128.pow(16), &set, 1).await?;
    row("postJobWithDelivery", "client", "1 of 1 attestor", t.gas_used);
    let bundle = groth16(&cpk, &job, &a, &b, provider.from());
    let word = cm_c_word(&bundle);
    let sig = sign_delivery(&attestor, &delivery_digest(DEV_CHAIN_ID, escrow.address.0 .0, &id, word));
    row("attestDelivery", "anyone", "1 receipt", esc(&provider).attest(&id, word, &set, 1, &[sig]).await?.gas_used);
    row(
        "submit",
        "provider",
        "committed circuit, delivery job, unlocked",
        esc(&provider).settle(&bundle).await?.gas_used,
    );
    // Slash an expired lock, withdraw it, refund after the deadline.
    let (job, nonce, _, _) =
        posting(CircuitKind::Committed, ProofSystem::Groth16Bn254, shape, ck.as_ref(), &escrow, client.from());
    let (id, _) = esc(&client).post(&job, &nonce, &locking, 10u128.pow(16)).await?;
    esc(&provider).lock(&id).await?;
    client.dev_rpc("evm_increaseTime", serde_json::json!([601])).await?;
    client.dev_rpc("evm_mine", serde_json::json!([])).await?;
    row("slashLock", "anyone", "expired lock", esc(&other).slash(&id).await?.gas_used);
    row("withdraw", "client", "a forfeited stake", esc(&client).withdraw().await?.gas_used);
    client.dev_rpc("evm_increaseTime", serde_json::json!([3600])).await?;
    client.dev_rpc("evm_mine", serde_json::json!([])).await?;
    row("refund", "client", "after the deadline", esc(&client).refund(&id).await?.gas_used);
    // Owner functions.
    let data = IJobEscrow::retireShapeCall {
        shape: veriflop_contracts::shape_id(ProofSystem::Groth16Bn254, CircuitKind::Poseidon, &shape),
    }
    .abi_encode();
    row("retireShape", "owner", "", owner.send("retireShape", Some(escrow.address), data, U256::ZERO).await?.gas_used);
    let data = IJobEscrow::transferOwnershipCall { newOwner: other.from() }.abi_encode();
    row(
        "transferOwnership",
        "owner",
        "",
        owner.send("transferOwnership", Some(escrow.address), data, U256::ZERO).await?.gas_used,
    );
    let data = IJobEscrow::acceptOwnershipCall {}.abi_encode();
    row(
        "acceptOwnership",
        "new owner",
        "",
        other.send("acceptOwnership", Some(escrow.address), data, U256::ZERO).await?.gas_used,
    );

    let version = std::process::Command::new("node")
        .arg("-p")
        .arg("require('hardhat/package.json').version")
        .current_dir(veriflop_chain::devnode::locate()?)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    Ok(GasTable {
        node: format!("hardhat {version} node (its default hardfork), chain {DEV_CHAIN_ID}"),
        shape: "4×4×4 int8".into(),
        rows,
    })
}

fn main() -> anyhow::Result<()> {
    let check = std::env::args().any(|a| a == "--check");
    let json_path = root().join(veriflop_chain::gas_table::RESULTS);
    let doc_path = root().join("docs/CONTRACTS.md");
    if !check {
        let rt = tokio::runtime::Runtime::new()?;
        let table = rt.block_on(measure())?;
        std::fs::create_dir_all(json_path.parent().unwrap())?;
        std::fs::write(&json_path, serde_json::to_string_pretty(&table)? + "\n")?;
        println!("wrote {}", json_path.display());
    }
    let table: GasTable = serde_json::from_slice(&std::fs::read(&json_path)?)?;
    let doc = std::fs::read_to_string(&doc_path)?;
    let new = splice(&doc, &render(&table)).map_err(anyhow::Error::msg)?;
    if check {
        anyhow::ensure!(new == doc, "docs/CONTRACTS.md's node gas table is not the published one: run `cargo run -p veriflop-chain --example gas-table`");
        println!("docs/CONTRACTS.md: node gas table is current");
    } else {
        std::fs::write(&doc_path, new)?;
        println!("wrote the table into {}", doc_path.display());
    }
    Ok(())
}
