import pino, { type Logger } from 'pino';

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** The proxy's own log: JSON lines on stderr, so stdout stays for access logs (as Envoy does). */
export function createLogger(level: LogLevel): Logger {
  return pino({ level, base: { component: 'meshlet' } }, pino.destination({ dest: 2, sync: true }));
}
