// Console forms: send JSON, show each RFC 9457 field error next to its field, reload on success.
// A page adds its own body shapes: window.formShapes['name'] = (data, form) => body.
window.formShapes = window.formShapes || {};
function formBody(form) {
  const shape = form.dataset.shape;
  const data = {};
  for (const el of form.elements) {
    if (!el.name) continue;
    if (el.type === 'checkbox') { data[el.name] = el.checked; continue; }
    if (el.type === 'radio' && !el.checked) continue;
    if (el.value === '') continue;
    data[el.name] = el.dataset.tz && el.value ? el.value + ':00' + el.dataset.tz : el.value;
  }
  if (window.formShapes[shape]) return window.formShapes[shape](data, form);
  if (shape === 'settle') {
    const instalments = (data.instalments || '').split('\n').map(l => l.trim()).filter(Boolean).map(l => {
      const [due_date, amount] = l.split(/\s+/);
      return {due_date, amount_cny: Number(amount)};
    });
    return {agreement: {amount_cny: Number(data.amount_cny), instalments, terms: data.terms || ''},
            representatives: (data.representatives || '').split(/[,，、]/).map(s => s.trim()).filter(Boolean),
            actor: data.actor};
  }
  if (shape === 'fail') {
    return {disputed_points: (data.disputed_points || '').split('\n').map(s => s.trim()).filter(Boolean),
            summary: data.summary || '', to_legal_aid: !!data.to_legal_aid, actor: data.actor};
  }
  if (shape === 'call') {
    const out = {reached: data.reached === 'true', actor: data.actor, comment: data.comment || ''};
    if (data.satisfaction) out.satisfaction = Number(data.satisfaction);
    if (data.paid) out.paid = data.paid === 'true';
    return out;
  }
  if (shape === 'decision') {
    return {decision: data.decision, actor: data.actor,
            reasons: (data.reasons || '').split('\n').map(s => s.trim()).filter(Boolean)};
  }
  return data;
}

for (const form of document.querySelectorAll('form.js-form')) {
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    for (const span of form.querySelectorAll('.field-error')) span.textContent = '';
    const status = document.getElementById('form-status');
    const button = form.querySelector('button[type="submit"], button:not([type])');
    if (button) button.disabled = true;
    let res;
    try {
      res = await fetch(form.dataset.action, {method: form.dataset.method || 'POST',
                                              headers: {'content-type': 'application/json', 'accept': 'application/json'},
                                              body: JSON.stringify(formBody(form))});
    } catch (e) {
      if (status) { status.textContent = '网络连接失败，请检查网络后重试'; status.className = 'notice'; }
      if (button) button.disabled = false;
      return;
    }
    if (button) button.disabled = false;
    if (res.ok) {
      if (form.dataset.then) { location.href = form.dataset.then; } else { location.reload(); }
      return;
    }
    let problem = {};
    try { problem = await res.json(); } catch (e) { problem = {detail: `提交失败（${res.status}）`}; }
    let shown = false;
    for (const err of problem.errors || []) {
      const span = form.querySelector(`.field-error[data-field="${err.field}"]`) ||
                   form.querySelector(`.field-error[data-field="${err.field.split('[')[0]}"]`);
      if (span) { span.textContent = err.reason; shown = true; }
    }
    const own = form.querySelector('.form-error');
    const message = shown ? '' : (problem.detail || problem.title || '提交失败');
    if (own) { own.textContent = message; }
    else if (status) { status.textContent = message; status.className = message ? 'notice' : 'hint'; }
  });
}
