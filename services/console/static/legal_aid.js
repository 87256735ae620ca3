// Legal aid's case page: the body shapes of its forms (loaded before forms.js).
window.formShapes = window.formShapes || {};
const lines = (text) => (text || '').split('\n').map(s => s.trim()).filter(Boolean);
window.formShapes['aid-decision'] = (data) => ({decision: data.decision, reasons: lines(data.reasons)});
window.formShapes['aid-review'] = (data) => ({upheld: data.upheld === 'true', reason: data.reason || ''});
window.formShapes['aid-applicant'] = (data) => {
  const out = {migrant_worker: !!data.migrant_worker};
  if (data.monthly_income_per_capita) out.monthly_income_per_capita = data.monthly_income_per_capita;
  if (data.limitation_date) out.limitation_date = data.limitation_date;
  return out;
};
