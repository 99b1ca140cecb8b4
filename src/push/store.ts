/** Devices, preferences and the push outbox (migrations/0005_push.sql). */
import type { Db } from "../db/open";

export type Platform = "ios" | "android" | "web";

export interface DeviceRow {
  user_id: number;
  device_id: string;
  platform: Platform;
  token: string;
  app_version: string | null;
  registered_at: number;
  last_used_at: number | null;
}

export interface JobRow {
  id: number;
  user_id: number;
  device_id: string;
  collapse_key: string;
  payload: string;
  attempts: number;
  platform: Platform;
  token: string;
}

export class PushStore {
  private readonly upsertDeviceQ;
  private readonly releaseTokenQ;
  private readonly devicesOfQ;
  private readonly devicesOfManyQ;
  private readonly deviceQ;
  private readonly deleteDeviceQ;
  private readonly touchDeviceQ;
  private readonly prefsQ;
  private readonly putPrefsQ;
  private readonly enqueueQ;
  private readonly collapseQ;
  private readonly dueQ;
  private readonly claimQ;
  private readonly doneQ;
  private readonly requeueQ;
  private readonly retryQ;
  private readonly failQ;
  private readonly nextDueQ;
  private readonly pruneFailedQ;
  private readonly depthQ;

  constructor(db: Db) {
    this.upsertDeviceQ = db.query(
      `INSERT INTO devices (user_id, device_id, platform, token, app_version, registered_at)
       VALUES ($user_id, $device_id, $platform, $token, $app_version, $now)
       ON CONFLICT (user_id, device_id) DO UPDATE SET
         platform = excluded.platform, token = excluded.token, app_version = excluded.app_version, registered_at = excluded.registered_at`,
    );
    // A token registered again (another account on the same phone) belongs to the newest owner.
    this.releaseTokenQ = db.query("DELETE FROM devices WHERE platform = ? AND token = ? AND NOT (user_id = ? AND device_id = ?)");
    this.devicesOfQ = db.query<DeviceRow, [number]>("SELECT * FROM devices WHERE user_id = ? ORDER BY registered_at");
    this.devicesOfManyQ = db.query<DeviceRow, [string]>("SELECT * FROM devices WHERE user_id IN (SELECT value FROM json_each(?))");
    this.deviceQ = db.query<DeviceRow, [number, string]>("SELECT * FROM devices WHERE user_id = ? AND device_id = ?");
    this.deleteDeviceQ = db.query("DELETE FROM devices WHERE user_id = ? AND device_id = ?");
    this.touchDeviceQ = db.query("UPDATE devices SET last_used_at = ? WHERE user_id = ? AND device_id = ?");
    this.prefsQ = db.query<{ document: string }, [number]>("SELECT document FROM notification_preferences WHERE user_id = ?");
    this.putPrefsQ = db.query(
      `INSERT INTO notification_preferences (user_id, document, updated_at) VALUES (?1, ?2, ?3)
       ON CONFLICT (user_id) DO UPDATE SET document = ?2, updated_at = ?3`,
    );
    // A job still pending for the same device and conversation — not tried yet, or waiting for a
    // retry while the provider fails — takes the newer payload: the device gets one push for the
    // conversation, not one per message (issue #7: collapse instead of flooding).
    this.collapseQ = db.query(
      `UPDATE push_jobs SET payload = $payload
       WHERE user_id = $user_id AND device_id = $device_id AND collapse_key = $collapse_key AND failed_at IS NULL`,
    );
    // Otherwise a new job (the upsert only guards the unique index against an older writer).
    this.enqueueQ = db.query(
      `INSERT INTO push_jobs (user_id, device_id, collapse_key, payload, next_attempt_at, created_at)
       VALUES ($user_id, $device_id, $collapse_key, $payload, $now, $now)
       ON CONFLICT (user_id, device_id, collapse_key) WHERE attempts = 0 AND failed_at IS NULL
       DO UPDATE SET payload = excluded.payload`,
    );
    this.dueQ = db.query<JobRow, [number, number]>(
      `SELECT j.id, j.user_id, j.device_id, j.collapse_key, j.payload, j.attempts, d.platform, d.token
       FROM push_jobs j JOIN devices d ON d.user_id = j.user_id AND d.device_id = j.device_id
       WHERE j.failed_at IS NULL AND j.next_attempt_at <= ? ORDER BY j.next_attempt_at LIMIT ?`,
    );
    this.claimQ = db.query("UPDATE push_jobs SET attempts = attempts + 1, next_attempt_at = ? WHERE id = ?");
    // Only if the payload is still the one sent: a newer one that arrived meanwhile must go out too.
    this.doneQ = db.query("DELETE FROM push_jobs WHERE id = ? AND payload = ?");
    this.requeueQ = db.query("UPDATE push_jobs SET next_attempt_at = ? WHERE id = ?");
    this.retryQ = db.query("UPDATE push_jobs SET next_attempt_at = ?, last_error = ? WHERE id = ?");
    this.failQ = db.query("UPDATE push_jobs SET failed_at = ?, last_error = ? WHERE id = ?");
    this.nextDueQ = db.query<{ at: number | null }, []>("SELECT min(next_attempt_at) AS at FROM push_jobs WHERE failed_at IS NULL");
    this.pruneFailedQ = db.query("DELETE FROM push_jobs WHERE failed_at IS NOT NULL AND failed_at < ?");
    this.depthQ = db.query<{ pending: number; failed: number }, []>(
      "SELECT count(*) FILTER (WHERE failed_at IS NULL) AS pending, count(*) FILTER (WHERE failed_at IS NOT NULL) AS failed FROM push_jobs",
    );
  }

  upsertDevice(d: Omit<DeviceRow, "registered_at" | "last_used_at">, now: number) {
    this.releaseTokenQ.run(d.platform, d.token, d.user_id, d.device_id);
    this.upsertDeviceQ.run({ ...d, now });
  }

  selectDevicesOf(userId: number): DeviceRow[] {
    return this.devicesOfQ.all(userId);
  }

  /** Devices of many users in one query, grouped by user (only users that have some). */
  selectDevicesOfMany(userIds: number[]): Map<number, DeviceRow[]> {
    const out = new Map<number, DeviceRow[]>();
    if (!userIds.length) return out;
    for (const d of this.devicesOfManyQ.all(JSON.stringify(userIds))) out.set(d.user_id, [...(out.get(d.user_id) ?? []), d]);
    return out;
  }

  selectDevice(userId: number, deviceId: string): DeviceRow | null {
    return this.deviceQ.get(userId, deviceId);
  }

  deleteDevice(userId: number, deviceId: string): boolean {
    return this.deleteDeviceQ.run(userId, deviceId).changes > 0;
  }

  touchDevice(userId: number, deviceId: string, now: number) {
    this.touchDeviceQ.run(now, userId, deviceId);
  }

  selectPreferences(userId: number): string | null {
    return this.prefsQ.get(userId)?.document ?? null;
  }

  putPreferences(userId: number, document: string, now: number) {
    this.putPrefsQ.run(userId, document, now);
  }

  enqueue(j: { user_id: number; device_id: string; collapse_key: string; payload: string }, now: number) {
    if (this.collapseQ.run(j).changes === 0) this.enqueueQ.run({ ...j, now });
  }

  selectDue(now: number, limit: number): JobRow[] {
    return this.dueQ.all(now, limit);
  }

  /** Take a job for sending: counted as an attempt, and not due again before `leaseUntil`. */
  claim(id: number, leaseUntil: number) {
    this.claimQ.run(leaseUntil, id);
  }

  /**
   * The provider accepted `sentPayload`. False when a newer message replaced the payload while it
   * was being sent: the job then stays, due at once, to send that one.
   */
  complete(id: number, sentPayload: string, now: number): boolean {
    if (this.doneQ.run(id, sentPayload).changes > 0) return true;
    this.requeueQ.run(now, id);
    return false;
  }

  retryAt(id: number, at: number, error: string) {
    this.retryQ.run(at, error.slice(0, 500), id);
  }

  fail(id: number, now: number, error: string) {
    this.failQ.run(now, error.slice(0, 500), id);
  }

  nextDueAt(): number | null {
    return this.nextDueQ.get()?.at ?? null;
  }

  pruneFailed(before: number) {
    this.pruneFailedQ.run(before);
  }

  depth(): { pending: number; failed: number } {
    return this.depthQ.get() ?? { pending: 0, failed: 0 };
  }
}
