/** What a server action tells the form that called it. */
export interface ActionResult {
  ok: boolean;
  message: string | null;
  /** The error code when `ok` is false. */
  code?: string;
  /** Where to follow what the action started (a new deployment), when it started something. */
  link?: { href: string; label: string };
}

export const IDLE: ActionResult = { ok: false, message: null };
