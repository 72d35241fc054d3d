// The dashboard in a real browser (Debian's chromium through playwright-core) against
// the sandbox server: link a session by QR with the test playing the phone, see the
// contacts with their pictures, search, block and unblock, check a pasted list and
// export it, on a desktop and at 360 px, with no console errors. Screenshots go to
// target/browser-artifacts/. Run by scripts/browser-tests.sh, which builds the server
// and installs chromium and playwright-core first.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, mkdirSync, writeFileSync, rmSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { chromium } from "playwright-core";

const ROOT = resolve(import.meta.dirname, "../..");
const BIN = process.env.WACONTACTS_BIN || join(ROOT, "target/debug/wacontacts");
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const ARTIFACTS = join(ROOT, "target/browser-artifacts");
const KEY = "browser-test-key-0123456789";
const PHONE = "15557770001"; // the account the test's "phone" links
const SESSION = "phone1";
const DEADLINE_MS = 30_000;

// Pictures as data: URLs: the network is closed, and a real CDN URL is https: too.
const picture = (color) =>
  "data:image/svg+xml;base64," +
  Buffer.from(
    `<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"><circle cx="32" cy="32" r="30" fill="${color}"/></svg>`,
  ).toString("base64");

const USERS = [
  { phone: "15550100001", pushName: "Ada Demo", about: "Counting engines", pictureId: "1001", pictureUrl: picture("#0b7a55") },
  { phone: "15550100002", pushName: "Grace Demo", about: "Debugging", pictureId: "1002", pictureUrl: picture("#9a6700") },
  { phone: "15550100003", pushName: "Linus Demo", about: "Just for fun", username: "linus" },
  { phone: "5511987650001", pushName: "Brasil Demo" },
  { phone: "15550100005", pushName: "Acme Support", business: true, verifiedName: "Acme Inc." },
];

const IDENTITY_URL = /\/api\/[^/]+\/contacts\/[^/]+\/identity$/;

let server;
let base;
let dataDir;
let browser;
const consoleErrors = [];

/** Polls `probe` until it returns a truthy value; fails with `what` at the deadline. */
async function until(what, probe, deadline = DEADLINE_MS) {
  const end = Date.now() + deadline;
  let last;
  while (Date.now() < end) {
    try {
      last = await probe();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what} (last: ${last})`);
}

async function admin(path, body) {
  const response = await fetch(`${base}/sandbox/admin${path}`, {
    method: "POST",
    headers: { "X-Api-Key": KEY, "Content-Type": typeof body === "string" ? "text/plain" : "application/json" },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  assert.equal(response.status, 200, `${path}: ${await response.text()}`);
}

before(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  dataDir = mkdtempSync(join(tmpdir(), "wacontacts-browser-"));
  const seed = join(dataDir, "seed.json");
  writeFileSync(seed, JSON.stringify({ users: USERS }));
  server = spawn(
    BIN,
    ["serve", "--sandbox", "--sandbox-manual-scan", "--sandbox-seed", seed, "--listen", "127.0.0.1:0", "--data-dir", join(dataDir, "data")],
    { env: { ...process.env, WACONTACTS_API_KEY: KEY, RUST_LOG: "warn" }, stdio: ["ignore", "pipe", "inherit"] },
  );
  base = await new Promise((ok, fail) => {
    let out = "";
    server.stdout.on("data", (chunk) => {
      out += chunk;
      const found = out.match(/listening on (http:\/\/\S+)/);
      if (found) ok(found[1]);
    });
    server.on("exit", (code) => fail(new Error(`the server exited (${code}) before listening:\n${out}`)));
  });
  // The phone's address book, as the person who owns it filled it in.
  for (const u of USERS) {
    await admin(`/accounts/${PHONE}/contacts`, { phone: u.phone, fullName: `${u.pushName} (saved)` });
  }
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
});

after(async () => {
  await browser?.close();
  server?.kill("SIGTERM");
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

async function newPage(viewport) {
  const context = await browser.newContext({ viewport, acceptDownloads: true });
  const page = await context.newPage();
  page.setDefaultTimeout(10_000);
  page.on("console", (m) => {
    if (m.type() !== "error") return;
    // The browser logs every 4xx fetch; the one expected 404 is checked below.
    if (/status of 404/.test(m.text()) && IDENTITY_URL.test(m.location().url)) return;
    consoleErrors.push(`${viewport.width}px console: ${m.text()}`);
  });
  page.on("pageerror", (e) => consoleErrors.push(`${viewport.width}px page error: ${e.message}`));
  page.on("response", async (r) => {
    if (r.status() < 400) return;
    const what = `${viewport.width}px HTTP ${r.status()} ${r.request().method()} ${r.url()}`;
    // The one expected failure: a contact with no identity change answers 404
    // `identity_not_found` (the page shows "no change seen"). Any other code is an error.
    if (r.status() === 404 && r.request().method() === "GET" && IDENTITY_URL.test(r.url())) {
      const body = await r.json().catch(() => null);
      if (body?.code === "identity_not_found") return;
    }
    consoleErrors.push(what);
  });
  return page;
}

const shot = (page, name) => page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });

/** Opens `/` as a browser does, lands on the dashboard and gives it the key. */
async function signIn(page) {
  await page.goto(`${base}/`);
  assert.equal(new URL(page.url()).pathname, "/dashboard");
  await page.fill("#api-key", KEY);
  await page.click("#login-form button[type=submit]");
  await page.locator("#tabs").waitFor();
}

const rows = (page) => page.locator("#contacts-body tr");
const row = (page, number) => page.locator(`#contacts-body tr[data-id="${number}@c.us"]`);

/** The page never scrolls sideways. */
async function assertFits(page, width) {
  const scroll = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(scroll <= width, `the page is ${scroll}px wide at ${width}px`);
}

test("desktop: link by QR, contacts with pictures, search, block, checks", async () => {
  const page = await newPage({ width: 1280, height: 900 });
  await signIn(page);
  await shot(page, "desktop-1-sessions-empty");

  // Create a session in the page; the phone scans the QR the page shows.
  await page.fill("#new-session", SESSION);
  await page.click("#create-form button[type=submit]");
  const qr = page.locator("#qr-value");
  const value = await until("a QR value on the page", async () => (await qr.textContent())?.trim());
  assert.match(value, /^2@/);
  await until("the QR image", () => page.locator("#qr-image").evaluate((img) => img.complete && img.naturalWidth > 0));
  await shot(page, "desktop-2-qr");
  await fetch(`${base}/sandbox/admin/scan-qr?account=${PHONE}`, {
    method: "POST",
    headers: { "X-Api-Key": KEY, "Content-Type": "text/plain" },
    body: value,
  }).then((r) => assert.equal(r.status, 200));
  const card = page.locator(`li[data-session="${SESSION}"]`);
  await until("the session WORKING", async () => (await card.locator("[data-testid=status]").textContent()) === "WORKING");
  await until("the linked number", async () => (await card.locator("[data-testid=me]").textContent())?.includes(`+${PHONE}`));
  assert.ok(await page.locator("#pairing").isHidden(), "the QR goes away once linked");
  await shot(page, "desktop-3-working");

  // Contacts: all of them, with pictures for those who have one.
  await page.click("a[data-tab=contacts]");
  await until("the synced contacts", async () => {
    await page.click("#contacts-reload");
    return (await rows(page).count()) === USERS.length;
  });
  const ada = row(page, "15550100001");
  await until("Ada's picture", async () =>
    ada.locator("img").evaluate((img) => img.src.startsWith("data:image/svg+xml") && img.complete && img.naturalWidth > 0),
  );
  assert.equal(await ada.locator("img").getAttribute("loading"), "lazy");
  assert.match(await ada.textContent(), /Ada Demo \(saved\)/);
  assert.match(await ada.textContent(), /\+15550100001/);
  await shot(page, "desktop-4-contacts");

  // Sorting by number, descending, then back.
  await page.click("button.sort[data-sort=id]");
  await until("ascending by number", async () => (await rows(page).first().getAttribute("data-id")) === "15550100001@c.us");
  await page.click("button.sort[data-sort=id]");
  await until("descending by number", async () => (await rows(page).first().getAttribute("data-id")) === "5511987650001@c.us");

  // Search by name and by a number written with punctuation.
  await page.fill("#search", "grace");
  await until("one match for 'grace'", async () => (await rows(page).count()) === 1 && (await rows(page).first().getAttribute("data-id")) === "15550100002@c.us");
  await shot(page, "desktop-5-search");
  await page.fill("#search", "+55 11 98765");
  await until("one match for the Brazilian number", async () => (await rows(page).count()) === 1 && (await rows(page).first().getAttribute("data-id")) === "5511987650001@c.us");
  await page.fill("#search", "nobody-like-this");
  await until("no match", async () => (await rows(page).count()) === 0 && (await page.locator("#contacts-empty").isVisible()));
  await page.fill("#search", "");
  await until("all contacts again", async () => (await rows(page).count()) === USERS.length);

  // Detail, block and unblock.
  await row(page, "15550100003").click();
  await until("Linus's about", async () => (await page.locator("#detail-about").textContent()) === "Just for fun");
  assert.equal(await page.locator("#detail-number").textContent(), "+15550100003");
  assert.equal(await page.locator("#detail-username").textContent(), "@linus");
  await until("no identity change yet", async () => (await page.locator("#detail-identity").textContent()) === "no change seen");
  assert.ok(await page.locator("#detail-ack").isHidden());
  await page.click("#detail-block");
  await until("the blocked badge", async () => (await row(page, "15550100003").locator(".badge.blocked").count()) === 1);
  assert.equal(await page.locator("#detail-block").textContent(), "Unblock");
  await shot(page, "desktop-6-blocked");
  await page.click("#detail-block");
  await until("the badge gone", async () => (await row(page, "15550100003").locator(".badge.blocked").count()) === 0);
  assert.equal(await page.locator("#detail-block").textContent(), "Block");

  // Linus gets a new phone (a new identity key): the panel shows the change, which the
  // user acknowledges.
  await admin("/users/15550100003/events", { type: "identity" });
  await until("the identity change", async () => {
    await row(page, "15550100003").click();
    return /not acknowledged/.test(await page.locator("#detail-identity").textContent());
  });
  await shot(page, "desktop-6b-identity");
  await page.click("#detail-ack");
  await until("acknowledged", async () => /^changed .*, acknowledged$/.test(await page.locator("#detail-identity").textContent()));
  assert.ok(await page.locator("#detail-ack").isHidden());
  // Ada has no username: the row is not shown.
  await row(page, "15550100001").click();
  await until("Ada's panel", async () => (await page.locator("#detail-number").textContent()) === "+15550100001");
  assert.ok(await page.locator("#detail-username").isHidden());

  // Checks: a pasted list in any format, normalized, checked, exported.
  await page.click("a[data-tab=checks]");
  const budgetBefore = await until("the budget", async () => (await page.locator("#budget").textContent()).match(/Budget: (\d+) of (\d+)/));
  await page.fill("#check-input", "+1 (555) 010-0001\n15550199999, =1+1\n5511987650001@c.us;");
  await page.click("#check-run");
  const checkRows = page.locator("#check-body tr");
  await until("four answers", async () => (await checkRows.count()) === 4);
  const cells = async (i) => (await checkRows.nth(i).locator("td").allTextContents()).slice(0, 3);
  assert.deepEqual(await cells(0), ["+1 (555) 010-0001", "+15550100001", "yes"]);
  assert.deepEqual(await cells(1), ["15550199999", "+15550199999", "no"]);
  assert.equal((await cells(2))[1], "—");
  assert.deepEqual(await cells(3), ["5511987650001@c.us", "+5511987650001", "yes"]);
  const budgetAfter = await until("the budget after", async () => {
    const m = (await page.locator("#budget").textContent()).match(/Budget: (\d+) of/);
    return m && Number(m[1]) < Number(budgetBefore[1]) && m;
  });
  assert.ok(Number(budgetAfter[1]) < Number(budgetBefore[1]));
  await shot(page, "desktop-7-checks");
  const [download] = await Promise.all([page.waitForEvent("download"), page.click("#check-csv")]);
  const csvPath = join(ARTIFACTS, "check-exists.csv");
  await download.saveAs(csvPath);
  const csv = readFileSync(csvPath, "utf8").trim().split(/\r\n/);
  assert.equal(csv[0], "input,e164,numberExists,chatId,lid,error");
  assert.equal(csv.length, 5);
  assert.match(csv[1], /^\+1 \(555\) 010-0001,\+15550100001,true,15550100001@c.us,/);
  assert.match(csv[3], /^'=1\+1,,,,,\w+/, "a formula is defused");
  await page.context().close();
});

test("360 px: every view fits the screen", async () => {
  const page = await newPage({ width: 360, height: 740 });
  await signIn(page);
  const card = page.locator(`li[data-session="${SESSION}"]`);
  await until("the session WORKING", async () => (await card.locator("[data-testid=status]").textContent()) === "WORKING");
  await assertFits(page, 360);
  await shot(page, "mobile-1-sessions");

  await page.click("a[data-tab=contacts]");
  await until("the contacts", async () => (await rows(page).count()) === USERS.length);
  await until("a picture", async () => row(page, "15550100001").locator("td.has-picture").count());
  await assertFits(page, 360);
  await shot(page, "mobile-2-contacts");
  await page.fill("#search", "ada");
  await until("one match for 'ada'", async () => (await rows(page).count()) === 1);
  await rows(page).first().click();
  await page.locator("#detail").waitFor();
  await until("the identity line", async () => (await page.locator("#detail-identity").textContent()) === "no change seen");
  await assertFits(page, 360);
  await shot(page, "mobile-3-detail");

  await page.click("a[data-tab=checks]");
  await page.fill("#check-input", "15550100002");
  await page.click("#check-run");
  await until("one answer", async () => (await page.locator("#check-body tr").count()) === 1);
  await assertFits(page, 360);
  await shot(page, "mobile-4-checks");
  await page.context().close();
});

test("webhooks: configured targets, a failed delivery, retry", async () => {
  // A webhook to a port nobody listens on, one attempt: every delivery fails at once.
  const dead = "http://127.0.0.1:9/hook";
  const put = await fetch(`${base}/api/sessions/${SESSION}`, {
    method: "PUT",
    headers: { "X-Api-Key": KEY, "Content-Type": "application/json" },
    body: JSON.stringify({ config: { webhooks: [{ url: dead, events: ["contact.update"], retries: { attempts: 1, delaySeconds: 0 } }] } }),
  });
  assert.equal(put.status, 200, await put.text());
  const page = await newPage({ width: 1280, height: 900 });
  await signIn(page);
  await page.click("a[data-tab=webhooks]");
  await until("the configured webhook", async () => (await page.locator("#webhook-targets li").first().textContent())?.includes(dead));
  assert.match(await page.locator("#webhook-targets li").first().textContent(), /contact\.update/);
  assert.match(await page.locator("#webhook-targets li").first().textContent(), /1 attempt/);

  // Grace changes her about text: the contact.update event fails and is set aside.
  await admin("/users/15550100002/events", { type: "about", about: "Hopper at work" });
  const failedRows = page.locator("#failed-body tr");
  await until("a failed delivery", async () => {
    await page.click("#webhooks-reload");
    return (await failedRows.count()) === 1;
  });
  const first = failedRows.first();
  assert.match(await first.textContent(), /contact\.update/);
  assert.match(await first.textContent(), /1 attempt/);
  const failedAt = Number(await first.getAttribute("data-failed-at"));
  await shot(page, "desktop-9-webhooks");

  // Retry: the page says it is queued again; it fails again and comes back, same id,
  // set aside later than before.
  const id = await first.getAttribute("data-id");
  await first.locator("button", { hasText: "Retry" }).click();
  await until("the queued notice", async () => (await page.locator("#notice").textContent()).includes("queued again"));
  await until("the event back in the list, failed again", async () => {
    await page.click("#webhooks-reload");
    const again = page.locator(`#failed-body tr[data-id="${id}"]`);
    return (await again.count()) === 1 && Number(await again.getAttribute("data-failed-at")) > failedAt;
  });
  assert.equal(await failedRows.count(), 1);

  // 360 px: the webhook view fits too.
  await page.setViewportSize({ width: 360, height: 740 });
  await assertFits(page, 360);
  await shot(page, "mobile-5-webhooks");
  await page.context().close();
});

test("sessions: pair code, stop and start, delete", async () => {
  const page = await newPage({ width: 1280, height: 900 });
  await signIn(page);
  await page.fill("#new-session", "phone2");
  await page.click("#create-form button[type=submit]");
  await until("phone2's QR", async () => (await page.locator("#qr-value").textContent())?.startsWith("2@"));
  await page.fill("#pair-phone", "+1 (555) 777-0002");
  await page.click("#pair-form button[type=submit]");
  const code = await until("a pair code", async () => (await page.locator("#pair-code").textContent()).match(/[A-Z0-9]{4}-?[A-Z0-9]{4}/));
  await shot(page, "desktop-8-pair-code");
  // The phone types the code: the session links.
  await admin("/pair-code", { account: "15557770002", code: code[0].replace("-", "") });
  const phone2 = page.locator('li[data-session="phone2"]');
  await until("phone2 WORKING", async () => (await phone2.locator("[data-testid=status]").textContent()) === "WORKING");
  await until("phone2's number", async () => (await phone2.locator("[data-testid=me]").textContent())?.includes("+15557770002"));

  // Stop and start again: back to WORKING without a scan.
  await phone2.locator("button", { hasText: "Stop" }).click();
  await until("phone2 STOPPED", async () => (await phone2.locator("[data-testid=status]").textContent()) === "STOPPED");
  await phone2.locator("button", { hasText: "Start" }).click();
  await until("phone2 WORKING again", async () => (await phone2.locator("[data-testid=status]").textContent()) === "WORKING");

  // Delete asks once more in place.
  await phone2.locator("button", { hasText: "Delete" }).click();
  await phone2.locator("button", { hasText: "for good" }).click();
  await until("phone2 gone", async () => (await phone2.count()) === 0);
  assert.equal(await page.locator('li[data-session="phone1"]').count(), 1);
  await page.context().close();
});

test("no console errors", () => {
  assert.deepEqual(consoleErrors, []);
});
