// Promise.withResolvers arrived in Node 22; a dependency of js-ipfs 0.66 calls it.
// Loaded with `node --require` before the js-ipfs daemon on Node 20 (see docs/toolchain.md).
if (typeof Promise.withResolvers !== "function") {
  Promise.withResolvers = function withResolvers() {
    let resolve;
    let reject;
    const promise = new Promise((res, rej) => {
      resolve = res;
      reject = rej;
    });
    return { promise, resolve, reject };
  };
}
