//! docs/CONTRACTS.md's node gas table is the published measurement
//! (`bench/results/gas-node/gas.json`, made by `--example gas-table`).

use std::path::Path;

use veriflop_chain::gas_table::{render, splice, GasTable, RESULTS};

#[test]
fn contracts_md_shows_the_published_node_gas_table() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let table: GasTable = serde_json::from_slice(&std::fs::read(root.join(RESULTS)).unwrap()).unwrap();
    let functions: Vec<&str> = table.rows.iter().map(|r| r.function.as_str()).collect();
    for f in [
        "postJob",
        "postJobWithDelivery",
        "lock",
        "submit",
        "submitPoseidon",
        "submitHalo2",
        "attestDelivery",
        "slashLock",
        "refund",
        "withdraw",
        "registerVerifier",
        "retireShape",
    ] {
        assert!(functions.contains(&f), "the table misses {f}");
    }
    let doc = std::fs::read_to_string(root.join("docs/CONTRACTS.md")).unwrap();
    assert_eq!(
        splice(&doc, &render(&table)).unwrap(),
        doc,
        "docs/CONTRACTS.md is not current: run `cargo run -p veriflop-chain --example gas-table`"
    );
}
