// @ts-check
/**
 * The saved configuration as JSON or YAML (a toggle), and which generation
 * runs: "generation N runs", or "generation M saved; being applied" (or
 * "restart to apply", when kept for the next restart) while the workload
 * runs an older one.
 */
import { call } from './api.js';
import { h } from './dom.js';
import { toYaml } from './to-yaml.js';

/** @typedef {{ instanceId: string, generation: number, configuration: unknown }} InstanceConfig */

/** The statuses in which a workload runs (or is being started or stopped), so a generation "runs". */
const workloadStatuses = new Set(['Starting', 'Running', 'Reconfiguring', 'Stopping']);

/**
 * The sentence on generations.
 * @param {number} saved the configuration's generation
 * @param {number | null} observed the generation the workload was started with
 * @param {string} status
 */
export function generationText(saved, observed, status) {
  if (observed === null || !workloadStatuses.has(status)) return `generation ${saved} saved; not running`;
  if (observed !== saved && status === 'Reconfiguring') return `generation ${observed} runs; generation ${saved} saved; being applied`;
  if (observed !== saved) return `generation ${observed} runs; generation ${saved} saved; restart to apply`;
  return `generation ${saved} runs`;
}

/** @param {string} name */
export function createConfigView(name) {
  /** @type {'yaml' | 'json'} */
  let format = 'yaml';
  /** @type {InstanceConfig | undefined} */
  let config;
  const generation = h('p', { class: 'generation' });
  const text = h('pre', { class: 'config-text', tabindex: '0', 'aria-label': 'Configuration as YAML' });
  const yamlButton = h('button', { type: 'button', 'aria-pressed': 'true', onclick: () => choose('yaml') }, 'YAML');
  const jsonButton = h('button', { type: 'button', 'aria-pressed': 'false', onclick: () => choose('json') }, 'JSON');
  const element = h(
    'section',
    { class: 'panel config-panel', 'aria-labelledby': 'config-heading' },
    h('div', { class: 'panel-head' }, h('h2', { id: 'config-heading' }, 'Configuration'), h('div', { class: 'toggle', role: 'group', 'aria-label': 'Format' }, yamlButton, jsonButton)),
    generation,
    text,
  );
  /** @type {number | null} */
  let observed = null;
  let status = '';

  /** @param {'yaml' | 'json'} chosen */
  function choose(chosen) {
    format = chosen;
    yamlButton.setAttribute('aria-pressed', String(chosen === 'yaml'));
    jsonButton.setAttribute('aria-pressed', String(chosen === 'json'));
    render();
  }

  function render() {
    if (config === undefined) return;
    generation.textContent = generationText(config.generation, observed, status);
    text.setAttribute('aria-label', `Configuration as ${format.toUpperCase()}`);
    text.textContent = format === 'yaml' ? toYaml(config.configuration) : JSON.stringify(config.configuration, null, 2);
  }

  return {
    element,
    /** @param {AbortSignal} signal */
    async load(signal) {
      config = /** @type {InstanceConfig} */ (await call('GET', `api/configuration/instances/${encodeURIComponent(name)}`, undefined, signal));
      render();
    },
    /**
     * The generation the workload runs (observedGeneration) and the status; a newer saved one reloads the text.
     * @param {number} saved
     * @param {number | null} observedGeneration
     * @param {string} newStatus
     * @param {AbortSignal} signal
     */
    async generations(saved, observedGeneration, newStatus, signal) {
      observed = observedGeneration;
      status = newStatus;
      if (config !== undefined && saved !== config.generation) await this.load(signal);
      else render();
    },
  };
}
