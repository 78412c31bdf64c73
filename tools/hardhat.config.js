// The local development chain (`hardhat node`) that veriflop's chain tests and
// `veriflop-prover demo --chain local` start (chain/src/devnode.rs): chain id
// 31337, automine, hardhat's published development accounts. Nothing here is
// compiled or deployed by hardhat; veriflop deploys its own artifacts.
module.exports = {
  networks: {
    hardhat: { chainId: 31337 },
  },
};
