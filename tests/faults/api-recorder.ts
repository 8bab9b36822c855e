import type { TOKENS } from '../support/harness';
import type { FaultPlane } from './fault-plane';

/** One API answer seen during a fault; status 0 is a call that got no HTTP answer at all. */
export interface ApiAnswer {
  call: string;
  status: number;
  code: string | null;
  retryAfter: string | null;
}

export interface ApiRecorder {
  /** {@link FaultPlane.api}, with every answer recorded. */
  api(method: string, route: string, body?: unknown, role?: keyof typeof TOKENS): Promise<Response>;
  readonly answers: readonly ApiAnswer[];
  /**
   * What a client must never see, even mid-fault: a 5xx other than the outage's 503, a 503 that
   * is not `service_unavailable` with `Retry-After: 2`, or no answer at all.
   */
  unexpected(): ApiAnswer[];
}

async function codeOf(res: Response): Promise<string | null> {
  const body = (await res
    .clone()
    .json()
    .catch(() => null)) as { code?: unknown } | null;
  return typeof body?.code === 'string' ? body.code : null;
}

export function recordApi(fp: Pick<FaultPlane, 'api'>): ApiRecorder {
  const answers: ApiAnswer[] = [];
  return {
    answers,
    async api(method, route, body, role) {
      const call = `${method} ${route}`;
      try {
        const res = await fp.api(method, route, body, role);
        answers.push({ call, status: res.status, code: await codeOf(res), retryAfter: res.headers.get('retry-after') });
        return res;
      } catch (err) {
        answers.push({ call, status: 0, code: String(err), retryAfter: null });
        throw err;
      }
    },
    unexpected: () =>
      answers.filter((a) => {
        if (a.status === 503) return a.code !== 'service_unavailable' || a.retryAfter !== '2';
        return a.status < 200 || (a.status >= 300 && a.status < 400) || a.status >= 500;
      }),
  };
}
