// The logger every module takes: pino's API (structured fields first, message second). Modules
// receive a Logger (usually a child with node/namespace/vmi/probe bound); only the CLI creates one.
import { pino } from 'pino';

export interface Logger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  child(bindings: Record<string, unknown>): Logger;
  isLevelEnabled(level: string): boolean;
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';
export type LogFormat = 'json' | 'pretty';

export interface LoggerOptions {
  level: LogLevel;
  format: LogFormat;
  /** Bound on every line (e.g. { node }). */
  base?: Record<string, unknown>;
  /** Where lines go; defaults to stdout. */
  destination?: NodeJS.WritableStream;
}

export function createLogger(opts: LoggerOptions): Logger {
  const base = { ...opts.base };
  if (opts.format === 'pretty') {
    return pino(
      { level: opts.level, base },
      pino.transport({ target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:HH:MM:ss.l' } }),
    );
  }
  return opts.destination
    ? pino({ level: opts.level, base }, opts.destination)
    : pino({ level: opts.level, base, timestamp: pino.stdTimeFunctions.isoTime });
}

/** A logger that drops everything (tests, library use). */
export const silentLogger: Logger = pino({ level: 'silent' });
