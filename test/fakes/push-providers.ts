/**
 * The three push provider fakes together, with the test CA, and the settings that point a
 * server at them: `config` for an in-process server (Config.push), `env` for a child process
 * (CONFAB_PUSH_* / CONFAB_APNS_* / CONFAB_FCM_*), `toml` for a CLI's --config file.
 */
import { defaultConfig, type PushConfig } from "../../src/config";
import { makeTestPki, type TestPki } from "./push-tls";
import { startFakeWebPush, type FakeWebPush } from "./webpush";
import { startFakeApns, type FakeApns } from "./apns";
import { startFakeFcm, type FakeFcm } from "./fcm";

export const VAPID_SUBJECT = "mailto:push-tests@confab.test";

export interface PushFakes {
  pki: TestPki;
  webpush: FakeWebPush;
  apns: FakeApns;
  fcm: FakeFcm;
  config: PushConfig;
  env: Record<string, string>;
  toml: string;
  /** Every check any fake failed: a test asserts this stays empty. */
  errors(): string[];
  stop(): Promise<void>;
}

export async function startPushFakes(dir: string): Promise<PushFakes> {
  const pki = makeTestPki(dir);
  const webpush = startFakeWebPush(pki);
  const fcm = startFakeFcm(pki, dir);
  const apns = await startFakeApns(pki, dir);
  const config: PushConfig = {
    ...defaultConfig().push,
    vapidSubject: VAPID_SUBJECT,
    caFile: pki.caFile,
    allowPrivateEndpoints: true,
    apns: apns.config,
    fcm: fcm.config,
  };
  const env = {
    CONFAB_VAPID_SUBJECT: VAPID_SUBJECT,
    CONFAB_PUSH_CA_FILE: pki.caFile,
    CONFAB_PUSH_ALLOW_PRIVATE_ENDPOINTS: "1",
    CONFAB_APNS_URL: apns.config.url,
    CONFAB_APNS_KEY_FILE: apns.config.keyFile,
    CONFAB_APNS_KEY_ID: apns.config.keyId,
    CONFAB_APNS_TEAM_ID: apns.config.teamId,
    CONFAB_APNS_TOPIC: apns.config.topic,
    CONFAB_FCM_URL: fcm.config.url,
    CONFAB_FCM_TOKEN_URL: fcm.config.tokenUrl,
    CONFAB_FCM_SERVICE_ACCOUNT_FILE: fcm.config.serviceAccountFile,
  };
  const q = JSON.stringify;
  const toml = `[push]
vapid_subject = ${q(VAPID_SUBJECT)}
ca_file = ${q(pki.caFile)}
allow_private_endpoints = true
[push.apns]
url = ${q(apns.config.url)}
key_file = ${q(apns.config.keyFile)}
key_id = ${q(apns.config.keyId)}
team_id = ${q(apns.config.teamId)}
topic = ${q(apns.config.topic)}
[push.fcm]
url = ${q(fcm.config.url)}
token_url = ${q(fcm.config.tokenUrl)}
service_account_file = ${q(fcm.config.serviceAccountFile)}
`;
  return {
    pki,
    webpush,
    apns,
    fcm,
    config,
    env,
    toml,
    errors: () => [...webpush.errors, ...apns.errors, ...fcm.errors],
    async stop() {
      webpush.stop();
      fcm.stop();
      await apns.stop();
    },
  };
}
