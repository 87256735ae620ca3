// The clerk's result page: the worker's query code, shown once (it arrives in the URL fragment from the desk, which
// never reaches a server, and is taken out of the address bar at once), and the rotation (重新生成查询码).
(function () {
  const panel = document.getElementById('code-once');
  if (!panel) return;
  function show(code) {
    document.getElementById('code-value').textContent = code;
    panel.querySelector('input[name="query_code"]').value = code;
    panel.hidden = false;
  }
  const m = /(?:^#|&)code=([^&]+)/.exec(location.hash);
  if (m) {
    show(decodeURIComponent(m[1]));
    history.replaceState(null, '', location.pathname + location.search);
  }
  const rotate = document.getElementById('rotate');
  if (!rotate) return;
  rotate.addEventListener('submit', async (event) => {
    event.preventDefault();
    const error = rotate.querySelector('.form-error');
    error.textContent = '';
    const button = document.getElementById('rotate-button');
    button.disabled = true;
    try {
      const res = await fetch(rotate.dataset.action, {method: 'POST', headers: {accept: 'application/json'}});
      const body = await res.json();
      if (res.ok) show(body.query_code); else error.textContent = body.detail || '重新生成失败，请稍后重试';
    } catch (e) {
      error.textContent = '网络连接失败，请检查网络后重试';
    }
    button.disabled = false;
  });
})();
