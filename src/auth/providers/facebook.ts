/**
 * Facebook Login (CONTRACT §5): the client's user access token is checked with the Graph API's
 * `debug_token` (using our app token, so a token minted for another app is refused), then the
 * profile is read from `/me`. The Graph base URL is a setting, so tests use a local fake.
 */
import { AppError } from "../../lib/errors";
import type { Logger } from "../../lib/log";
import { fetchJson, type ExternalProfile, type IdentityProvider } from "./provider";

export interface FacebookSettings {
  graphUrl: string;
  appId: string;
  appSecret: string;
}

export class FacebookProvider implements IdentityProvider {
  readonly id = "facebook";

  constructor(
    private readonly s: FacebookSettings,
    private readonly log: Logger,
  ) {}

  async verify(userToken: string): Promise<ExternalProfile> {
    const appToken = `${this.s.appId}|${this.s.appSecret}`;
    const debug = await this.call("/debug_token", { input_token: userToken, access_token: appToken });
    const data = debug.body?.data;
    if (!data?.is_valid || String(data.app_id) !== this.s.appId || !data.user_id) throw invalid();
    const me = await this.call("/me", { fields: "id,email,first_name,last_name", access_token: userToken });
    if (me.status !== 200 || String(me.body?.id) !== String(data.user_id)) throw invalid();
    return {
      subject: String(me.body.id),
      email: typeof me.body.email === "string" ? me.body.email : null,
      firstName: String(me.body.first_name ?? "").slice(0, 64) || "Facebook",
      lastName: String(me.body.last_name ?? "").slice(0, 64) || "User",
    };
  }

  private async call(path: string, params: Record<string, string>) {
    const url = `${this.s.graphUrl}${path}?${new URLSearchParams(params)}`;
    try {
      const r = await fetchJson(url);
      if (r.status >= 500) throw new Error(`Graph API answered ${r.status}`);
      return r;
    } catch (e) {
      this.log.warn("graph api unreachable", { path, error: e });
      throw new AppError("SERVICE_UNAVAILABLE", "Facebook could not be reached; try again later", undefined, 5);
    }
  }
}

function invalid() {
  return new AppError("INVALID_TOKEN", "The Facebook access token is not valid for this app");
}
