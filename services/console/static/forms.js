// Console forms: send JSON, show each RFC 9457 field error next to its field, reload on success.
// A page adds its own body shapes: window.formShapes['name'] = (data, form) => body.
// Pages with a flow of their own (the clerk's desk: intake.js; the worker's door: public.js) use the pieces the
// loop below is made of: window.consoleForms.send / postJson (the request) and fieldError (one field's message).
window.formShapes = window.formShapes || {};
window.consoleForms = (function () {
  const NETWORK_FAILED = '网络连接失败，请检查网络后重试';
  // {ok, status, data}: data is the JSON answer, null when the answer is not JSON; no answer at all (the network)
  // is status 0 with the words to show as its detail
  async function send(url, init) {
    let res;
    try { res = await fetch(url, init); } catch (e) { return {ok: false, status: 0, data: {detail: NETWORK_FAILED}}; }
    let data = null;
    try { data = await res.json(); } catch (e) { data = null; }
    return {ok: res.ok, status: res.status, data};
  }
  function postJson(url, body, method, headers) {
    return send(url, {method: method || 'POST',
                      headers: {'content-type': 'application/json', 'accept': 'application/json', ...(headers || {})},
                      body: JSON.stringify(body)});
  }
  // a new Idempotency-Key: the same submission sent again (a lost answer, a second click) registers nothing twice
  function onceKey() {
    return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0')).join('');
  }
  // the message of one field, in its .field-error under root; false when the page has no place for that field
  function fieldError(root, field, text) {
    const span = root.querySelector(`.field-error[data-field="${CSS.escape(field)}"]`);
    if (span) span.textContent = text || '';
    return !!span;
  }
  return {send, postJson, fieldError, onceKey};
})();
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
    let body;
    try { body = formBody(form); } catch (e) {  // a page's shape failed: say so, keep the form usable
      if (status) { status.textContent = '表单内容无法提交，请刷新页面后重试'; status.className = 'notice'; }
      if (button) button.disabled = false;
      console.error(e);
      return;
    }
    const answer = await window.consoleForms.postJson(form.dataset.action, body, form.dataset.method);
    if (answer.status === 0) {
      if (status) { status.textContent = answer.data.detail; status.className = 'notice'; }
      if (button) button.disabled = false;
      return;
    }
    if (button) button.disabled = false;
    if (answer.ok) {
      if (form.dataset.then) { location.href = form.dataset.then; } else { location.reload(); }
      return;
    }
    const problem = answer.data || {detail: `提交失败（${answer.status}）`};
    let shown = false;
    for (const err of problem.errors || []) {
      if (window.consoleForms.fieldError(form, err.field, err.reason) ||
          window.consoleForms.fieldError(form, err.field.split('[')[0], err.reason)) shown = true;
    }
    const own = form.querySelector('.form-error');
    const message = shown ? '' : (problem.detail || problem.title || '提交失败');
    if (own) { own.textContent = message; }
    else if (status) { status.textContent = message; status.className = message ? 'notice' : 'hint'; }
  });
}
