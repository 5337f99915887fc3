#!/usr/bin/env node
// A native-solc-compatible front end for solcjs (the npm package `solc`).
//
// Native solc binaries cannot be downloaded on machines without internet, but the
// npm package `solc` is the same compiler built to WebAssembly. py-solc-x and
// brownie only need two things from a solc executable: `--version` in the native
// format and `--standard-json` (input on stdin, output on stdout). This script
// provides both; `make setup` installs a wrapper that runs it as
// ~/.solcx/solc-v<version>. See docs/toolchain.md.
"use strict";
const fs = require("fs");
const os = require("os");
const path = require("path");
const { spawn } = require("child_process");

const solc = require(path.join(__dirname, "..", "node_modules", "solc"));

function nativeVersion() {
  // solcjs reports e.g. "0.8.28+commit.7893614a.Emscripten.clang"; brownie and
  // py-solc-x parse the native form "Version: 0.8.28+commit.7893614a.Linux.g++".
  const long = solc.version();
  const core = long.split(".Emscripten")[0];
  return `solc, the solidity compiler commandline interface\nVersion: ${core}.Linux.g++`;
}

function parseArgs(argv) {
  const opts = { standardJson: false, version: false, searchPaths: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--version") opts.version = true;
    else if (arg === "--standard-json") opts.standardJson = true;
    else if (["--allow-paths", "--base-path", "--include-path"].includes(arg)) {
      for (const p of String(argv[++i] || "").split(",")) if (p) opts.searchPaths.push(p);
    } else if (arg.startsWith("--") && arg.includes("=")) {
      const [key, value] = arg.split("=", 2);
      if (["--allow-paths", "--base-path", "--include-path"].includes(key)) {
        for (const p of value.split(",")) if (p) opts.searchPaths.push(p);
      }
    }
  }
  return opts;
}

function makeResolver(searchPaths) {
  const roots = [process.cwd(), ...searchPaths];
  return function findImport(importPath) {
    const candidates = path.isAbsolute(importPath)
      ? [importPath]
      : roots.map((root) => path.resolve(root, importPath));
    for (const candidate of candidates) {
      if (fs.existsSync(candidate) && fs.statSync(candidate).isFile()) {
        return { contents: fs.readFileSync(candidate, "utf8") };
      }
    }
    return { error: `File not found: ${importPath} (searched ${roots.join(", ")})` };
  };
}

// ---- compiling on two cores
//
// solcjs is single-threaded, and generating code for a contract is most of a compile:
// this project's RelayLearning and MergeRelayLearning take 12 s each through viaIR.
// With two or more cores and two or more sources asking for code, what the heaviest
// source asks for is compiled in one child process and everything else in another,
// from the same sources, and the two outputs are merged. solc generates code only for
// the contracts that have outputs selected, a contract's bytecode does not depend on
// which others are compiled with it (its metadata names every source either way), and
// both halves number the AST alike, so the merged output equals one compile's, byte for
// byte (brownie's compile of contracts/: 29 s -> 20 s). SOLC_SHIM_SERIAL=1 compiles
// in one process; an input the split cannot read goes to one process as it is.

const CODE = (output) => output === "evm" || output.startsWith("evm.");

function importsOf(unit, text, remappings) {
  const found = [];
  const pattern = /import\s+(?:[^"';]*?\s+from\s+)?["']([^"']+)["']/g;
  for (let match; (match = pattern.exec(text)); ) {
    let target = match[1];
    const remap = remappings.find(([prefix]) => target.startsWith(prefix));
    if (remap) target = remap[1] + target.slice(remap[0].length);
    else if (target.startsWith(".")) target = path.posix.normalize(path.posix.join(path.posix.dirname(unit), target));
    found.push(target);
  }
  return found;
}

// Every source unit the input reaches (its own and their imports, read with `resolve`),
// so that each half of a split can name the units it selects ("*" expanded).
function withImports(input, resolve, remappings) {
  const sources = { ...input.sources };
  const pending = Object.keys(sources);
  while (pending.length) {
    const unit = pending.pop();
    if (sources[unit].content === undefined) return null; // urls: leave it to solc, in one process
    for (const target of importsOf(unit, sources[unit].content, remappings)) {
      if (!sources[target]) {
        const found = resolve(target);
        if (found.error) return null; // solc will name it
        sources[target] = { content: found.contents };
        pending.push(target);
      }
    }
  }
  return sources;
}

// The size of `unit` and of every unit it imports, directly or not: a rough measure of
// the code solc generates for it (MergeRelayLearning inherits RelayLearning).
function weight(unit, sources, remappings) {
  const seen = new Set([unit]);
  const stack = [unit];
  while (stack.length) {
    const current = stack.pop();
    for (const target of importsOf(current, sources[current].content, remappings)) {
      if (sources[target] && !seen.has(target)) { seen.add(target); stack.push(target); }
    }
  }
  return [...seen].reduce((sum, u) => sum + sources[u].content.length, 0);
}

// The two halves of `input`, or null when splitting would not help.
function split(input, resolve) {
  if (process.env.SOLC_SHIM_SERIAL || os.cpus().length < 2) return null;
  const selection = (input.settings || {}).outputSelection || {};
  const remappings = (input.settings.remappings || []).map((r) => r.replace(/^[^:]*:/, "").split("="));
  const sources = withImports(input, resolve, remappings);
  if (!sources) return null;
  const chosen = {}; // unit -> contract -> outputs, "*" expanded to every unit
  for (const unit of Object.keys(sources)) {
    for (const key of ["*", unit]) {
      for (const [contract, outputs] of Object.entries(selection[key] || {})) {
        chosen[unit] = chosen[unit] || {};
        chosen[unit][contract] = [...new Set([...(chosen[unit][contract] || []), ...outputs])];
      }
    }
  }
  const coded = Object.keys(chosen).filter((u) => Object.entries(chosen[u]).some(([c, o]) => c !== "" && o.some(CODE)));
  if (coded.length < 2) return null;
  const weights = Object.fromEntries(coded.map((u) => [u, weight(u, sources, remappings)]));
  const heaviest = coded.reduce((a, b) => (weights[b] > weights[a] ? b : a));
  // Everything the heaviest unit asks for goes with its code: solc generates code for
  // every contract with any output selected once one contract's code is (a half that
  // kept only its ABI took as long as the whole compile).
  const rest = Object.fromEntries(Object.entries(chosen).filter(([unit]) => unit !== heaviest));
  // Each half gets the caller's sources (the imports read again by the same callback),
  // so solc parses them in the same order and numbers the AST nodes the same.
  const part = (outputSelection) => JSON.stringify({ ...input, settings: { ...input.settings, outputSelection } });
  return [part({ [heaviest]: chosen[heaviest] }), part(rest)];
}

function compileInChild(text) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [__filename, "--standard-json", ...process.argv.slice(2).filter((a) => a !== "--standard-json")],
      { env: { ...process.env, SOLC_SHIM_SERIAL: "1" }, stdio: ["pipe", "pipe", "inherit"] });
    const chunks = [];
    child.stdout.on("data", (chunk) => chunks.push(chunk));
    child.on("error", reject);
    child.on("close", (code) => (code === 0 ? resolve(JSON.parse(Buffer.concat(chunks).toString("utf8")))
      : reject(new Error(`solc-shim: a compile process exited with ${code}`))));
    child.stdin.end(text);
  });
}

function merge(outputs) {
  const merged = { contracts: {}, sources: {}, errors: [] };
  const messages = new Set();
  for (const output of outputs) {
    for (const error of output.errors || []) {
      const key = error.formattedMessage || error.message;
      if (!messages.has(key)) { messages.add(key); merged.errors.push(error); }
    }
    for (const [unit, info] of Object.entries(output.sources || {})) merged.sources[unit] = { ...merged.sources[unit], ...info };
    for (const [unit, contracts] of Object.entries(output.contracts || {})) {
      merged.contracts[unit] = merged.contracts[unit] || {};
      for (const [name, fields] of Object.entries(contracts)) {
        const into = (merged.contracts[unit][name] = merged.contracts[unit][name] || {});
        for (const [field, value] of Object.entries(fields)) {
          into[field] = field === "evm" ? { ...into.evm, ...value } : value;
        }
      }
    }
  }
  for (const key of ["contracts", "errors"]) { // as one compile: no empty key
    if (!Object.keys(merged[key]).length) delete merged[key];
  }
  return merged;
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (opts.version) {
    process.stdout.write(nativeVersion() + "\n");
    return 0;
  }
  if (!opts.standardJson) {
    process.stderr.write("solc-shim: only --version and --standard-json are supported\n");
    return 2;
  }
  const input = fs.readFileSync(0, "utf8");
  const resolve = makeResolver(opts.searchPaths);
  let parts = null;
  try {
    parts = split(JSON.parse(input), resolve);
  } catch (error) {
    parts = null; // not JSON solc can split: it will say what is wrong
  }
  const output = parts ? JSON.stringify(merge(await Promise.all(parts.map(compileInChild))))
    : solc.compile(input, { import: resolve });
  // Print only the JSON document: callers parse stdout as JSON.
  process.stdout.write(output + "\n");
  return 0;
}

main().then((code) => { process.exitCode = code; }, (error) => {
  process.stderr.write(`${error.stack || error}\n`);
  process.exitCode = 1;
});
