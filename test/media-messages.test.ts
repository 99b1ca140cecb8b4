/**
 * Media messages end to end (CONTRACT §7, §10): a message may only carry the sender's own
 * uploads to that conversation; every reader gets links minted for that response (REST history,
 * the new_message WebSocket event, its replay after a reconnect, GraphQL); only participants get
 * them at all; deleting the message drops its files, whose links then stop working.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { expectError, startTestServer, type TestServer, type TestUser } from "./harness";
import { directConversation, fetchMedia, makeJpeg, makeMp4, makePdf, makePng, uploadOk } from "./media-fixtures";

let s: TestServer;
let alice: TestUser;
let bob: TestUser;
let eve: TestUser;
let conv: number;
let otherConv: number;

beforeAll(async () => {
  // A 10 s link lifetime rounds expiry to the second, so freshly minted links are visible as such.
  s = await startTestServer({ registration: "open", mediaUrlTtl: 10 });
  [alice, bob, eve] = [await s.register(), await s.register(), await s.register()];
  conv = await directConversation(s, alice, bob);
  otherConv = await directConversation(s, alice, eve);
});
afterAll(() => s?.stop());

const image = async (u = alice, c = conv) => uploadOk(s, u, await makePng(64, 48), { name: "m.png", conversationId: c, messageType: "image" });
const sendMsg = (u: TestUser, body: Record<string, unknown>, c = conv) => s.post(`/api/v1/conversations/${c}/messages`, u.token, body);
const history = async (u: TestUser, c = conv) => (await s.get(`/api/v1/conversations/${c}/messages`, u.token)).body.messages as any[];
const fieldOf = (r: Awaited<ReturnType<typeof sendMsg>>) => expectError(r, 400, "VALIDATION_ERROR").details[0].field;

describe("sending media", () => {
  test("an image message with its upload → 201; the other participant's history has it, with a working link", async () => {
    const f = await image();
    const r = await sendMsg(alice, { message_type: "image", content: "look", media_attachments: [{ file_id: f.file_id }] });
    expect(r.status, r.text).toBe(201);
    expect(r.body.media_attachments).toEqual([
      {
        file_id: f.file_id,
        file_type: "image/png",
        file_url: expect.stringContaining(`/media/${f.file_id}?exp=`),
        thumbnail_url: expect.stringContaining(`/media/${f.file_id}/thumbnail?exp=`),
        file_size: f.file_size,
        file_name: "m.png",
        dimensions: { width: 64, height: 48 },
      },
    ]);
    const seen = (await history(bob)).find((m) => m.message_id === r.body.message_id);
    expect(seen.media_attachments.map((a: any) => a.file_id)).toEqual([f.file_id]);
    expect((await fetchMedia(s, seen.media_attachments[0].file_url)).status).toBe(200);
    expect((await fetchMedia(s, seen.media_attachments[0].thumbnail_url)).status).toBe(200);
  });

  test("several attachments keep their order; a file message may mix types the file list allows", async () => {
    const files = [await uploadOk(s, alice, makePdf(), { conversationId: conv, messageType: "file" }), await image(), await uploadOk(s, alice, makeMp4(), { conversationId: conv, messageType: "file" })];
    const r = await sendMsg(alice, { message_type: "file", media_attachments: files.map((f) => ({ file_id: f.file_id })) });
    expect(r.status, r.text).toBe(201);
    expect(r.body.media_attachments.map((a: any) => a.file_id)).toEqual(files.map((f) => f.file_id));
    expect(r.body.media_attachments.map((a: any) => a.file_type)).toEqual(["application/pdf", "image/png", "video/mp4"]);
  });

  test("the same upload may go out in two messages; a repeated client_message_id returns the original with its attachment", async () => {
    const f = await image();
    const body = { message_type: "image", client_message_id: `c-${f.file_id}`, media_attachments: [{ file_id: f.file_id }] };
    const first = await sendMsg(alice, body);
    const again = await sendMsg(alice, body);
    expect([first.status, again.status]).toEqual([201, 200]);
    expect(again.body.message_id).toBe(first.body.message_id);
    expect(again.body.media_attachments[0].file_id).toBe(f.file_id);
    expect((await sendMsg(alice, { message_type: "image", media_attachments: [{ file_id: f.file_id }] })).status).toBe(201);
  });
});

describe("every transport sends media the same way", () => {
  test("WebSocket send_message and GraphQL sendMessage attach uploads; someone else's upload is refused there too", async () => {
    const viaWs = await image();
    const ws = await connect(alice);
    ws.send({ type: "send_message", request_id: "m1", conversation_id: conv, message_type: "image", media_attachments: [{ file_id: viaWs.file_id }] });
    const ack = await ws.waitFor((f) => f.request_id === "m1");
    expect(ack.type).toBe("message_sent");
    const sent = await ws.waitFor((f) => f.type === "new_message" && f.message?.message_id === ack.message_id);
    const bobs = await image(bob);
    ws.send({ type: "send_message", request_id: "m2", conversation_id: conv, message_type: "image", media_attachments: [{ file_id: bobs.file_id }] });
    const refused = await ws.waitFor((f) => f.request_id === "m2");
    ws.close();
    expect(sent.message.media_attachments[0].file_id).toBe(viaWs.file_id);
    expect(refused).toMatchObject({ type: "error", error: { code: "VALIDATION_ERROR" } });

    const viaGql = await image();
    const mutation = `mutation($input: SendMessageInput!) { sendMessage(input: $input) { message { id mediaAttachments { fileId fileUrl } } errors { field message } } }`;
    const ok = await s.request("POST", "/graphql", alice.token, { query: mutation, variables: { input: { conversationId: String(conv), type: "IMAGE", mediaAttachments: [viaGql.file_id] } } });
    const m = ok.body.data.sendMessage;
    expect(m.errors).toEqual([]);
    expect(m.message.mediaAttachments[0].fileId).toBe(viaGql.file_id);
    expect((await fetchMedia(s, m.message.mediaAttachments[0].fileUrl)).status).toBe(200);
    const no = await s.request("POST", "/graphql", alice.token, { query: mutation, variables: { input: { conversationId: String(conv), type: "IMAGE", mediaAttachments: [bobs.file_id] } } });
    expect(no.body.data.sendMessage.message).toBeNull();
    expect(no.body.data.sendMessage.errors[0].field).toBe("mediaAttachments");
  });
});

describe("only the sender's own uploads to that conversation", () => {
  test("someone else's upload → 400 media_attachments", async () => {
    const bobs = await image(bob);
    expect(fieldOf(await sendMsg(alice, { message_type: "image", media_attachments: [{ file_id: bobs.file_id }] }))).toBe("media_attachments");
  });

  test("the sender's upload to another conversation → 400", async () => {
    const elsewhere = await image(alice, otherConv);
    expect(fieldOf(await sendMsg(alice, { message_type: "image", media_attachments: [{ file_id: elsewhere.file_id }] }))).toBe("media_attachments");
  });

  test("unknown ids, a non-UUID, the same file twice → 400", async () => {
    const f = await image();
    for (const media_attachments of [[{ file_id: crypto.randomUUID() }], [{ file_id: "../../etc/passwd" }], [{ file_id: f.file_id }, { file_id: f.file_id }]])
      expect(fieldOf(await sendMsg(alice, { message_type: "image", media_attachments }))).toBe("media_attachments");
  });

  test("an upload whose type does not fit the message type → 400 (image as video, PDF as image); a text message carries none", async () => {
    const png = await image();
    const pdf = await uploadOk(s, alice, makePdf(), { conversationId: conv, messageType: "file" });
    expect(fieldOf(await sendMsg(alice, { message_type: "video", media_attachments: [{ file_id: png.file_id }] }))).toBe("media_attachments");
    expect(fieldOf(await sendMsg(alice, { message_type: "image", media_attachments: [{ file_id: pdf.file_id }] }))).toBe("media_attachments");
    expect(fieldOf(await sendMsg(alice, { message_type: "text", content: "hi", media_attachments: [{ file_id: png.file_id }] }))).toBe("media_attachments");
  });

  test("nothing was stored by the refused sends", async () => {
    const before = (await history(alice)).length;
    const bobs = await image(bob);
    await sendMsg(alice, { message_type: "image", media_attachments: [{ file_id: bobs.file_id }] });
    expect((await history(alice)).length).toBe(before);
  });
});

describe("links are minted per response, for participants only", () => {
  test("each history read mints links afresh (a later read carries a later expiry)", async () => {
    const f = await image();
    const r = await sendMsg(alice, { message_type: "image", media_attachments: [{ file_id: f.file_id }] });
    const expOf = (m: any) => Number(new URL(m.media_attachments[0].file_url).searchParams.get("exp"));
    const first = expOf((await history(bob)).find((m) => m.message_id === r.body.message_id));
    await Bun.sleep(1100);
    const later = expOf((await history(bob)).find((m) => m.message_id === r.body.message_id));
    expect(later).toBeGreaterThan(first);
  });

  test("someone outside the conversation gets no history (404), so no link", async () => {
    expectError(await s.get(`/api/v1/conversations/${conv}/messages`, eve.token), 404, "NOT_FOUND");
  });

  test("GraphQL: Message.mediaAttachments with working links", async () => {
    const f = await image();
    await sendMsg(alice, { message_type: "image", media_attachments: [{ file_id: f.file_id }] });
    const query = `query($id: ID!) { conversation(id: $id) { messages(first: 5) { edges { node { id mediaAttachments { fileId fileType fileUrl thumbnailUrl } } } } } }`;
    const r = await s.request("POST", "/graphql", bob.token, { query, variables: { id: String(conv) } });
    expect(r.status, r.text).toBe(200);
    const atts = r.body.data.conversation.messages.edges.flatMap((e: any) => e.node.mediaAttachments);
    const a = atts.find((x: any) => x.fileId === f.file_id);
    expect(a).toMatchObject({ fileType: "image/png" });
    expect((await fetchMedia(s, a.fileUrl)).status).toBe(200);
    expect((await fetchMedia(s, a.thumbnailUrl)).status).toBe(200);
    // Eve asks for the same conversation: nothing.
    const e = await s.request("POST", "/graphql", eve.token, { query, variables: { id: String(conv) } });
    expect(e.body.data?.conversation ?? null).toBeNull();
  });

  test("WebSocket: new_message carries the attachments with working links, and so does its replay after reconnecting", async () => {
    const ws = await connect(bob);
    const mark = ws.lastEventId;
    const f = await uploadOk(s, alice, await makeJpeg(80, 60), { conversationId: conv, messageType: "image" });
    const sent = await sendMsg(alice, { message_type: "image", media_attachments: [{ file_id: f.file_id }] });
    const live = await ws.waitFor((m) => m.type === "new_message" && m.message?.message_id === sent.body.message_id);
    ws.close();
    expect(live.message.media_attachments[0].file_id).toBe(f.file_id);
    expect((await fetchMedia(s, live.message.media_attachments[0].file_url)).status).toBe(200);

    await Bun.sleep(1100); // so a re-minted link differs from the stored one
    const again = await connect(bob);
    again.send({ type: "resume", last_event_id: mark });
    const replayed = await again.waitFor((m) => m.type === "new_message" && m.message?.message_id === sent.body.message_id);
    again.close();
    const url = replayed.message.media_attachments[0].file_url;
    expect(url).not.toBe(live.message.media_attachments[0].file_url);
    expect(Number(new URL(url).searchParams.get("exp"))).toBeGreaterThan(Number(new URL(live.message.media_attachments[0].file_url).searchParams.get("exp")));
    expect((await fetchMedia(s, url)).status).toBe(200);
  });
});

describe("deleting a message drops its attachments", () => {
  test("the tombstone has none, the links stop working (404), the file cannot be attached again", async () => {
    const f = await image();
    const r = await sendMsg(alice, { message_type: "image", media_attachments: [{ file_id: f.file_id }] });
    const url = r.body.media_attachments[0].file_url;
    expect((await fetchMedia(s, url)).status).toBe(200);
    expect((await s.del(`/api/v1/messages/${r.body.message_id}`, alice.token)).status).toBe(200);
    const tomb = (await history(bob)).find((m) => m.message_id === r.body.message_id);
    expect(tomb).toMatchObject({ deleted: true, media_attachments: [] });
    expect((await fetchMedia(s, url)).status).toBe(404);
    expect((await fetchMedia(s, r.body.media_attachments[0].thumbnail_url)).status).toBe(404);
    expect(fieldOf(await sendMsg(alice, { message_type: "image", media_attachments: [{ file_id: f.file_id }] }))).toBe("media_attachments");
  });

  test("a file sent in two messages stays reachable until both are deleted", async () => {
    const f = await image();
    const one = await sendMsg(alice, { message_type: "image", media_attachments: [{ file_id: f.file_id }] });
    const two = await sendMsg(alice, { message_type: "image", media_attachments: [{ file_id: f.file_id }] });
    await s.del(`/api/v1/messages/${one.body.message_id}`, alice.token);
    expect((await fetchMedia(s, two.body.media_attachments[0].file_url)).status).toBe(200);
    await s.del(`/api/v1/messages/${two.body.message_id}`, alice.token);
    expect((await fetchMedia(s, two.body.media_attachments[0].file_url)).status).toBe(404);
  });
});

/** A minimal /v1/connect client: authenticates, buffers frames, waits for one (bounded). */
async function connect(u: TestUser) {
  const ws = new WebSocket(s.url.replace(/^http/, "ws") + "/v1/connect");
  const frames: any[] = [];
  ws.addEventListener("message", (e) => frames.push(JSON.parse(String(e.data))));
  await new Promise((resolve, reject) => {
    ws.addEventListener("open", resolve);
    ws.addEventListener("error", reject);
  });
  const client = {
    lastEventId: 0,
    send: (f: object) => ws.send(JSON.stringify(f)),
    close: () => ws.close(),
    async waitFor(pred: (f: any) => boolean, timeoutMs = 3000): Promise<any> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const f = frames.find(pred);
        if (f) return f;
        if (Date.now() > deadline) throw new Error(`no matching frame within ${timeoutMs} ms; got ${JSON.stringify(frames).slice(0, 500)}`);
        await Bun.sleep(10);
      }
    },
  };
  client.send({ type: "auth", token: u.token });
  const ok = await client.waitFor((f) => f.type === "auth_success");
  client.lastEventId = ok.last_event_id;
  return client;
}
