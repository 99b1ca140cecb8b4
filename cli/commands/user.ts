/** `confab user …`: manage accounts on the data dir, also while the server runs (CONTRACT §12). */
import type { Command } from "commander";
import { withCore, type DataDirFlags } from "../context";
import { CliError, printJson, printTable, processIo as io } from "../output";
import { readPassword } from "../password";
import type { Core } from "../../src/app";
import type { UserAccount, UserRow } from "../../src/users/model";

interface PasswordFlags {
  password?: string;
  passwordStdin?: boolean;
}

function findUser(core: Core, ref: string): UserRow {
  const row = core.users.findByRef(ref);
  if (!row) throw new CliError(`no user "${ref}" (name a user by id, email or username)`);
  return row;
}

function printAccount(a: UserAccount, json?: boolean) {
  if (json) return printJson(io, a);
  printTable(
    io,
    ["field", "value"],
    [
      ["id", a.user_id],
      ["username", a.username],
      ["email", a.email],
      ["name", `${a.first_name} ${a.last_name}`],
      ["role", a.role],
      ["disabled", a.disabled],
      ["created", a.created_at],
      ["last active", a.last_active_at],
    ],
  );
}

/** Data-dir options every user subcommand takes. */
function common(cmd: Command): Command {
  return cmd.option("--data-dir <dir>", "data directory (default ./data)").option("--config <file>", "config file").option("--json", "machine-readable output");
}

export function registerUser(program: Command) {
  const user = program.command("user").description("manage user accounts");

  common(
    user
      .command("add")
      .description("create a user")
      .requiredOption("--email <email>", "email address")
      .requiredOption("--username <name>", "username: 3–32 of a-z 0-9 _ .")
      .requiredOption("--first-name <name>", "first name")
      .requiredOption("--last-name <name>", "last name")
      .option("--password <password>", "password (visible in the process list: prefer --password-stdin)")
      .option("--password-stdin", "read the password from standard input")
      .option("--admin", "make the user an administrator"),
  ).action(async (f: DataDirFlags & PasswordFlags & { email: string; username: string; firstName: string; lastName: string; admin?: boolean }) => {
    const password = await readPassword(f);
    await withCore(f, async (core) => {
      const row = await core.users.createUser({
        email: f.email,
        username: f.username,
        first_name: f.firstName,
        last_name: f.lastName,
        password,
        role: f.admin ? "admin" : "user",
      });
      const account = core.users.account(row);
      if (f.json) printJson(io, account);
      else io.out(`created ${account.role} ${account.username} (id ${account.user_id})`);
    }, { create: true });
  });

  common(user.command("list").description("list users").option("--limit <n>", "at most this many", "1000")).action(
    async (f: DataDirFlags & { limit: string }) => {
      const limit = Number(f.limit);
      if (!Number.isInteger(limit) || limit < 1) throw new CliError("--limit must be a positive integer", 2);
      await withCore(f, (core) => {
        const accounts = core.users.listUsers(0, limit).map((r) => core.users.account(r));
        if (f.json) return printJson(io, accounts);
        printTable(
          io,
          ["id", "username", "email", "name", "role", "disabled"],
          accounts.map((a) => [a.user_id, a.username, a.email, `${a.first_name} ${a.last_name}`, a.role, a.disabled]),
        );
      });
    },
  );

  common(user.command("show").description("show one user").argument("<user>", "id, email or username")).action(
    async (ref: string, f: DataDirFlags) => {
      await withCore(f, (core) => printAccount(core.users.account(findUser(core, ref)), f.json));
    },
  );

  common(
    user
      .command("passwd")
      .description("set a user's password")
      .argument("<user>", "id, email or username")
      .option("--password <password>", "the new password")
      .option("--password-stdin", "read the new password from standard input"),
  ).action(async (ref: string, f: DataDirFlags & PasswordFlags) => {
    const password = await readPassword(f);
    await withCore(f, async (core) => {
      const row = findUser(core, ref);
      await core.users.setPassword(row.id, password);
      if (f.json) printJson(io, { success: true, user_id: row.id });
      else io.out(`password of ${row.username} changed`);
    });
  });

  const toggles: [string, string, (core: Core, row: UserRow) => void, string][] = [
    ["disable", "lock a user out at once (ends every session)", (c, r) => c.users.setDisabled(r.id, true), "disabled"],
    ["enable", "let a disabled user log in again", (c, r) => c.users.setDisabled(r.id, false), "enabled"],
    ["promote", "make a user an administrator", (c, r) => c.users.setRole(r.id, "admin"), "promoted to admin"],
    ["demote", "make an administrator a regular user", (c, r) => c.users.setRole(r.id, "user"), "demoted to user"],
  ];
  for (const [name, description, apply, done] of toggles) {
    common(user.command(name).description(description).argument("<user>", "id, email or username")).action(
      async (ref: string, f: DataDirFlags) => {
        await withCore(f, (core) => {
          const row = findUser(core, ref);
          apply(core, row);
          if (f.json) printJson(io, core.users.account(core.users.requireUser(row.id)));
          else io.out(`${row.username} ${done}`);
        });
      },
    );
  }
}
