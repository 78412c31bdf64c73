#!/usr/bin/env node
// Compiles veriflop's Solidity sources with the solc pinned in package.json.
//
//   node scripts/compile.js <outdir>   compile src/**/*.sol, write <outdir>/<Contract>.json
//   node scripts/compile.js --stdin    read {"sources": {"<name>.sol": "<text>"}} on stdin,
//                                      print {"contracts": {"<Contract>": artifact}} on stdout
//
// Same settings in both modes. Output is deterministic: sorted sources, stable
// JSON, no absolute paths, metadata hash left out of the bytecode.
'use strict';
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..');
let solc;
try {
  solc = require(path.join(root, 'node_modules', 'solc'));
} catch (e) {
  console.error("the pinned Solidity compiler is not installed: run 'npm ci --prefix contracts'");
  process.exit(2);
}
const pinned = require(path.join(root, 'package.json')).devDependencies.solc;
if (!solc.version().startsWith(pinned + '+')) {
  console.error(`installed solc ${solc.version()} is not the pinned ${pinned}: run 'npm ci --prefix contracts'`);
  process.exit(2);
}

const SETTINGS = {
  evmVersion: 'cancun',
  optimizer: { enabled: true, runs: 1000 },
  metadata: { bytecodeHash: 'none' },
  outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object', 'evm.deployedBytecode.object'] } },
};

function compile(sources) {
  const input = { language: 'Solidity', sources: {}, settings: SETTINGS };
  for (const name of Object.keys(sources).sort()) input.sources[name] = { content: sources[name] };
  const out = JSON.parse(solc.compile(JSON.stringify(input)));
  const errors = (out.errors || []).filter((e) => e.severity === 'error');
  for (const e of out.errors || []) console.error(e.formattedMessage || e.message);
  if (errors.length > 0) process.exit(1);
  const contracts = {};
  for (const src of Object.keys(out.contracts || {}).sort()) {
    for (const name of Object.keys(out.contracts[src]).sort()) {
      if (contracts[name]) {
        console.error(`contract name ${name} is defined twice (${contracts[name].sourceName}, ${src})`);
        process.exit(1);
      }
      const c = out.contracts[src][name];
      contracts[name] = {
        contractName: name,
        sourceName: src,
        compiler: `solc ${solc.version()}`,
        settings: SETTINGS,
        abi: c.abi,
        bytecode: '0x' + c.evm.bytecode.object,
        deployedBytecode: '0x' + c.evm.deployedBytecode.object,
      };
    }
  }
  return contracts;
}

function walk(dir) {
  let files = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) files = files.concat(walk(p));
    else if (e.name.endsWith('.sol')) files.push(p);
  }
  return files;
}

const arg = process.argv[2];
if (arg === '--stdin') {
  const req = JSON.parse(fs.readFileSync(0, 'utf8'));
  process.stdout.write(JSON.stringify({ contracts: compile(req.sources) }));
} else if (arg) {
  const outDir = path.resolve(arg);
  const sources = {};
  for (const f of walk(path.join(root, 'src'))) {
    sources[path.relative(root, f).split(path.sep).join('/')] = fs.readFileSync(f, 'utf8');
  }
  const contracts = compile(sources);
  fs.mkdirSync(outDir, { recursive: true });
  for (const f of fs.readdirSync(outDir)) if (f.endsWith('.json')) fs.unlinkSync(path.join(outDir, f));
  for (const name of Object.keys(contracts)) {
    fs.writeFileSync(path.join(outDir, name + '.json'), JSON.stringify(contracts[name], null, 2) + '\n');
  }
  console.error(`compiled ${Object.keys(contracts).length} contracts with solc ${solc.version()} into ${arg}`);
} else {
  console.error('usage: node scripts/compile.js <outdir> | --stdin');
  process.exit(2);
}
