import { TRPCError } from '@trpc/server';

/** The tRPC error code a server-side call fails with, or 'OK'; anything but a TRPCError rethrows. */
export async function trpcCodeOf(call: () => Promise<unknown>): Promise<string> {
  try {
    await call();
    return 'OK';
  } catch (err) {
    if (err instanceof TRPCError) return err.code;
    throw err;
  }
}
