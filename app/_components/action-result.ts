/** What a server action tells the form that called it. */
export interface ActionResult {
  ok: boolean;
  message: string | null;
  /** The error code when `ok` is false. */
  code?: string;
}

export const IDLE: ActionResult = { ok: false, message: null };
