/** The text of docs/lifecycle.md, generated from the machine (a test keeps the file current). */
import { lifecycleDiagram } from './diagram.js';
import { createInstanceMachine } from './instance.js';

export function lifecycleDocument(): string {
  const diagram = lifecycleDiagram(createInstanceMachine({ now: Date.now }));
  return `# The instance lifecycle

Generated from \`src/machines/instance.ts\` by \`npm run docs:lifecycle\`; a test
fails when this picture and the machine disagree. Guards in brackets; a
transition without a target state (e.g. \`start\` while Running, \`stop\` while
Starting, which only changes the desired state) is not drawn. The same
machine as data (every transition, and a layout to draw) is served at
\`GET /api/machines/instance\` and printed by
\`draas machine --format json|mermaid|dot\`.

\`\`\`mermaid
${diagram}\`\`\`
`;
}
