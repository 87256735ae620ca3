// Every page: logging out, and lists worked with the keyboard (↑/↓ or j/k to move, Enter to open).
(function () {
  const logout = document.getElementById('logout');
  if (logout) {
    logout.addEventListener('submit', async (event) => {
      event.preventDefault();
      try { await fetch('/api/v1/auth/logout', {method: 'POST'}); } finally { location.href = '/login'; }
    });
  }
  const rows = () => [...document.querySelectorAll('table.worklist tbody tr[data-href]')];
  for (const row of rows()) {
    row.tabIndex = 0;
    row.addEventListener('click', (e) => { if (!e.target.closest('a, button, input, select, textarea')) location.href = row.dataset.href; });
  }
  document.addEventListener('keydown', (e) => {
    if (e.target.closest('input, textarea, select') || e.altKey || e.ctrlKey || e.metaKey) return;
    const list = rows();
    if (!list.length) return;
    const at = list.indexOf(document.activeElement);
    if (e.key === 'ArrowDown' || e.key === 'j') { (list[Math.min(at + 1, list.length - 1)]).focus(); e.preventDefault(); }
    else if (e.key === 'ArrowUp' || e.key === 'k') { (list[Math.max(at - 1, 0)]).focus(); e.preventDefault(); }
    else if (e.key === 'Enter' && at >= 0) { location.href = list[at].dataset.href; }
    else if (e.key === '/') { const q = document.querySelector('input[name="q"]'); if (q) { q.focus(); e.preventDefault(); } }
  });
})();
