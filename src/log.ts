import { pino, type Logger } from 'pino';

export type { Logger } from 'pino';

/** Log level from -v / -d: warn by default, info with -v, debug with -d. */
export function logLevel(opts: { verbose: boolean; debug: boolean }): pino.Level {
  if (opts.debug) return 'debug';
  if (opts.verbose) return 'info';
  return 'warn';
}

/**
 * Operational JSON logs on stderr (pino). Secrets are redacted by path; attacker strings must go through
 * {@link escapeAttackerText} before they are logged. Components take `logger.child({ component })`.
 */
export function createLogger(level: pino.Level | 'silent', destination: pino.DestinationStream | number = 2): Logger {
  return pino(
    {
      level,
      base: { app: 'sipwarden' },
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

/**
 * Escapes attacker-controlled text for logs: C0 controls and DEL become `\xHH`, so a user agent with CR/LF,
 * ESC or NUL can never forge a line or a terminal sequence. (Same rule as the stored `user_agent`, SPEC §6.1.)
 */
export function escapeAttackerText(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\x00-\x1f\x7f]/g, (c) => '\\x' + c.charCodeAt(0).toString(16).padStart(2, '0'));
}
