// relay-query-map.js IN OUT: writes a Relay-style persisted query map
// { "<md5 hex of the text>": "<text>" } for each operation in IN, each text
// holding the operation and the fragments it uses, as relay-compiler's
// persistConfig writes (without the rest of a Relay project).
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { Kind, parse, print, visit } from 'graphql';

const [input, output] = process.argv.slice(2);
if (!input || !output) {
  console.error('usage: node relay-query-map.js operations.graphql map.json');
  process.exit(2);
}

const doc = parse(readFileSync(input, 'utf8'));
const fragments = new Map(
  doc.definitions.filter((d) => d.kind === Kind.FRAGMENT_DEFINITION).map((d) => [d.name.value, d]),
);

/** used returns the fragments node spreads, transitively, in first-use order. */
function used(node, seen = new Map()) {
  visit(node, {
    FragmentSpread(spread) {
      const name = spread.name.value;
      if (!seen.has(name)) {
        const fragment = fragments.get(name);
        if (!fragment) throw new Error(`${input}: unknown fragment ${name}`);
        seen.set(name, fragment);
        used(fragment, seen);
      }
    },
  });
  return seen;
}

const map = {};
for (const op of doc.definitions.filter((d) => d.kind === Kind.OPERATION_DEFINITION)) {
  const text = [op, ...used(op).values()].map(print).join('\n\n');
  map[createHash('md5').update(text).digest('hex')] = text;
}
writeFileSync(output, `${JSON.stringify(map, null, 2)}\n`);
console.log(`relay query map written to ${output} with ${Object.keys(map).length} operations`);
