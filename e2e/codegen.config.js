// GraphQL Code Generator's client preset, run by e2e/run from e2e/ over the
// urql app's operations, against the server's own schema files. Each target
// writes TypeScript (unused: node --test runs JavaScript) and a
// persisted-documents.json map {id: document}, which e2e/run copies into
// E2E_PQ_DIR:
//
//   - codegen/: the preset's default in codegen 6, ids `sha256:<hex>`
//     (GraphQL over HTTP's persisted documents appendix);
//   - codegen-plain/: the same documents with plain hex sha256 ids, the
//     form codegen 5 wrote with hashAlgorithm 'sha256', made here by the
//     preset's own hashAlgorithm function option.
import { createHash } from 'node:crypto';

const out = process.env.E2E_CODEGEN_OUT;
if (!out) {
  throw new Error('E2E_CODEGEN_OUT is not set: run through e2e/run');
}

const preset = { preset: 'client', presetConfig: { fragmentMasking: false } };

export default {
  schema: ['../schema.graphqls', '../ent.graphql'],
  documents: ['operations/urql.graphql'],
  ignoreNoDocuments: false,
  silent: true,
  generates: {
    [`${out}/codegen/`]: {
      ...preset,
      presetConfig: { ...preset.presetConfig, persistedDocuments: true },
    },
    [`${out}/codegen-plain/`]: {
      ...preset,
      presetConfig: {
        ...preset.presetConfig,
        persistedDocuments: {
          hashAlgorithm: (doc) => createHash('sha256').update(doc).digest('hex'),
        },
      },
    },
  },
};
