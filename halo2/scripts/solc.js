#!/usr/bin/env node
// Compiles one snark-verifier generated Solidity verifier with the solc pinned in
// contracts/package.json. Reads the source on stdin, prints the creation
// bytecode as hex on stdout.
//
// Settings differ from contracts/scripts/compile.js on purpose: the generated
// verifier is one large inline-assembly block that the legacy optimizer cannot
// fit into 16 stack slots ("stack too deep"), so it is compiled as snark-verifier
// intends, without the optimizer (its Yul is already hand-scheduled).
'use strict';
const fs = require('fs');
const path = require('path');

const contracts = path.resolve(__dirname, '..', '..', 'contracts');
let solc;
try {
  solc = require(path.join(contracts, 'node_modules', 'solc'));
} catch (e) {
  console.error("the pinned Solidity compiler is not installed: run 'npm ci --prefix contracts'");
  process.exit(2);
}
const pinned = require(path.join(contracts, 'package.json')).devDependencies.solc;
if (!solc.version().startsWith(pinned + '+')) {
  console.error(`installed solc ${solc.version()} is not the pinned ${pinned}: run 'npm ci --prefix contracts'`);
  process.exit(2);
}
const input = {
  language: 'Solidity',
  sources: { 'Halo2Verifier.sol': { content: fs.readFileSync(0, 'utf8') } },
  settings: {
    evmVersion: 'cancun',
    optimizer: { enabled: false },
    metadata: { bytecodeHash: 'none' },
    outputSelection: { '*': { Halo2Verifier: ['evm.bytecode.object'] } },
  },
};
const out = JSON.parse(solc.compile(JSON.stringify(input)));
const errors = (out.errors || []).filter((e) => e.severity === 'error');
for (const e of out.errors || []) if (e.severity === 'error') console.error(e.formattedMessage || e.message);
if (errors.length > 0) process.exit(1);
process.stdout.write(out.contracts['Halo2Verifier.sol'].Halo2Verifier.evm.bytecode.object);
