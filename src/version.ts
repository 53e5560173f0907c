import { readFileSync } from 'node:fs';

/** Our semver, read once from package.json (one level above both `src/` and `dist/`). */
export const VERSION: string = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

/** Application name used in logs, JSON log `app_name`, HTTP headers. */
export const APP_NAME = 'sipwarden';
