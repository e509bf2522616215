// Requests the pages' scripts make to the dashboard's own views: same-origin, with the
// session cookie, and every POST with the CSRF token Django put in the page's form.

export function csrfToken() {
  return document.querySelector("input[name=csrfmiddlewaretoken]")?.value ?? "";
}

// A refusal's sentence when the body has none (a proxy's error page, a lost connection).
const FALLBACK = {
  400: "The request was refused as invalid.",
  403: "Permission denied (or the page's CSRF token expired: reload the page).",
  404: "Not found: the saga or operation may have been deleted.",
  409: "The saga's state or version does not allow this now.",
};

async function answer(response) {
  let body = null;
  if ((response.headers.get("Content-Type") || "").includes("application/json")) {
    try {
      body = await response.json();
    } catch {
      body = null;
    }
  }
  if (response.ok && body === null) {
    // A page instead of data: the login page, after a redirect, when the session expired.
    return { ok: false, status: response.status, body: {}, detail: "The server answered with a page, not data: your session may have expired; reload the page to log in again." };
  }
  const detail = body?.detail ?? FALLBACK[response.status] ?? `The server answered ${response.status}.`;
  return { ok: response.ok, status: response.status, body: body ?? {}, detail };
}

function failed(error) {
  return { ok: false, status: 0, body: {}, detail: `No answer from the server (${error.message}).` };
}

export async function postForm(url, form) {
  try {
    const response = await fetch(url, {
      method: "POST",
      body: form,
      credentials: "same-origin",
      headers: { Accept: "application/json", "X-CSRFToken": csrfToken() },
    });
    return answer(response);
  } catch (error) {
    return failed(error);
  }
}

export async function getJson(url) {
  try {
    const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
    return answer(response);
  } catch (error) {
    return failed(error);
  }
}
