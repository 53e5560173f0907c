import { pino, type Logger } from 'pino';
import { escapeAttackerText } from './text/escape.js';

export type { Logger } from 'pino';

/** Log level from -v / -d: warn by default, info with -v, debug with -d. */
export function logLevel(opts: { verbose: boolean; debug: boolean }): pino.Level {
  if (opts.debug) return 'debug';
  if (opts.verbose) return 'info';
  return 'warn';
}

/** pino's serialised line with the JSON-form escapes; its own line end kept. */
function safeLogLine(line: string): string {
  return line.endsWith('\n') ? escapeAttackerText(line.slice(0, -1), 'json') + '\n' : escapeAttackerText(line, 'json');
}

/**
 * Operational JSON logs on stderr (pino). Secrets are redacted by path; attacker strings must go through
 * {@link escapeAttackerText} before they are logged, and every serialised line passes through it again (JSON
 * form) so a character a terminal could act on (DEL, C1, U+2028/9, bidi controls) never reaches stderr raw,
 * whatever a call site forgot. Components take `logger.child({ component })`.
 */
export function createLogger(level: pino.Level | 'silent', destination: pino.DestinationStream | number = 2): Logger {
  return pino(
    {
      level,
      base: { app: 'sipwarden' },
      hooks: { streamWrite: safeLogLine },
      redact: {
        paths: [
          'secret', '*.secret', 'password', '*.password', 'token', '*.token', 'authorization', '*.authorization',
          'oauth2ClientSecret', '*.oauth2ClientSecret', 'webhookSecret', '*.webhookSecret', 'apiTokens', '*.apiTokens',
        ],
        censor: '<redacted>',
      },
    },
    typeof destination === 'number' ? pino.destination({ fd: destination, sync: false }) : destination,
  );
}

export { escapeAttackerText } from './text/escape.js';
