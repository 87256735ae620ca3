// The clerk's desk (受理登记): rows of workers and claims, checks while typing (static/checks.js, the same rules as
// intake's server: services/intake/domain/validation.py and identifiers.py), a preview of the tier, due time, unit
// and possible duplicates, then the registration itself. Requests and field messages: static/forms.js.
(function () {
  const form = document.getElementById('register');
  if (!form) return;
  const words = JSON.parse(document.getElementById('desk-words').textContent);
  const previewPanel = document.getElementById('preview');
  const confirmForm = document.getElementById('confirm');

  // --- the rules: static/checks.js, in the staff's words (the server's: services/intake/domain/validation.py) ---
  const checks = window.identityChecks;
  const STAFF_WORDS = {
    id_shape: '身份证号应为18位：17位数字加1位数字或X',
    id_birth_date: '身份证号中的出生日期无效',
    id_area: '身份证号前两位不是有效的省级行政区划代码',
    id_checksum: '身份证号校验位不符，请核对；确认无误请填写核实理由',
    uscc_shape: '统一社会信用代码应为18位数字或大写字母（不含 I、O、S、V、Z）',
    uscc_checksum: '统一社会信用代码校验位不符，请核对；确认无误请填写核实理由',
    amount_shape: '金额应为数字，最多两位小数',
  };
  // {error, warning} of one ID number (error: refused; warning: needs a reason)
  const checkId = (id) => checks.checkId(id, words.provinces, STAFF_WORDS);
  const checkUscc = (code) => checks.checkUscc(code, STAFF_WORDS);
  const checkPhone = (phone) => checks.checkPhone(phone, STAFF_WORDS);

  // --- showing messages next to fields (static/forms.js; the whole page, as the preview has fields too) ---
  const say = (field, text) => window.consoleForms.fieldError(document, field, text);
  function warn(span, text) { if (span) span.textContent = text || ''; }
  function clearMessages() {
    for (const span of document.querySelectorAll('.field-error')) span.textContent = '';
    for (const p of document.querySelectorAll('.form-error')) p.textContent = '';
  }

  // --- rows: add, remove, renumber (field names follow the server's workers[i].id_number) ---
  function renumber(list) {
    const rows = [...list.querySelectorAll('.desk-row')];
    rows.forEach((row, i) => {
      for (const el of row.querySelectorAll('[data-field]')) {
        el.dataset.field = el.dataset.field.replace(/(workers|claims)\[\d+\]/, `$1[${i}]`);
      }
      const remove = row.querySelector('.remove-row');
      if (remove) remove.hidden = rows.length === 1;
    });
  }
  for (const button of form.querySelectorAll('.add-row')) {
    button.addEventListener('click', () => {
      const set = button.closest('fieldset');
      const list = set.querySelector('.rows');
      const row = document.getElementById(button.dataset.template).content.firstElementChild.cloneNode(true);
      list.appendChild(row);
      renumber(list);
      stale();
      const first = row.querySelector('input, select');
      if (first) first.focus();
    });
  }
  form.addEventListener('click', (event) => {
    const remove = event.target.closest('.remove-row');
    if (!remove) return;
    const list = remove.closest('.rows');
    if (list.querySelectorAll('.desk-row').length > 1) { remove.closest('.desk-row').remove(); renumber(list); stale(); }
  });
  for (const list of form.querySelectorAll('.rows')) renumber(list);

  // --- checks while typing ---
  function checkWorkerRow(row) {
    const input = row.querySelector('input[name="id_number"]');
    input.value = input.value.trim().toUpperCase();
    const result = input.value ? checkId(input.value) : {};
    const field = row.querySelector('.field-error[data-field$=".id_number"]').dataset.field;
    const rows = [...form.querySelectorAll('.worker-row')];
    const earlier = rows.slice(0, rows.indexOf(row)).map(r => r.querySelector('input[name="id_number"]').value);
    if (!result.error && input.value && earlier.includes(input.value)) result.error = '同一职工重复填写';
    say(field, result.error);
    warn(row.querySelector('.field-warning[data-sub="id_number"]'), result.warning);
    const override = row.querySelector('label.override');
    override.hidden = !result.warning;
    return result;
  }
  function checkPhoneInput(row) {
    const input = row.querySelector('input[name="phone"]');
    input.value = input.value.trim();
    const field = row.querySelector('.field-error[data-field$=".phone"]').dataset.field;
    const result = input.value ? checkPhone(input.value) : {};
    say(field, result.error);
    return result;
  }
  function checkUsccInput() {
    const input = form.elements.employer_uscc;
    input.value = input.value.trim().toUpperCase();
    const result = input.value ? checkUscc(input.value) : {};
    say('employer.uscc', result.error);
    warn(form.querySelector('.field-warning[data-field="employer.uscc"]'), result.warning);
    document.getElementById('uscc-override').hidden = !result.warning;
    return result;
  }
  form.addEventListener('focusout', (event) => {
    const row = event.target.closest('.worker-row');
    if (event.target.name === 'id_number' && row) checkWorkerRow(row);
    if (event.target.name === 'phone' && row) checkPhoneInput(row);
    if (event.target.name === 'employer_uscc') checkUsccInput();
  });
  form.addEventListener('input', (event) => {
    const t = event.target;
    const row = t.closest('.worker-row');
    if (t.name === 'id_number' && row && t.value.trim().length >= 18) checkWorkerRow(row);
    else if (t.name === 'employer_uscc' && t.value.trim().length >= 18) checkUsccInput();
    else if (t.dataset && t.closest('label')) {
      const span = t.closest('label').querySelector('.field-error');
      if (span) span.textContent = '';
    }
    stale();
  });
  form.addEventListener('change', (event) => {
    if (event.target.name === 'outcome') {
      form.querySelector('label.answer').hidden = form.elements.outcome.value !== 'answered';
    }
    stale();
  });

  // everything the server would refuse, found before asking it; true when the form may go to the preview
  function checkAll() {
    let ok = true;
    const need = (field, value, text) => { if (!value) { say(field, text); ok = false; } };
    need('received_at', form.elements.received_at.value, '请填写受理时间');
    need('region_code', form.elements.region_code.value, '请选择纠纷发生地');
    for (const row of form.querySelectorAll('.worker-row')) {
      const nameField = row.querySelector('.field-error[data-field$="].name"]').dataset.field;
      need(nameField, row.querySelector('input[name="name"]').value.trim(), '请填写职工姓名');
      const id = checkWorkerRow(row);
      if (id.error) ok = false;
      if (!row.querySelector('input[name="id_number"]').value) { say(nameField.replace('.name', '.id_number'), '请填写身份证号'); ok = false; }
      if (id.warning && !row.querySelector('input[name="override"]').value.trim()) {
        say('overrides.' + nameField.replace('.name', '.id_number'), '校验位不符：请核对号码，或填写核实理由'); ok = false;
      }
      const phone = row.querySelector('input[name="phone"]');
      if (!phone.value.trim()) { say(nameField.replace('.name', '.phone'), '请填写联系电话'); ok = false; }
      else if (checkPhoneInput(row).error) ok = false;
    }
    need('employer.name', form.elements.employer_name.value.trim(), '请填写用人单位名称');
    const uscc = checkUsccInput();
    if (!form.elements.employer_uscc.value) { say('employer.uscc', '请填写统一社会信用代码'); ok = false; }
    if (uscc.error) ok = false;
    if (uscc.warning && !form.elements.employer_override.value.trim()) {
      say('overrides.employer.uscc', '校验位不符：请核对代码，或填写核实理由'); ok = false;
    }
    for (const row of form.querySelectorAll('.claim-row')) {
      const input = row.querySelector('input[name="amount_cny"]');
      const amount = checks.checkAmount(checks.cleanAmount(input.value), STAFF_WORDS);
      if (amount.error) {
        say(row.querySelector('.field-error[data-field$=".amount_cny"]').dataset.field, amount.error); ok = false;
      }
    }
    if (form.elements.outcome.value === 'answered') need('answer', form.elements.answer.value.trim(), '请填写答复内容');
    if (form.elements.tier.value) need('tier_reason', form.elements.tier_reason.value.trim(), '调整分级必须说明理由');
    return ok;
  }

  // --- the body of POST /api/v1/cases (and of the preview) ---
  function body() {
    const value = (name) => form.elements[name].value.trim();
    const out = {
      channel: form.elements.channel.value,
      received_at: value('received_at') + ':00' + form.elements.received_at.dataset.tz,
      region_code: value('region_code'),
      workers: [], claims: [], overrides: [],
      employer: {name: value('employer_name'), uscc: value('employer_uscc')},
      summary: value('summary'),
    };
    form.querySelectorAll('.worker-row').forEach((row, i) => {
      const get = (n) => row.querySelector(`input[name="${n}"]`).value.trim();
      out.workers.push({name: get('name'), id_number: get('id_number'), phone: get('phone')});
      if (!row.querySelector('label.override').hidden && get('override')) {
        out.overrides.push({field: `workers[${i}].id_number`, reason: get('override')});
      }
    });
    if (!document.getElementById('uscc-override').hidden && value('employer_override')) {
      out.overrides.push({field: 'employer.uscc', reason: value('employer_override')});
    }
    for (const row of form.querySelectorAll('.claim-row')) {
      const claim = {type: row.querySelector('select[name="type"]').value};
      const amount = checks.cleanAmount(row.querySelector('input[name="amount_cny"]').value);
      if (amount) claim.amount_cny = amount;
      out.claims.push(claim);
    }
    if (form.elements.outcome.value === 'answered') { out.route = 'answered'; out.answer = value('answer'); }
    if (value('tier')) { out.tier = value('tier'); out.tier_reason = value('tier_reason'); }
    return out;
  }

  // --- talking to intake ---
  // POST JSON (static/forms.js); an answer that is not JSON reads as {}
  async function send(url, payload, headers) {
    const answer = await window.consoleForms.postJson(url, payload, 'POST', headers);
    return {ok: answer.ok, status: answer.status, data: answer.data || {}};
  }
  // an RFC 9457 problem: each field's reason next to it; what has no field, in the form's message
  function showProblem(problem, where) {
    let placed = 0;
    const loose = [];
    for (const err of problem.errors || []) {
      if (err.code === 'id_checksum' || err.code === 'uscc_checksum') {
        const row = err.field.startsWith('workers[') ?
          form.querySelectorAll('.worker-row')[Number(err.field.match(/\d+/)[0])] : null;
        if (row) row.querySelector('label.override').hidden = false;
        else document.getElementById('uscc-override').hidden = false;
        if (say('overrides.' + err.field, '校验位不符：请核对，或填写核实理由')) { placed++; continue; }
      }
      if (say(err.field, err.reason) || say(err.field.split('.')[0], err.reason)) placed++;
      else loose.push(err.reason);
    }
    let message = loose.join('；');
    if (!message) {
      message = placed ? '请按标出的提示修改后再提交' :
        (problem.type === 'urn:laborcase:problem:validation' ? '提交的内容不完整，请检查' : (problem.detail || '提交失败，请稍后重试'));
    }
    where.querySelector('.form-error').textContent = message;
  }

  // --- the preview ---
  const when = (iso) => {
    const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})/.exec(iso || '');
    return m ? `${Number(m[1])}年${Number(m[2])}月${Number(m[3])}日 ${m[4]}:${m[5]}` : '—';
  };
  const claimWords = (codes) => (codes || []).map(c => words.claim[c] || c).join('、');
  function fact(list, term, text, id) {
    const dt = document.createElement('dt'); dt.textContent = term;
    const dd = document.createElement('dd'); dd.textContent = text; if (id) dd.id = id;
    list.append(dt, dd);
  }
  let offered = [];
  let registrationKey = null;
  function stale() { if (!previewPanel.hidden) { previewPanel.hidden = true; } }
  function showPreview(p) {
    const list = document.getElementById('preview-facts');
    list.replaceChildren();
    fact(list, '分级', words.tier_long[p.tier] + (p.tier_reason ? `（${p.tier_reason}）` : ''), 'preview-tier');
    fact(list, '办结期限', when(p.due_at) + (p.provisional ? '（下一年度工作日历尚未载入，暂按周一至周五计算）' : ''), 'preview-due');
    fact(list, '去向', words.route[p.route], 'preview-route');
    fact(list, '承办单位', p.org_unit_name || '本系统没有承办单位，告知职工向属地求助', 'preview-unit');
    if (p.group_dispute) fact(list, '集体争议', '是（10人以上），优先办理并推选职工代表');
    if (p.answer) fact(list, '答复内容', p.answer);
    const box = document.getElementById('duplicates');
    const choices = document.getElementById('duplicate-choices');
    choices.replaceChildren();
    offered = p.duplicates || [];
    box.hidden = offered.length === 0;
    for (const d of offered) {
      const label = document.createElement('label');
      label.className = 'inline duplicate';
      label.innerHTML = '<input type="radio" name="duplicate" form="confirm"> <span></span> <a target="_blank" rel="noopener">查看</a>';
      label.querySelector('input').value = d.case_id;
      label.querySelector('span').textContent = `关联到原案件 ${d.case_id}：${when(d.received_at)}受理，${d.employer_name}，` +
        `${claimWords(d.claim_types)}，同一职工 ${d.workers.join('、')}，共${d.worker_count}人，` +
        `承办单位${d.org_unit_name || '待定'}，${words.status[d.status] || ''}，办结期限 ${when(d.due_at)}`;
      label.querySelector('a').href = `/intake/cases/${encodeURIComponent(d.case_id)}`;
      choices.appendChild(label);
    }
    if (offered.length) {
      const fresh = document.createElement('label');
      fresh.className = 'inline duplicate';
      fresh.innerHTML = '<input type="radio" name="duplicate" value="" form="confirm"> 不是同一争议，另立新案';
      choices.appendChild(fresh);
    }
    box.querySelector('.new-reason').hidden = true;
    document.getElementById('confirm-button').textContent = p.route === 'answered' ? '确认登记并办结' : '确认登记';
    confirmForm.querySelector('.form-error').textContent = '';
    previewPanel.hidden = false;
    previewPanel.scrollIntoView({behavior: 'smooth', block: 'start'});
  }
  previewPanel.addEventListener('change', (event) => {
    if (event.target.name === 'duplicate') {
      previewPanel.querySelector('.new-reason').hidden = event.target.value !== '';
      say('duplicate.case_id', '');
    }
  });
  document.getElementById('back').addEventListener('click', () => {
    previewPanel.hidden = true;
    form.scrollIntoView({behavior: 'smooth'});
  });

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearMessages();
    if (!checkAll()) {
      form.querySelector('.form-error').textContent = '请按标出的提示修改后再预览';
      const first = [...form.querySelectorAll('.field-error')].find(s => s.textContent);
      if (first) first.closest('label, fieldset, div').scrollIntoView({behavior: 'smooth', block: 'center'});
      return;
    }
    const button = document.getElementById('preview-button');
    button.disabled = true;
    const answer = await send(form.dataset.preview, body());
    button.disabled = false;
    if (answer.ok) showPreview(answer.data);
    else showProblem(answer.data, form);
  });

  confirmForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    confirmForm.querySelector('.form-error').textContent = '';
    const payload = body();
    if (offered.length) {
      const picked = previewPanel.querySelector('input[name="duplicate"]:checked');
      if (!picked) {
        say('duplicate.case_id', '请选择关联到原案件，或另立新案');
        confirmForm.querySelector('.form-error').textContent = '请先处理疑似重复来件';
        return;
      }
      payload.duplicate = picked.value ? {action: 'link', case_id: picked.value} :
        {action: 'new', case_id: offered[0].case_id,
         reason: previewPanel.querySelector('input[name="duplicate_reason"]').value.trim() || null};
    }
    const button = document.getElementById('confirm-button');
    button.disabled = true;
    // one key per registration: kept while this form is on the page, so a retry after a lost answer is the same
    // registration; a changed form under it is refused and the clerk is told to look for the case first
    registrationKey = registrationKey || window.consoleForms.onceKey();
    const answer = await send(form.dataset.action, payload, {'Idempotency-Key': registrationKey});
    if (answer.ok) {
      const done = answer.data.linked ? 'linked' : 'registered';
      // the query code is shown once on the result page: in the fragment (never sent to a server, nor logged)
      const code = answer.data.query_code ? `#code=${encodeURIComponent(answer.data.query_code)}` : '';
      location.href = `/intake/cases/${encodeURIComponent(answer.data.case_id)}?done=${done}${code}`;
      return;
    }
    button.disabled = false;
    if ((answer.data.errors || []).some(e => e.field === 'duplicate.case_id')) showProblem(answer.data, confirmForm);
    else { previewPanel.hidden = true; showProblem(answer.data, form); }
  });
})();
