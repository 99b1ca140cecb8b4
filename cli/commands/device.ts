/** `confab device …` and `confab push test`: push devices, on the data dir (CONTRACT §12). */
import type { Command } from "commander";
import { withCore, type DataDirFlags } from "../context";
import { CliError, printJson, printTable, processIo as io } from "../output";
import type { Core } from "../../src/app";

function findUser(core: Core, ref: string) {
  const row = core.users.findByRef(ref);
  if (!row) throw new CliError(`no user "${ref}" (name a user by id, email or username)`);
  return row;
}

function common(cmd: Command): Command {
  return cmd.option("--data-dir <dir>", "data directory (default ./data)").option("--config <file>", "config file").option("--json", "machine-readable output");
}

export function registerDevice(program: Command) {
  const device = program.command("device").description("manage push notification devices");

  common(device.command("list").description("list a user's devices").argument("<user>", "id, email or username")).action(
    async (ref: string, f: DataDirFlags) => {
      await withCore(f, (core) => {
        const devices = core.push.listDevices(findUser(core, ref).id);
        if (f.json) return printJson(io, devices);
        printTable(io, ["device", "platform", "app version", "registered", "last used"], devices.map((d) => [d.device_id, d.platform, d.app_version, d.registered_at, d.last_used_at]));
      });
    },
  );

  common(device.command("revoke").description("stop pushing to a device").argument("<user>", "id, email or username").argument("<device_id>", "the device id")).action(
    async (ref: string, deviceId: string, f: DataDirFlags) => {
      await withCore(f, async (core) => {
        await core.push.deleteDevice(findUser(core, ref).id, deviceId);
        if (f.json) printJson(io, { success: true, device_id: deviceId });
        else io.out(`device ${deviceId} revoked`);
      });
    },
  );

  const push = program.command("push").description("push notification tools");
  common(push.command("test").description("send a test notification to every device of a user and print each provider's answer").requiredOption("--user <user>", "id, email or username")).action(
    async (f: DataDirFlags & { user: string }) => {
      await withCore(f, async (core) => {
        const user = findUser(core, f.user);
        const devices = core.push.devicesWithTokens(user.id);
        if (!devices.length) throw new CliError(`${user.username} has no registered devices`);
        let results;
        try {
          results = await core.outbox.sendNow(devices, {
            type: "test",
            conversation_id: 0,
            message_id: crypto.randomUUID(),
            sender_id: user.id,
            sender_name: "confab",
            title: "Test notification",
            body: "If you can read this, push notifications work.",
          });
        } finally {
          // Close the providers' connections (APNs keeps an HTTP/2 session open), or the
          // command never exits.
          core.outbox.stop();
        }
        if (f.json) printJson(io, results);
        else printTable(io, ["device", "platform", "result", "status", "reason"], results.map((r) => [r.device_id, r.platform, r.result.kind, r.result.status, "reason" in r.result ? r.result.reason : ""]));
        // The exit code says whether every device accepted, with --json too.
        if (results.some((r) => r.result.kind !== "ok")) throw new CliError("some devices did not accept the test notification");
      });
    },
  );
}
