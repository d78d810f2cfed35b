/**
 * The layer order of docs/ARCHITECTURE.md, as dependency-cruiser rules: imports go down the list
 * (cli → entries → conformance → companion → toy / messages → transport / audio → util → protocol), never up,
 * and the library imports nothing of the workspaces, the examples, the bench, the scripts or the
 * tests (the CLI alone may load the relay package).
 * test/unit/project/layers.test.ts runs it over src/, relay/src/ and web/src/ (and over a planted upward
 * import, to show the rules catch one).
 *
 * Paths are relative to the directory dependency-cruiser runs in (the repository root).
 */

/** A forbidden edge from `from` (path regex) to any of the `to` folders under src/. */
const upward = (name, comment, from, to) => ({
  name,
  comment,
  severity: 'error',
  from: { path: from },
  to: { path: `^src/(${to.join('|')})/` },
});

/** The entry files of the package's subpaths (and the node:crypto entries), and the CLI above them. */
const ENTRIES = '^src/(index|toy|testing)\\.ts$|^src/crypto-node/|^src/cli/';

module.exports = {
  forbidden: [
    {
      name: 'protocol-is-pure',
      comment: 'src/protocol/ imports nothing else of src/ (DESIGN.md: pure, deterministic, no I/O).',
      severity: 'error',
      from: { path: '^src/protocol/' },
      to: { path: '^src/', pathNot: '^src/protocol/' },
    },
    {
      name: 'protocol-no-node',
      comment: 'src/protocol/ runs in browsers and React Native: no node: built-ins.',
      severity: 'error',
      from: { path: '^src/protocol/' },
      to: { dependencyTypes: ['core'] },
    },
    upward('util-below-the-rest', 'src/util/ imports only protocol/.', '^src/util/', ['audio', 'transport', 'messages', 'toy', 'companion', 'conformance', 'crypto-node']),
    upward('audio-below-its-users', 'src/audio/ imports only util/ and protocol/.', '^src/audio/', ['transport', 'messages', 'toy', 'companion', 'conformance', 'crypto-node']),
    upward('transport-below-its-users', 'src/transport/ imports only util/ and protocol/.', '^src/transport/', ['audio', 'messages', 'toy', 'companion', 'conformance', 'crypto-node']),
    upward('messages-not-the-ble-side', 'src/messages/ imports only audio/, util/ and protocol/.', '^src/messages/', ['transport', 'toy', 'companion', 'conformance', 'crypto-node']),
    upward('toy-not-the-companion', 'src/toy/ imports only transport/, util/ and protocol/.', '^src/toy/', ['audio', 'messages', 'companion', 'conformance', 'crypto-node']),
    upward('companion-not-the-toy', 'src/companion/ imports only audio/, transport/, util/ and protocol/.', '^src/companion/', ['toy', 'messages', 'conformance', 'crypto-node']),
    upward('conformance-drives-the-ble-side', 'src/conformance/ imports only companion/, toy/, transport/, audio/, util/ and protocol/.', '^src/conformance/', ['messages', 'crypto-node']),
    {
      name: 'toy-core-is-sans-io',
      comment: 'The sans-IO toy core (ToyCore, its policy, speaker buffer, types and state schema) imports only protocol/ and itself.',
      severity: 'error',
      from: { path: '^src/toy/(toy-core|policy|speaker-buffer|types|state-schema)\\.ts$' },
      to: { path: '^src/', pathNot: '^src/protocol/|^src/toy/(toy-core|policy|speaker-buffer|types|state-schema)\\.ts$' },
    },
    {
      name: 'nothing-imports-an-entry',
      comment: 'Only the entries (src/index.ts, src/toy.ts, src/testing.ts, src/crypto-node/) and the CLI (src/cli/) import the entries; nothing in the library imports the CLI.',
      severity: 'error',
      from: { path: '^src/', pathNot: ENTRIES },
      to: { path: ENTRIES },
    },
    {
      name: 'library-not-the-rest',
      comment: 'The library imports none of the workspaces, the examples, the bench, the scripts or the tests.',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/cli/' },
      to: { path: '^(relay|web|examples|bench|scripts|test)/' },
    },
    {
      name: 'cli-not-the-rest',
      comment: 'The CLI loads the relay package (`relay serve`, `demo --family`) and nothing else outside the library.',
      severity: 'error',
      from: { path: '^src/cli/' },
      to: { path: '^(web|examples|bench|scripts|test)/' },
    },
    {
      name: 'workspaces-use-the-package',
      comment: 'relay/src/ uses the library only through its package subpaths (tsconfig "paths" map them to the entry files).',
      severity: 'error',
      from: { path: '^relay/src/' },
      to: { path: '^src/', pathNot: '^src/(index|toy|testing)\\.ts$|^src/(protocol|messages|audio)/index\\.ts$' },
    },
    {
      name: 'web-app-browser-safe',
      comment: 'web/src/ runs in a browser: none of the Node-side layers (BLE, toy, companion, file helpers, node:crypto).',
      severity: 'error',
      from: { path: '^web/src/' },
      to: { path: '^src/(toy|companion|transport|util|crypto-node)/|^relay/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '(^|/)node_modules/|(^|/)dist/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
    },
    moduleSystems: ['es6', 'cjs'],
  },
};
