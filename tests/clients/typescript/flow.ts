// The street office's whole first vote, driven through a TypeScript client typed from the
// committed spec (openapi-typescript types, openapi-fetch calls) and type-checked with
// `tsc --strict`: the same story as tests/clients/python/flow.py, so that both generators are
// proven on every step a mini-program or the console takes.
//
// Run by scripts/clients-test.sh with ZMG_BASE_URL, ZMG_PLATFORM_USER and
// ZMG_PLATFORM_PASSWORD in the environment; exits non-zero on the first unexpected answer.

import { randomBytes } from "node:crypto";
import ExcelJS from "exceljs";
import createClient from "openapi-fetch";
import type { paths } from "./api.js";

const base = process.env["ZMG_BASE_URL"] ?? "http://127.0.0.1:8080";

/** The answer's data, which must have come with `status`. */
function expect<T>(
  answer: { data?: T; error?: unknown; response: Response },
  status: number,
  what: string,
): T {
  if (answer.response.status !== status || answer.data === undefined) {
    console.error(`${what}: expected ${status}, got ${answer.response.status}`, answer.error);
    process.exit(1);
  }
  console.log(`ok  ${what}`);
  return answer.data;
}

/** For answers without a body: only the status counts. */
function expectStatus(answer: { error?: unknown; response: Response }, status: number, what: string): void {
  if (answer.response.status !== status) {
    console.error(`${what}: expected ${status}, got ${answer.response.status}`, answer.error);
    process.exit(1);
  }
  console.log(`ok  ${what}`);
}

const hex = (bytes: number) => randomBytes(bytes).toString("hex");

async function main(): Promise<void> {
  const anonymous = createClient<paths>({ baseUrl: base });
  const platformLogin = expect(
    await anonymous.POST("/api/platform/auth/login", {
      body: {
        username: process.env["ZMG_PLATFORM_USER"] ?? "",
        password: process.env["ZMG_PLATFORM_PASSWORD"] ?? "",
      },
    }),
    200,
    "platform staff log in",
  );
  const platform = createClient<paths>({
    baseUrl: base,
    headers: { Authorization: `Bearer ${platformLogin.token}` },
  });
  const slug = `ts${hex(4)}`;
  const created = expect(
    await platform.POST("/api/platform/tenants", { body: { slug, name: "TypeScript 客户端街道" } }),
    201,
    `onboard street office ${slug}`,
  );

  // A public operation of a street office takes it as a header parameter.
  const staffLogin = expect(
    await anonymous.POST("/api/auth/staff/login", {
      params: { header: { "X-Tenant": slug } },
      body: { username: created.admin.username, password: created.admin.initial_password },
    }),
    200,
    "street staff log in",
  );
  const staff = createClient<paths>({
    baseUrl: base,
    headers: { "X-Tenant": slug, Authorization: `Bearer ${staffLogin.token}` },
  });
  const rc = expect(
    await staff.POST("/api/residents-committees", { body: { name: "示范居委会" } }),
    201,
    "residents' committee",
  );
  const estate = expect(
    await staff.POST("/api/estates", { body: { name: "示范花园", rc_id: rc.id } }),
    201,
    "estate",
  );

  const template = expect(
    await staff.GET("/api/housing/template", { parseAs: "arrayBuffer" }),
    200,
    "housing template",
  );
  const book = new ExcelJS.Workbook();
  await book.xlsx.load(template);
  const sheet = book.getWorksheet("房屋信息");
  if (!sheet || !book.getWorksheet("填写说明")) throw new Error("template sheets missing");
  const ownerPhone = `139${String(randomBytes(4).readUInt32BE() % 100_000_000).padStart(8, "0")}`;
  const rows = [
    ["1", "1", "101", "住宅", "89.55", "张三", ownerPhone, "否"],
    ["1", "1", "102", "住宅", "120.10", "李四", "13800000102", "否"],
    ["1", "2", "201", "住宅", "75.00", "王五", "13800000201", "否"],
  ];
  rows.forEach((row, i) => {
    sheet.getRow(i + 2).values = row;
  });
  const filled = await book.xlsx.writeBuffer();
  const form = new FormData();
  form.append("file", new Blob([filled]), "房屋信息.xlsx");
  const imported = expect(
    await staff.POST("/api/estates/{id}/units/import", {
      params: { path: { id: estate.id } },
      // The typed body names the form's fields; the form itself carries the file.
      body: { file: "" },
      bodySerializer: () => form,
    }),
    200,
    "housing roll import",
  );
  if (imported.unit_count !== 3) throw new Error(`imported ${imported.unit_count} units`);
  const units = expect(
    await staff.GET("/api/units", { params: { query: { estate_id: estate.id } } }),
    200,
    "units",
  ).items;
  const unit = (room: string) => {
    const found = units.find((u) => u.room === room);
    if (!found) throw new Error(`no unit ${room}`);
    return found;
  };

  const latestCode = async (phone: string): Promise<string> => {
    const outbox = expect(
      await anonymous.GET("/api/dev/sms-outbox", {
        params: { header: { "X-Tenant": slug }, query: { phone } },
      }),
      200,
      `outbox of ${phone}`,
    );
    const code = outbox.items[0]?.content.match(/\d{6}/)?.[0];
    if (!code) throw new Error("no code in the outbox");
    return code;
  };
  expectStatus(
    await anonymous.POST("/api/auth/sms-codes", {
      params: { header: { "X-Tenant": slug } },
      body: { phone: ownerPhone, purpose: "register" },
    }),
    202,
    "registration code sent",
  );
  const registered = expect(
    await anonymous.POST("/api/owners/register", {
      params: { header: { "X-Tenant": slug } },
      body: {
        real_name: "张三",
        phone: ownerPhone,
        sms_code: await latestCode(ownerPhone),
        password: "Passw0rd!",
        accept_agreement: true,
      },
    }),
    201,
    "owner registers",
  );
  const owner = createClient<paths>({
    baseUrl: base,
    headers: { "X-Tenant": slug, Authorization: `Bearer ${registered.token}` },
  });
  const flat = unit("101");
  expectStatus(
    await owner.POST("/api/verification/units/{id}/sms-code", { params: { path: { id: flat.id } } }),
    202,
    "verification code sent",
  );
  expect(
    await owner.POST("/api/verification/units/{id}", {
      params: { path: { id: flat.id } },
      body: { sms_code: await latestCode(ownerPhone) },
    }),
    201,
    "owner verifies flat 1-1-101",
  );

  const now = Date.now();
  const closes = new Date(now + 12_000);
  const matter = expect(
    await staff.POST("/api/matters", {
      body: {
        estate_id: estate.id,
        type_name: "公共收益",
        title: "是否更换电梯",
        content: "详见公告",
        importance: "important",
        law_item: 4,
        opens_at: new Date(now - 1000).toISOString(),
        closes_at: closes.toISOString(),
      },
    }),
    201,
    "matter put to the vote",
  );
  const key = hex(8);
  const cast = () =>
    owner.POST("/api/matters/{id}/ballots", {
      params: { path: { id: matter.id }, header: { "Idempotency-Key": key } },
      body: { choice: "agree" },
    });
  const first = expect(await cast(), 201, "owner votes online");
  const again = await cast();
  if (again.data?.ballot_id !== first.ballot_id) throw new Error("a retry made a second ballot");
  console.log("ok  the retry with the same Idempotency-Key returned the same receipt");

  const scanForm = new FormData();
  scanForm.append("purpose", "document");
  scanForm.append("file", new Blob(["%PDF-1.4\n% paper ballot\n"]), "ballot.pdf");
  const scan = expect(
    await staff.POST("/api/attachments", {
      body: { purpose: "document", file: "" },
      bodySerializer: () => scanForm,
    }),
    201,
    "paper ballot scan uploaded",
  );
  expect(
    await staff.POST("/api/matters/{id}/paper-ballots", {
      params: { path: { id: matter.id }, header: { "Idempotency-Key": hex(8) } },
      body: { unit_id: unit("102").id, choice: "disagree", channel: "paper", scan_attachment_id: scan.id },
    }),
    201,
    "paper ballot entered",
  );

  await new Promise((resolve) => setTimeout(resolve, Math.max(0, closes.getTime() - Date.now()) + 1000));
  const closed = expect(
    await staff.POST("/api/matters/{id}/close", { params: { path: { id: matter.id } } }),
    200,
    "matter closed",
  );
  if (closed.status !== "closed") throw new Error(`status ${closed.status}`);
  // The console's filters, typed from the spec's enums: tsc refuses a status or sort it lists not.
  const closedImportant = expect(
    await staff.GET("/api/matters", {
      params: { query: { status: "closed", importance: "important", sort: "closes_desc" } },
    }),
    200,
    "closed important matters listed",
  );
  if (closedImportant.items[0]?.id !== matter.id) throw new Error("the closed matter is not listed");
  const paperBallots = expect(
    await staff.GET("/api/matters/{id}/ballots", {
      params: { path: { id: matter.id }, query: { channel: "paper", voided: false } },
    }),
    200,
    "paper ballots listed",
  );
  if (paperBallots.total !== 1) throw new Error(`${paperBallots.total} paper ballots listed`);
  console.log("ok  the console's filters find the closed matter and its one paper ballot");
  const exported = expect(
    await staff.GET("/api/matters/{id}/ballots/export", {
      params: { path: { id: matter.id } },
      parseAs: "arrayBuffer",
    }),
    200,
    "ballot export",
  );
  const report = new ExcelJS.Workbook();
  await report.xlsx.load(exported);
  const ballots = report.worksheets[0]?.getRows(2, 10)?.filter((r) => r.hasValues) ?? [];
  if (ballots.length !== 2) throw new Error(`the export lists ${ballots.length} ballots`);
  console.log("ok  the export lists both ballots");
  console.log("typescript client flow: all steps passed");
}

await main();
