/** The shapes of the admin API's answers that the UI reads (see /api/docs). */
export interface Account {
  user_id: number;
  username: string;
  email: string;
  first_name: string;
  last_name: string;
  role: "user" | "admin";
  disabled: boolean;
  created_at: string;
  last_active_at: string | null;
}

export interface Session {
  session_id: string;
  device_id: string | null;
  device_type: string | null;
  platform: string | null;
  created_at: string;
  last_used_at: string | null;
}

export interface Device {
  device_id: string;
  platform: string;
  app_version: string | null;
  registered_at: string;
  last_used_at: string | null;
}

export interface Stats {
  users: { total: number; disabled: number; admins: number };
  conversations: number;
  messages: { total: number; today: number };
  messages_per_day: { day: string; messages: number }[];
  sessions: number;
  devices: number;
  live: { connections: number; users: number };
  storage: { database_bytes: number; media_bytes: number };
  push: { queued: number; failed: number };
}
