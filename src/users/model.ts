/** What a user is, as stored and as shown (CONTRACT §6, the seed's profile). */
import { iso } from "../lib/time";

export type Role = "user" | "admin";

export interface UserRow {
  id: number;
  email: string;
  username: string;
  first_name: string;
  last_name: string;
  password_hash: string | null;
  role: Role;
  disabled: 0 | 1;
  status_message: string | null;
  profile_picture: string | null;
  show_last_seen: 0 | 1;
  show_online_status: 0 | 1;
  last_active_at: number | null;
  created_at: number;
  updated_at: number;
}

export interface PrivacySettings {
  show_last_seen: boolean;
  show_online_status: boolean;
}

/** The short form used in login responses, participant lists and search results. */
export interface UserSummary {
  user_id: number;
  username: string;
  first_name: string;
  last_name: string;
  profile_picture_url: string | null;
}

export interface UserProfile extends UserSummary {
  status_message: string | null;
  last_active_at: string | null;
  privacy_settings: PrivacySettings;
}

/** The operator's view (CLI, admin API): includes email, role and state; never the hash. */
export interface UserAccount extends UserProfile {
  email: string;
  role: Role;
  disabled: boolean;
  created_at: string;
}

/** Builds the URL of a stored profile picture; media signing plugs in here. */
export type PictureUrl = (row: Pick<UserRow, "profile_picture">) => string | null;

/** The columns a summary needs: lists of participants read only these. */
export type SummaryRow = Pick<UserRow, "id" | "username" | "first_name" | "last_name" | "profile_picture">;

export function toSummary(row: SummaryRow, pictureUrl: PictureUrl): UserSummary {
  return {
    user_id: row.id,
    username: row.username,
    first_name: row.first_name,
    last_name: row.last_name,
    profile_picture_url: pictureUrl(row),
  };
}

/**
 * A profile as `viewerId` may see it: others do not learn when a user was last active if that
 * user turned `show_last_seen` off. The user themself always sees everything.
 */
export function toProfile(row: UserRow, viewerId: number, pictureUrl: PictureUrl): UserProfile {
  const self = row.id === viewerId;
  return {
    ...toSummary(row, pictureUrl),
    status_message: row.status_message,
    last_active_at: self || row.show_last_seen ? iso(row.last_active_at) : null,
    privacy_settings: { show_last_seen: row.show_last_seen === 1, show_online_status: row.show_online_status === 1 },
  };
}

export function toAccount(row: UserRow, pictureUrl: PictureUrl): UserAccount {
  return {
    ...toProfile(row, row.id, pictureUrl),
    email: row.email,
    role: row.role,
    disabled: row.disabled === 1,
    created_at: iso(row.created_at),
  };
}
