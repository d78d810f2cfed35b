// Stands in for opusscript's asm.js build, which the app never uses (web/vite.config.ts).
module.exports = function () {
  throw new Error('opusscript asm.js build is not bundled: this browser needs WebAssembly');
};
