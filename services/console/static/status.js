// Live service status for the home page (no external assets: the console works offline).
async function refreshStatus() {
  try {
    const res = await fetch('/api/v1/status');
    const body = await res.json();
    for (const [name, s] of Object.entries(body.services)) {
      const row = document.querySelector(`tr[data-service="${name}"]`);
      if (!row) continue;
      const checks = s.checks || {};
      row.querySelector('.state').textContent = s.ready ? '就绪' : '未就绪';
      row.querySelector('.state').className = 'state ' + (s.ready ? 'ok' : 'bad');
      row.querySelector('.db').textContent = checks.database === 'ok' ? '正常' : (checks.database || '不可达');
      row.querySelector('.consumer').textContent = checks.consumer === 'ok' ? '正常' : (checks.consumer || '—');
    }
  } catch (e) { /* the next refresh will tell */ }
}
refreshStatus();
setInterval(refreshStatus, 3000);
