// Herald admin: the "Reload config" button — POST /admin/api/reload (as SIGHUP), with the
// session's CSRF token; the answer (or the refusal and its reason) is shown in the button's title.
'use strict';

(() => {
  const button = document.getElementById('reload-config');
  if (!button) return;
  button.addEventListener('click', async () => {
    button.disabled = true;
    try {
      const t = await (await fetch('/admin/api/csrf', { credentials: 'same-origin', cache: 'no-store' })).json();
      const res = await fetch('/admin/api/reload', { method: 'POST', credentials: 'same-origin', headers: { [t.header]: t.token } });
      const body = await res.json();
      button.title = res.ok
        ? 'applied: ' + (body.changed.join(', ') || 'nothing changed') + (body.restartRequired.length ? '; needs a restart: ' + body.restartRequired.join(', ') : '')
        : 'refused: ' + (body.error ? body.error.message : 'HTTP ' + res.status);
      button.dataset.state = res.ok ? 'ok' : 'error';
      button.textContent = res.ok ? 'Reloaded' : 'Reload refused';
    } catch (err) {
      button.title = 'failed: ' + err.message;
      button.dataset.state = 'error';
    } finally {
      button.disabled = false;
    }
  });
})();
