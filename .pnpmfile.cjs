/* global module */
// pnpm hooks, applied to every install (the lockfile records this file's checksum; Dockerfile.base copies it).
//
// drizzle-orm names every driver it supports as an optional peer dependency. With PGlite in the workspace (embedded
// mode, local/), pnpm resolved drizzle-orm with PGlite as a peer everywhere, so every service image installed
// PGlite (27 MB of WebAssembly it never loads). Without the peer, drizzle-orm's PGlite driver, used only by local/,
// finds @electric-sql/pglite through pnpm's hoisted node_modules/.pnpm/node_modules, where local/'s own dependency
// on it puts it. local/test/compose-stack.int.test.ts checks that no service image carries PGlite, and the embedded
// tests that PGlite still works.
module.exports = {
  hooks: {
    readPackage(pkg) {
      if (pkg.name === 'drizzle-orm' && pkg.peerDependencies) {
        delete pkg.peerDependencies['@electric-sql/pglite'];
        if (pkg.peerDependenciesMeta) delete pkg.peerDependenciesMeta['@electric-sql/pglite'];
      }
      return pkg;
    },
  },
};
