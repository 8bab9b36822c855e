import { httpStatusOf, type ErrorCode, type ErrorEnvelope } from './contract/errors';

/**
 * A failure the client should see, with a stable code. Anything else that escapes a service
 * is a bug and reaches clients as `internal` with a generic message.
 */
export class AppError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'AppError';
  }

  get httpStatus(): number {
    return httpStatusOf(this.code);
  }

  toEnvelope(): ErrorEnvelope {
    return { code: this.code, message: this.message };
  }
}

export const notFound = (what: string) => new AppError('not_found', `${what} not found`);
