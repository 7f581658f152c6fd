/** Types of to-yaml.js for the TypeScript tests (the browser module itself is checked by tsconfig.ui.json). */
export declare function toYaml(value: unknown): string;
