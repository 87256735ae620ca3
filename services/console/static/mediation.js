// The mediator's case page: instalments as rows (date + amount), the people at a session, representatives.
// Body shapes for forms.js (loaded after this file): window.formShapes['name'] = (data, form) => body.
window.formShapes = window.formShapes || {};

(function () {
  const rows = document.getElementById('instalment-rows');
  const template = document.getElementById('instalment-row');
  // each row's error spans follow its place: agreement.instalments[i].due_date / .amount_cny (the API's fields)
  function renumber() {
    [...rows.querySelectorAll('tr.instalment')].forEach((tr, i) => {
      tr.querySelector('.n').textContent = `第${i + 1}期`;
      for (const span of tr.querySelectorAll('.field-error[data-field-tail]')) {
        span.dataset.field = `agreement.instalments[${i}].${span.dataset.fieldTail}`;
      }
    });
  }
  function addRow() {
    const tr = template.content.firstElementChild.cloneNode(true);
    tr.querySelector('.remove-instalment').addEventListener('click', () => { tr.remove(); renumber(); });
    rows.appendChild(tr);
    renumber();
    return tr;
  }
  if (rows && template) {
    document.getElementById('add-instalment').addEventListener('click', () => addRow().querySelector('input').focus());
  }
})();

const lines = (text) => (text || '').split('\n').map(s => s.trim()).filter(Boolean);
const names = (text) => (text || '').split(/[,，、;；]/).map(s => s.trim()).filter(Boolean);
const checked = (form, name) => [...form.querySelectorAll(`input[name="${name}"]:checked`)].map(el => el.value);

window.formShapes['settle'] = (data, form) => {
  // amounts go as typed (text): the API answers a malformed one in Chinese next to its field
  const instalments = [...form.querySelectorAll('tr.instalment')].map(tr => ({
    due_date: tr.querySelector('input[name="inst_date"]').value,
    amount_cny: tr.querySelector('input[name="inst_amount"]').value.trim().replace(/[,，元\s]/g, ''),
  })).filter(i => i.due_date || i.amount_cny);
  const body = {agreement: {amount_cny: (data.amount_cny || '').trim().replace(/[,，元\s]/g, ''), instalments,
                            terms: data.terms || ''},
                representatives: checked(form, 'rep')};
  const confirm = form.querySelector('input[name="request_confirmation"]');
  if (confirm) body.request_confirmation = confirm.checked;
  return body;
};

window.formShapes['fail'] = (data) => ({
  disputed_points: lines(data.disputed_points), summary: data.summary || '', to_legal_aid: !!data.to_legal_aid,
});

window.formShapes['record-session'] = (data, form) => ({
  held_at: data.held_at, result: data.result, notes: data.notes || '',
  parties_present: [...checked(form, 'present'), ...names(data.others)],
});
