// The manifests e2e/run generated into E2E_PQ_DIR before the `only`-mode
// server started, read the way each client would know its ids.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Kind, parse } from 'graphql';

import { pq } from './env.js';

function read(file) {
  return JSON.parse(readFileSync(path.join(pq.dir, file), 'utf8'));
}

/** The operation name of a GraphQL document's (only) operation. */
export function operationName(text) {
  const op = parse(text).definitions.find((d) => d.kind === Kind.OPERATION_DEFINITION);
  return op?.name?.value;
}

/** byName turns a flat map {id: text} into {name: {id, body}}. */
function byName(map) {
  return Object.fromEntries(Object.entries(map).map(([id, body]) => [operationName(body), { id, body }]));
}

/** Apollo's persisted query manifest (apollo.json), written by generate-persisted-query-manifest. */
export const apolloManifestFile = path.join(pq.dir, 'apollo.json');
export const apolloManifest = read('apollo.json');
/** The Apollo operations by name: {id (sha256 hex), body, type}. */
export const apolloOps = Object.fromEntries(apolloManifest.operations.map((o) => [o.name, o]));

/** GraphQL Code Generator's persisted-documents.json, codegen 6 form: ids `sha256:<hex>`. */
export const codegenOps = byName(read('codegen.json'));
/** The same documents with plain hex ids (the codegen 5 form). */
export const codegenPlainOps = byName(read('codegen-plain.json'));
/** The Relay query map: ids are the MD5 of the text. */
export const relayOps = byName(read('relay.json'));

/** The files e2e/run generated, as the server's `documents check` should see them. */
export const generatedFiles = ['apollo.json', 'codegen.json', 'codegen-plain.json', 'relay.json'].map((f) => path.join(pq.dir, f));
