import { ROLES, type Role } from '../../db/schema/enums';

export { ROLES, type Role };

/** Each role can do everything the roles before it can. */
const RANK: Record<Role, number> = { reader: 0, deployer: 1, admin: 2 };

export function roleAllows(actual: Role, required: Role): boolean {
  return RANK[actual] >= RANK[required];
}

export function isRole(value: string): value is Role {
  return (ROLES as readonly string[]).includes(value);
}

/** Who is calling. Never carries the token itself. */
export interface Actor {
  name: string;
  role: Role;
  /** api_tokens.id for database tokens; null for tokens configured in the environment. */
  tokenId: string | null;
  /** The teams whose apps this caller sees; null: every team (admins always). */
  teams: readonly string[] | null;
}
