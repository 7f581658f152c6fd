/** Writes docs/lifecycle.md: the lifecycle machine as a Mermaid diagram (npm run docs:lifecycle). */
import { writeFileSync } from 'node:fs';
import { lifecycleDocument } from '../src/machines/lifecycle-document.js';

writeFileSync(new URL('../docs/lifecycle.md', import.meta.url), lifecycleDocument());
console.log('wrote docs/lifecycle.md');
