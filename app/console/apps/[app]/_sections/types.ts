import type { TAppSummary } from '../../../../../server/contract/outputs';
import type { getPortalCaller } from '../../../../_trpc/server';

/** The signed-in user's tRPC caller, as a page hands it to its sections. */
export type Caller = NonNullable<Awaited<ReturnType<typeof getPortalCaller>>>['caller'];
export type App = TAppSummary;
