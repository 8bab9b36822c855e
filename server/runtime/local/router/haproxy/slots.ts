/**
 * What HAProxy has been told (which app holds which slot backend, its servers, its host map
 * entry), and the runtime API commands that take it to what the route table wants. Pure: the
 * front sends the commands and, if one fails, renders everything afresh from this state.
 */
import { serverName, slotBackend, type SlotState } from './config';

export interface ServedApp {
  appName: string;
  hostname: string;
  /** Ready instances of the current release. */
  ports: number[];
}

interface AppSlot {
  slot: number;
  hostname: string;
  /** The host map sends the app's requests here (false: unmapped, servers draining). */
  mapped: boolean;
}

export type Plan = { kind: 'commands'; commands: string[] } | { kind: 'grow'; slots: number };

export class SlotTable {
  readonly #apps = new Map<string, AppSlot>();
  /** slot -> port -> enabled (false: in maintenance, draining until deleted). */
  readonly #servers = new Map<number, Map<number, boolean>>();

  constructor(
    public slots: number,
    private readonly mapFile: string,
  ) {}

  /** Takes the applied state to `desired`; `grow` when more apps are served than there are slots. */
  plan(desired: ServedApp[]): Plan {
    const wanted = new Map(desired.map((a) => [a.appName, a]));
    const needed = [...wanted.keys()].filter((name) => !this.#apps.has(name)).length;
    if (needed > this.#freeSlots().length) return { kind: 'grow', slots: Math.max(this.slots * 2, this.#apps.size + needed) };
    const commands: string[] = [];
    for (const [name, app] of this.#apps) {
      if (wanted.has(name) || !app.mapped) continue;
      commands.push(`del map ${this.mapFile} ${app.hostname}`);
      app.mapped = false;
      for (const [port, enabled] of this.#serversOf(app.slot)) if (enabled) commands.push(this.#disable(app.slot, port));
    }
    const free = this.#freeSlots();
    for (const want of desired) {
      let app = this.#apps.get(want.appName);
      if (!app) {
        app = { slot: free.shift()!, hostname: want.hostname, mapped: false };
        this.#apps.set(want.appName, app);
      }
      const servers = this.#serversOf(app.slot);
      const ports = new Set(want.ports);
      for (const port of ports) {
        const id = `${slotBackend(app.slot)}/${serverName(port)}`;
        if (!servers.has(port)) commands.push(`add server ${id} 127.0.0.1:${port}`);
        if (servers.get(port) !== true) commands.push(`enable server ${id}`);
        servers.set(port, true);
      }
      for (const [port, enabled] of servers) if (enabled && !ports.has(port)) commands.push(this.#disable(app.slot, port));
      // Servers first: the first request the map sends finds them.
      if (!app.mapped) {
        commands.push(`add map ${this.mapFile} ${want.hostname} ${slotBackend(app.slot)}`);
        app.mapped = true;
      }
    }
    return { kind: 'commands', commands };
  }

  /** Draining servers, as `del server` commands: HAProxy refuses while one still has connections. */
  deletable(): Array<{ slot: number; port: number; command: string }> {
    const out = [];
    for (const [slot, servers] of this.#servers) {
      for (const [port, enabled] of servers) if (!enabled) out.push({ slot, port, command: `del server ${slotBackend(slot)}/${serverName(port)}` });
    }
    return out;
  }

  /** HAProxy deleted the server: forget it, and free the slot of an unmapped app left with none. */
  deleted(slot: number, port: number): void {
    const servers = this.#servers.get(slot);
    servers?.delete(port);
    if (servers?.size) return;
    this.#servers.delete(slot);
    for (const [name, app] of this.#apps) if (app.slot === slot && !app.mapped) this.#apps.delete(name);
  }

  /** For a full render: every slot's servers, and the host map. */
  snapshot(): { state: SlotState[]; map: Array<[string, number]> } {
    const state = [...this.#servers].map(([slot, servers]) => ({ slot, servers: [...servers].map(([port, enabled]) => ({ port, enabled })) }));
    const map = [...this.#apps.values()].filter((a) => a.mapped).map((a): [string, number] => [a.hostname, a.slot]);
    return { state, map };
  }

  #disable(slot: number, port: number): string {
    this.#servers.get(slot)!.set(port, false);
    return `disable server ${slotBackend(slot)}/${serverName(port)}`;
  }

  #serversOf(slot: number): Map<number, boolean> {
    let servers = this.#servers.get(slot);
    if (!servers) this.#servers.set(slot, (servers = new Map()));
    return servers;
  }

  #freeSlots(): number[] {
    const used = new Set([...this.#apps.values()].map((a) => a.slot));
    const free = [];
    for (let slot = 0; slot < this.slots; slot++) if (!used.has(slot)) free.push(slot);
    return free;
  }
}
