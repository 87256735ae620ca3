// Documents panel (services/web/templates/documents.html): loads a case's attachments through the console when
// the page did not render them, and uploads a file as multipart/form-data with the reason shown in Chinese.
(function () {
  function labels(panel) {
    const out = {};
    for (const pair of (panel.dataset.kinds || '').split(';')) {
      const [code, label] = pair.split('=');
      if (code) out[code] = label;
    }
    return out;
  }
  function when(iso) {
    const d = new Date(iso);
    if (isNaN(d)) return '—';
    const s = new Date(d.getTime() + 8 * 3600 * 1000);  // Asia/Shanghai
    const pad = n => String(n).padStart(2, '0');
    return `${s.getUTCFullYear()}年${s.getUTCMonth() + 1}月${s.getUTCDate()}日 ${pad(s.getUTCHours())}:${pad(s.getUTCMinutes())}`;
  }
  function cell(label, text, href) {
    const td = document.createElement('td');
    td.dataset.label = label;
    if (href) { const a = document.createElement('a'); a.href = href; a.textContent = text; td.appendChild(a); }
    else td.textContent = text;
    return td;
  }
  async function load(panel) {
    const res = await fetch(`/api/v1/cases/${encodeURIComponent(panel.dataset.case)}/attachments`,
                            {headers: {accept: 'application/json'}, credentials: 'same-origin'});
    if (!res.ok) return;
    const body = await res.json();
    const kinds = labels(panel);
    const tbody = panel.querySelector('table.attachments tbody');
    tbody.textContent = '';
    for (const a of body.attachments) {
      const tr = document.createElement('tr');
      tr.append(cell('材料类别', kinds[a.kind] || '其他材料'), cell('文件', a.filename, a.href),
                cell('大小', (a.size_bytes / 1024).toFixed(1) + ' KB'), cell('上传时间', when(a.uploaded_at)),
                cell('上传人', a.uploaded_by_name || a.uploaded_by), cell('说明', a.note || '—'));
      tbody.appendChild(tr);
    }
    panel.querySelector('.attachments-empty').hidden = body.attachments.length > 0;
  }
  function reason(status, problem) {
    if (status === 413) return '文件太大，超过上传上限';
    if (status === 408) return '上传超时，请检查网络后重试';
    if (problem && problem.errors && problem.errors.length) return problem.errors.map(e => e.reason).join('；');
    return (problem && problem.detail) || '上传失败，请稍后重试';
  }
  for (const panel of document.querySelectorAll('.documents-panel')) {
    if (panel.dataset.load === 'yes') load(panel);
    const form = panel.querySelector('form.attachment-upload');
    if (!form) continue;
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const error = form.querySelector('.form-error');
      const fieldError = form.querySelector('[data-field="file"]');
      error.textContent = ''; fieldError.textContent = '';
      const button = form.querySelector('button');
      button.disabled = true;
      try {
        const res = await fetch(form.action, {method: 'POST', body: new FormData(form), credentials: 'same-origin',
                                              headers: {accept: 'application/json'}});
        if (res.ok) { form.reset(); await load(panel); return; }
        let problem = null;
        try { problem = await res.json(); } catch (e) { /* not JSON */ }
        const text = reason(res.status, problem);
        if (problem && problem.errors && problem.errors.some(e => e.field === 'file')) fieldError.textContent = text;
        else error.textContent = text;
      } catch (e) {
        error.textContent = '网络中断，文件未上传';
      } finally {
        button.disabled = false;
      }
    });
  }
})();
