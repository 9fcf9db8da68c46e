// The dashboard's token: `trellis dashboard` prints a URL with a read-only token in its
// fragment (#token=…, never sent to a server). The page exchanges it once for an HttpOnly,
// SameSite=Strict cookie (POST /v1/dashboard/session), removes it from the address bar, and
// from then on its fetches and its EventSource carry the cookie. Without one, it says so.

const TOKEN_IN_FRAGMENT = /(?:^#|&)token=([A-Za-z0-9._-]+)/;

/** Exchange a token for the cookie; resolves with an error message, or undefined when done. */
async function exchange(token) {
  const response = await fetch('/v1/dashboard/session', { method: 'POST', headers: { authorization: `Bearer ${token}` } });
  if (response.ok) return undefined;
  const body = await response.json().catch(() => ({}));
  return body?.error?.message ?? `the control plane answered ${response.status}`;
}

/** Whether the cookie lets this page in now. */
export async function hasSession() {
  const response = await fetch('/v1/dashboard/session');
  return response.ok;
}

/** Show the "needs a token" state, with why, and a field to paste the URL or the token into. */
export function showNeedsToken(reason, onToken) {
  const panel = document.querySelector('#needs-token');
  document.querySelector('main').hidden = true;
  panel.hidden = false;
  const status = document.querySelector('#connection');
  status.dataset.state = 'needs-token';
  status.textContent = 'needs a token';
  panel.querySelector('.reason').textContent = reason ?? '';
  panel.querySelector('form').onsubmit = (event) => {
    event.preventDefault();
    const value = panel.querySelector('input').value.trim();
    const token = TOKEN_IN_FRAGMENT.exec(value.slice(value.indexOf('#')))?.[1] ?? value;
    void onToken(token);
  };
}

export function hideNeedsToken() {
  document.querySelector('#needs-token').hidden = true;
  document.querySelector('main').hidden = false;
}

/**
 * Make sure the page has a session: the token in the fragment (taken out of the address bar
 * at once), else the cookie. Resolves with an error message when it has none.
 */
export async function ensureSession(token) {
  const given = token ?? TOKEN_IN_FRAGMENT.exec(location.hash)?.[1];
  if (given !== undefined) {
    if (token === undefined) history.replaceState(null, '', location.pathname + location.search);
    const refused = await exchange(given);
    if (refused !== undefined) return `the token was refused: ${refused}`;
  }
  return (await hasSession()) ? undefined : 'no valid token: run `trellis dashboard` and open the URL it prints (it carries a read-only token)';
}
