// The demo page's client: the access token lives in memory only; the refresh token
// is an HttpOnly cookie that only /auth/refresh and /auth/logout ever see.
"use strict";

const CLIENT_ID = "web";
/** Refresh this many seconds before the access token expires. */
const EARLY = 30;

let accessToken = null;
let refreshTimer = null;
/** One refresh at a time in this tab: concurrent callers share it. */
let refreshing = null;

const $ = (id) => document.getElementById(id);

function show(state, message) {
  $("status").dataset.state = state;
  $("status").textContent = message;
  $("login").hidden = state !== "logged-out";
  $("session").hidden = state !== "logged-in";
}

function claimsOf(token) {
  const payload = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
  return JSON.parse(atob(payload));
}

/** Takes a token response: keeps the access token, schedules the next refresh. */
function accept(body) {
  accessToken = body.access_token;
  const claims = claimsOf(accessToken);
  $("who").textContent = claims.sub;
  $("scopes").textContent = claims.scope || "";
  clearTimeout(refreshTimer);
  const wait = Math.max((body.expires_in || 60) - EARLY, 5);
  refreshTimer = setTimeout(() => refresh().catch(() => {}), wait * 1000);
  show("logged-in", "Logged in.");
}

function forget(message) {
  accessToken = null;
  clearTimeout(refreshTimer);
  $("output").textContent = "";
  show("logged-out", message);
}

async function post(path, form) {
  return fetch(path, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams(form),
  });
}

/** Trades the refresh cookie for a new access token; true when it worked. */
function refresh() {
  if (!refreshing) {
    refreshing = (async () => {
      try {
        const response = await post("/auth/refresh", {});
        if (!response.ok) {
          forget("Logged out.");
          return false;
        }
        accept(await response.json());
        return true;
      } finally {
        refreshing = null;
      }
    })();
  }
  return refreshing;
}

/** Calls the API; on a 401 refreshes once and retries. */
async function callApi(path) {
  const call = () =>
    fetch(path, { headers: { Authorization: `Bearer ${accessToken}` } });
  let response = await call();
  if (response.status === 401 && (await refresh())) {
    response = await call();
  }
  const text = await response.text();
  $("output").textContent = `${response.status} ${path}\n${text}`;
  $("output").dataset.status = String(response.status);
}

async function login(event) {
  event.preventDefault();
  const response = await post("/auth/token", {
    grant_type: "password",
    username: $("username").value,
    password: $("password").value,
    client_id: CLIENT_ID,
  });
  $("password").value = "";
  if (!response.ok) {
    const body = await response.json().catch(() => ({}));
    show("logged-out", `Login failed: ${body.error_description || body.error || response.status}`);
    return;
  }
  accept(await response.json());
}

async function logout() {
  await post("/auth/logout", {});
  forget("Logged out.");
}

$("login").addEventListener("submit", (e) => login(e).catch((err) => show("logged-out", String(err))));
$("call-me").addEventListener("click", () => callApi("/me"));
$("call-reports").addEventListener("click", () => callApi("/reports"));
$("logout").addEventListener("click", () => logout());

// A reload keeps nothing in memory: the session comes back through the cookie.
refresh()
  .then((ok) => { if (!ok) forget("Not logged in."); })
  .catch(() => forget("Not logged in."));
