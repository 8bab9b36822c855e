import type { ErrorCode } from '../server/contract/errors';

/** The CLI's exit codes (the seed's contract). */
export const EXIT = { ok: 0, usage: 2, config: 10, runtime: 20, io: 30, network: 40 } as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** A failure the user should read: a message, the exit code, and what to do about it. */
export class CliError extends Error {
  constructor(
    readonly exitCode: ExitCode,
    message: string,
    readonly hint?: string,
    readonly code?: ErrorCode | string,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

const EXIT_BY_SERVER_CODE: Partial<Record<ErrorCode, ExitCode>> = {
  unauthorized: EXIT.config,
  forbidden: EXIT.config,
  bad_request: EXIT.usage,
  service_unavailable: EXIT.network,
};

export function exitCodeForServerCode(code: string | undefined): ExitCode {
  return (code && EXIT_BY_SERVER_CODE[code as ErrorCode]) || EXIT.runtime;
}

const NETWORK_ERRNOS = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT']);

/** True for errors that mean "could not talk to the server" (fetch's TypeError and its cause). */
export function isNetworkError(err: unknown): boolean {
  let e: unknown = err;
  for (let depth = 0; e && depth < 5; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && NETWORK_ERRNOS.has(code)) return true;
    if (e instanceof TypeError && e.message === 'fetch failed') return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

/** Maps any thrown value to a CliError: our own pass through, I/O errors are 30, the rest 20. */
export function toCliError(err: unknown): CliError {
  if (err instanceof CliError) return err;
  if (isNetworkError(err)) return new CliError(EXIT.network, `cannot reach the control plane: ${(err as Error).message}`, 'check AETHER_API_BASE and that the control plane is running');
  const errno = (err as { code?: unknown; syscall?: unknown })?.code;
  if (typeof errno === 'string' && /^E[A-Z]+$/.test(errno) && (err as { syscall?: unknown }).syscall) {
    return new CliError(EXIT.io, (err as Error).message);
  }
  return new CliError(EXIT.runtime, err instanceof Error ? err.message : String(err));
}
