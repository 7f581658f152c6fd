/** The REST API's default limits, in one place for the app, the CLI and the docs. */

/** The largest request body: 1 MiB, far above any real instance or patch. */
export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;

/** Open `GET /api/events` streams per HTTP app (each holds a socket, an open file). */
export const DEFAULT_MAX_EVENT_CLIENTS = 1_000;

/** Open followed logs per HTTP app: fewer, as each one polls its instance's worker. */
export const DEFAULT_MAX_LOG_FOLLOWS = 100;
