// The worker's door (网上申请, 进度查询): no login. The apply form checks while typing (static/checks.js, the same
// rules as the server) and shows the case number and query code once; the progress form draws the steps, offers
// the upload of materials and, once the case is resolved, the rating. The code stays in this page's memory only.
// Requests and field messages: static/forms.js.
(function () {
  const proof = {case_id: null, query_code: null};
  const forms = window.consoleForms;

  function clear(form) {
    for (const span of form.querySelectorAll('.field-error')) span.textContent = '';
    for (const p of form.querySelectorAll('.form-error')) p.textContent = '';
  }
  const say = forms.fieldError;
  function general(form, text) { const p = form.querySelector('.form-error'); if (p) p.textContent = text || ''; }
  // "2026-03-02T09:30:00+08:00" → "2026年3月2日 09:30" (the server sends Beijing time)
  function when(iso) {
    const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})/.exec(iso || '');
    return m ? `${Number(m[1])}年${Number(m[2])}月${Number(m[3])}日 ${m[4]}:${m[5]}` : '';
  }
  // {ok, status, body}: an answer that is not JSON reads as {}; no answer at all (the network) is status 0
  const read = (answer) => ({ok: answer.ok, status: answer.status, body: answer.data || {}});
  const send = async (url, init) => read(await forms.send(url, init));
  function problem(form, body) {
    let placed = false;
    for (const e of body.errors || []) placed = say(form, e.field, e.reason) || placed;
    general(form, body.detail || (placed ? '请按提示修改后再提交' : '提交未成功，请稍后重试'));
  }
  const postJson = async (url, data, headers) => read(await forms.postJson(url, data, 'POST', headers));

  // --- evidence (both pages): multipart with the case number and the query code -------------------------------
  const evidence = document.getElementById('evidence');
  if (evidence) {
    evidence.addEventListener('submit', async (event) => {
      event.preventDefault();
      clear(evidence);
      const file = evidence.elements.file.files[0];
      if (!file) { say(evidence, 'file', '请选择要上传的文件'); return; }
      const data = new FormData();
      data.append('query_code', proof.query_code);
      data.append('kind', evidence.elements.kind.value);
      data.append('note', evidence.elements.note.value);
      data.append('file', file);
      const button = document.getElementById('upload-button');
      button.disabled = true;
      const {ok, body} = await send(`/api/v1/public/cases/${encodeURIComponent(proof.case_id)}/attachments`,
                                    {method: 'POST', body: data, headers: {accept: 'application/json'}});
      button.disabled = false;
      if (ok) {
        const li = document.createElement('li');
        li.textContent = `已上传：${body.filename}（${Math.max(1, Math.round(body.size_bytes / 1024))} KB）`;
        document.getElementById('uploaded').appendChild(li);
        evidence.elements.file.value = '';
        evidence.elements.note.value = '';
      } else {
        problem(evidence, body);
      }
    });
  }

  // --- 网上申请 -------------------------------------------------------------------------------------------------
  const apply = document.getElementById('apply');
  let applicationKey = null;
  if (apply) {
    const words = JSON.parse(document.getElementById('desk-words').textContent);
    const checks = window.identityChecks;
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
    for (const button of apply.querySelectorAll('.add-row')) {
      button.addEventListener('click', () => {
        const list = button.closest('fieldset').querySelector('.rows');
        list.appendChild(document.getElementById(button.dataset.template).content.firstElementChild.cloneNode(true));
        renumber(list);
      });
    }
    apply.addEventListener('click', (event) => {
      const remove = event.target.closest('.remove-row');
      if (!remove) return;
      const list = remove.closest('.rows');
      if (list.querySelectorAll('.desk-row').length > 1) { remove.closest('.desk-row').remove(); renumber(list); }
    });
    for (const list of apply.querySelectorAll('.rows')) renumber(list);

    function checkWorker(row, i) {
      const id = row.querySelector('input[name="id_number"]');
      id.value = id.value.trim().toUpperCase();
      const r = checks.checkId(id.value, words.provinces);
      say(apply, `workers[${i}].id_number`, r.error || r.warning);
      const phone = row.querySelector('input[name="phone"]');
      phone.value = phone.value.trim();
      const p = checks.checkPhone(phone.value);
      say(apply, `workers[${i}].phone`, p.error);
      const name = row.querySelector('input[name="name"]');
      say(apply, `workers[${i}].name`, name.value.trim() ? '' : '请填写姓名');
      return !(r.error || r.warning || p.error || !name.value.trim());
    }
    function checkUscc() {
      const input = apply.elements.employer_uscc;
      input.value = input.value.trim().toUpperCase();
      const r = checks.checkUscc(input.value);
      say(apply, 'employer.uscc', r.error || r.warning);
      return !(r.error || r.warning);
    }
    apply.addEventListener('change', (event) => {
      const row = event.target.closest('.worker-row');
      if (row && event.target.value) checkWorker(row, [...apply.querySelectorAll('.worker-row')].indexOf(row));
      if (event.target.name === 'employer_uscc' && event.target.value) checkUscc();
    });

    apply.addEventListener('submit', async (event) => {
      event.preventDefault();
      clear(apply);
      let ok = true;
      const workers = [...apply.querySelectorAll('.worker-row')].map((row, i) => {
        ok = checkWorker(row, i) && ok;
        return {name: row.querySelector('input[name="name"]').value.trim(),
                id_number: row.querySelector('input[name="id_number"]').value,
                phone: row.querySelector('input[name="phone"]').value};
      });
      ok = checkUscc() && ok;
      if (!apply.elements.region_code.value) { say(apply, 'region_code', '请选择纠纷发生的区县'); ok = false; }
      if (!apply.elements.employer_name.value.trim()) { say(apply, 'employer.name', '请填写单位名称'); ok = false; }
      const claims = [...apply.querySelectorAll('.claim-row')].map((row, i) => {
        const amount = checks.cleanAmount(row.querySelector('input[name="amount_cny"]').value);
        const claim = {type: row.querySelector('select[name="type"]').value};
        if (amount) {
          const a = checks.checkAmount(amount);
          if (a.error) { say(apply, `claims[${i}].amount_cny`, a.error); ok = false; }
          claim.amount_cny = Number(amount);
        }
        return claim;
      });
      const consent = apply.elements.consent.checked;
      if (!consent) { say(apply, 'consent', '请阅读并勾选同意个人信息处理说明'); ok = false; }
      if (!ok) { general(apply, '请按提示修改后再提交'); return; }
      const body = {region_code: apply.elements.region_code.value, workers,
                    employer: {name: apply.elements.employer_name.value.trim(), uscc: apply.elements.employer_uscc.value},
                    claims, summary: apply.elements.summary.value.trim(), consent};
      const button = document.getElementById('apply-button');
      button.disabled = true;
      applicationKey = applicationKey || forms.onceKey();  // a resend after a lost answer is the same application
      const {status, body: answer} = await postJson(apply.dataset.action, body, {'Idempotency-Key': applicationKey});
      button.disabled = false;
      if (status !== 201) { problem(apply, answer); return; }
      applicationKey = null;
      proof.case_id = answer.case_id;
      proof.query_code = answer.query_code;
      document.getElementById('applied-case').textContent = answer.case_id;
      // a resend of an application that had gone through: the code was shown then and is in the SMS, not here —
      // the materials wait for the progress page, where the worker types it
      document.getElementById('applied-code').textContent = answer.query_code || '已通过短信发送';
      document.getElementById('code-by-sms').hidden = !!answer.query_code;
      document.getElementById('evidence-part').hidden = !answer.query_code;
      document.getElementById('applied-due').textContent = when(answer.due_at);
      document.getElementById('to-progress').href = `/progress?case_id=${encodeURIComponent(answer.case_id)}`;
      apply.reset();
      document.getElementById('apply-panel').hidden = true;
      document.getElementById('applied').hidden = false;
      window.scrollTo(0, 0);
    });
  }

  // --- 进度查询 and 评价 ----------------------------------------------------------------------------------------
  const lookup = document.getElementById('lookup');
  if (lookup) {
    const rate = document.getElementById('rate');
    function draw(view) {
      document.getElementById('progress-case').textContent = view.case_id;
      document.getElementById('progress-status').textContent = view.status;
      const list = document.getElementById('progress-steps');
      list.replaceChildren(...view.steps.map((s) => {
        const li = document.createElement('li');
        const time = document.createElement('time');
        time.dateTime = s.at;
        time.textContent = when(s.at);
        li.append(time, document.createTextNode(s.title));
        return li;
      }));
      document.getElementById('progress').hidden = false;
      document.getElementById('materials').hidden = false;
      document.getElementById('rating').hidden = !view.can_rate;
      const rated = document.getElementById('rated');
      rated.hidden = !view.rating;
      if (view.rating) rated.textContent = `您已评价本次服务：${view.rating.score}分。感谢您的反馈！`;
    }
    async function ask() {
      return postJson(lookup.dataset.action, {case_id: proof.case_id, query_code: proof.query_code});
    }
    lookup.addEventListener('submit', async (event) => {
      event.preventDefault();
      clear(lookup);
      proof.case_id = lookup.elements.case_id.value.trim().toUpperCase();
      proof.query_code = lookup.elements.query_code.value.trim();
      if (!proof.case_id || !proof.query_code) { general(lookup, '请填写案件编号和查询码'); return; }
      const button = document.getElementById('lookup-button');
      button.disabled = true;
      const {ok, body} = await ask();
      button.disabled = false;
      if (ok) { draw(body); return; }
      for (const id of ['progress', 'materials', 'rating', 'rated']) document.getElementById(id).hidden = true;
      problem(lookup, body);
    });
    rate.addEventListener('submit', async (event) => {
      event.preventDefault();
      clear(rate);
      const score = rate.querySelector('input[name="score"]:checked');
      if (!score) { say(rate, 'score', '请选择满意程度'); return; }
      const {ok, body} = await postJson(rate.dataset.action, {case_id: proof.case_id, query_code: proof.query_code,
                                                              score: Number(score.value), comment: rate.elements.comment.value.trim()});
      if (!ok) { problem(rate, body); return; }
      const again = await ask();
      if (again.ok) draw(again.body);
    });
  }
})();
