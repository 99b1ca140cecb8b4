/**
 * Devices, preferences, and who gets a push (CONTRACT §11): every other participant of a new
 * message who has no live connection, has not muted the conversation or that kind of
 * conversation, and is not in quiet hours in their own timezone. The jobs are written inside
 * the transaction that stores the message (see Journal.onRecord), so none is lost.
 */
import { invalidField, notFound } from "../lib/errors";
import { iso } from "../lib/time";
import type { BatchedWriter } from "../db/batched-writer";
import type { PushConfig } from "../config";
import type { MessageView } from "../messages/model";
import type { UserService } from "../users/service";
import type { ConversationService } from "../conversations/service";
import { checkPreferences, DEFAULT_PREFERENCES, effectivePreview, wantsPush, type Preferences } from "./preferences";
import type { DeviceRow, Platform, PushStore } from "./store";
import { checkPushEndpoint } from "./providers/ssrf";
import { parseSubscription } from "./providers/webpush";
import type { NotificationPayload } from "./providers/provider";

export interface DeviceInput {
  device_id: string;
  platform: Platform;
  device_token: unknown;
  app_version?: string | null;
}

export interface DeviceView {
  device_id: string;
  platform: Platform;
  app_version: string | null;
  registered_at: string;
  last_used_at: string | null;
}

/** Does this user have a live WebSocket or GraphQL connection right now? */
export type IsConnected = (userId: number) => boolean;

const PREVIEW_LENGTH = 200;
const MEDIA_LABEL: Record<string, string> = { image: "📷 Photo", video: "🎥 Video", audio: "🎤 Audio", file: "📎 File" };

export class PushService {
  constructor(
    private readonly store: PushStore,
    private readonly users: UserService,
    private readonly conversations: ConversationService,
    private readonly writer: BatchedWriter,
    private readonly config: PushConfig,
    /** Platforms whose provider has credentials: devices of the others are kept but not sent to. */
    private readonly enabledPlatforms: ReadonlySet<Platform>,
  ) {}

  /** Until a server runs, nobody is connected (the CLI); `serve` plugs in the live answer. */
  private isConnected: IsConnected = () => false;

  setConnectionProbe(probe: IsConnected) {
    this.isConnected = probe;
  }

  async registerDevice(userId: number, d: DeviceInput): Promise<{ success: true; device_id: string; registered_at: string }> {
    const token = await this.checkToken(d.platform, d.device_token);
    const now = Date.now();
    await this.writer.run(() =>
      this.store.upsertDevice({ user_id: userId, device_id: d.device_id, platform: d.platform, token, app_version: d.app_version ?? null }, now),
    );
    return { success: true, device_id: d.device_id, registered_at: iso(now) };
  }

  /** Devices with their tokens, for the operator's test push. */
  devicesWithTokens(userId: number): DeviceRow[] {
    return this.store.selectDevicesOf(userId);
  }

  listDevices(userId: number): DeviceView[] {
    return this.store.selectDevicesOf(userId).map(toDeviceView);
  }

  async deleteDevice(userId: number, deviceId: string) {
    const gone = await this.writer.run(() => this.store.deleteDevice(userId, deviceId));
    if (!gone) throw notFound("Device");
  }

  getPreferences(userId: number): Preferences {
    const raw = this.store.selectPreferences(userId);
    return raw ? { ...DEFAULT_PREFERENCES, ...(JSON.parse(raw) as Partial<Preferences>) } : DEFAULT_PREFERENCES;
  }

  async putPreferences(userId: number, p: Preferences): Promise<Preferences> {
    const doc = checkPreferences({ ...DEFAULT_PREFERENCES, ...p });
    await this.writer.run(() => this.store.putPreferences(userId, JSON.stringify(doc), Date.now()));
    return doc;
  }

  /**
   * Inside the message's transaction: one job per device of each recipient who should hear
   * about it. Connected users learn of it over their connection instead.
   */
  enqueueForMessage(message: MessageView, participantIds: number[]) {
    const senderId = message.sender_id;
    if (senderId === null) return;
    // This runs inside every send's transaction: offline recipients' devices in one query,
    // and nothing more when none of them has a device.
    const offline = participantIds.filter((u) => u !== senderId && !this.isConnected(u));
    const devicesByUser = this.store.selectDevicesOfMany(offline);
    if (!devicesByUser.size) return;
    const now = new Date();
    let context: { senderName: string; title: string | null; group: boolean } | null = null;
    for (const [userId, devices] of devicesByUser) {
      const prefs = this.getPreferences(userId);
      context ??= this.context(senderId, message.conversation_id);
      if (!wantsPush(prefs, message.conversation_id, context.group, now)) continue;
      const payload = this.payload(message, context, effectivePreview(this.config.preview, prefs.preview));
      for (const d of devices) {
        if (!this.enabledPlatforms.has(d.platform)) continue;
        this.store.enqueue({ user_id: userId, device_id: d.device_id, collapse_key: `c${message.conversation_id}`, payload: JSON.stringify(payload) }, now.getTime());
      }
    }
  }

  private context(senderId: number, conversationId: number) {
    const sender = this.users.findById(senderId);
    const conversation = this.conversations.requireMember(senderId, conversationId).conversation;
    const senderName = sender ? `${sender.first_name} ${sender.last_name}`.trim() : "Someone";
    return { senderName, title: conversation.type === "group" ? conversation.title : null, group: conversation.type === "group" };
  }

  /** The notification, as private as the preview setting asks (CONTRACT §11). */
  private payload(m: MessageView, c: { senderName: string; title: string | null; group: boolean }, preview: "full" | "sender" | "none"): NotificationPayload {
    const text = m.content ? m.content.slice(0, PREVIEW_LENGTH) : (MEDIA_LABEL[m.message_type] ?? "New message");
    const base = { type: "new_message" as const, conversation_id: m.conversation_id, message_id: m.message_id, sender_id: m.sender_id! };
    if (preview === "none") return { ...base, sender_name: "", title: "New message", body: "" };
    const title = c.group && c.title ? c.title : c.senderName;
    if (preview === "sender") return { ...base, sender_name: c.senderName, title, body: c.group ? `New message from ${c.senderName}` : "New message" };
    return { ...base, sender_name: c.senderName, title, body: c.group && c.title ? `${c.senderName}: ${text}` : text };
  }

  /** The stored token: Web Push subscriptions are checked against the SSRF rules now. */
  private async checkToken(platform: Platform, token: unknown): Promise<string> {
    if (platform === "web") {
      const sub = parseSubscription(token);
      if (!sub) throw invalidField("device_token", "For web, the PushSubscription object (endpoint, keys.p256dh, keys.auth) or its JSON");
      await checkPushEndpoint(sub.endpoint, this.config.allowPrivateEndpoints);
      return JSON.stringify(sub);
    }
    if (typeof token !== "string" || token.length < 8 || token.length > 4096) throw invalidField("device_token", "The APNs or FCM device token");
    return token;
  }
}

function toDeviceView(d: DeviceRow): DeviceView {
  return { device_id: d.device_id, platform: d.platform, app_version: d.app_version, registered_at: iso(d.registered_at), last_used_at: iso(d.last_used_at) };
}
