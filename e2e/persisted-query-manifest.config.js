// Apollo's generate-persisted-query-manifest, run by e2e/run from e2e/:
// the Apollo app's operations in, an apollo-persisted-query-manifest out
// (into E2E_PQ_DIR, which the `only`-mode server loads).
const dir = process.env.E2E_PQ_DIR;
if (!dir) {
  throw new Error('E2E_PQ_DIR is not set: run through e2e/run');
}

export default {
  documents: ['operations/apollo.js'],
  output: `${dir}/apollo.json`,
};
