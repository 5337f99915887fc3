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
const path = require("path");

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

function main() {
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
  const output = solc.compile(input, { import: makeResolver(opts.searchPaths) });
  // Print only the JSON document: callers parse stdout as JSON.
  process.stdout.write(output + "\n");
  return 0;
}

process.exitCode = main();
