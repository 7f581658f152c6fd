/** Types of step-queue.js for the TypeScript tests (the browser module itself is checked by tsconfig.ui.json). */
export declare class StepQueue<T> {
  constructor(options: { budgetMs: number; maxStepMs: number; begin: (item: T) => void; land: (item: T) => void });
  push(item: T): void;
  clear(): void;
}
