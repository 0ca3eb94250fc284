// Drives the demo page of a running `bearer serve` in headless Chromium.
// Usage: node demo.mjs BASE_URL LOGIN PASSWORD   (exits non-zero on the first failure)
import { chromium } from "playwright-core";
import assert from "node:assert/strict";

const [base, login, password] = process.argv.slice(2);
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";

const browser = await chromium.launch({
  executablePath,
  headless: true,
  args: ["--no-sandbox", "--disable-dev-shm-usage"],
});
const step = (name) => console.log(`- ${name}`);

try {
  const context = await browser.newContext();
  // A fake clock, so the silent refresh before expiry is tested without waiting.
  await context.clock.install();
  const page = await context.newPage();
  const state = (p, value) =>
    p.waitForSelector(`#status[data-state="${value}"]`, { timeout: 15000 });
  const callMe = async (p) => {
    await p.click("#call-me");
    await p.waitForSelector('#output[data-status="200"]', { timeout: 15000 });
    await p.evaluate(() => { document.getElementById("output").dataset.status = ""; });
  };
  const refreshed = (p) =>
    p.waitForResponse((r) => r.url().endsWith("/auth/refresh"), { timeout: 15000 });

  step("a first visit is logged out");
  await page.goto(base);
  await state(page, "logged-out");

  step("login works");
  await page.fill("#username", login);
  await page.fill("#password", password);
  await page.click("#login-button");
  await state(page, "logged-in");
  assert.notEqual(await page.textContent("#who"), "");
  await callMe(page);

  step("the refresh cookie is there, HttpOnly, and invisible to document.cookie");
  const cookies = await context.cookies();
  const refreshCookie = cookies.find((c) => c.name.endsWith("refresh_token"));
  assert.ok(refreshCookie, `no refresh cookie in ${JSON.stringify(cookies.map((c) => c.name))}`);
  assert.equal(refreshCookie.httpOnly, true);
  assert.equal(refreshCookie.path, "/auth");
  const visible = await page.evaluate(() => document.cookie);
  assert.ok(!visible.includes("refresh_token"), `document.cookie shows: ${visible}`);

  step("the access token is refreshed silently before it expires");
  const silent = refreshed(page);
  await page.clock.fastForward("15:00");
  assert.equal((await silent).status(), 200);
  await state(page, "logged-in");
  await callMe(page);

  step("a reload restores the session through /auth/refresh");
  const onReload = refreshed(page);
  await page.reload();
  assert.equal((await onReload).status(), 200);
  await state(page, "logged-in");
  await callMe(page);

  step("two tabs refreshing at once both stay logged in");
  const second = await context.newPage();
  const [first, other] = await Promise.all([
    refreshed(page),
    refreshed(second),
    page.reload(),
    second.goto(base),
  ]);
  assert.equal(first.status(), 200);
  assert.equal(other.status(), 200);
  await state(page, "logged-in");
  await state(second, "logged-in");
  await callMe(page);
  await callMe(second);

  step("logout ends the session");
  await page.click("#logout");
  await state(page, "logged-out");
  const afterLogout = refreshed(second);
  await second.reload();
  assert.notEqual((await afterLogout).status(), 200);
  await state(second, "logged-out");

  console.log("browser test passed");
} finally {
  await browser.close();
}
