// Follow-up's call page: the body of a recorded call (loaded before forms.js).
window.formShapes = window.formShapes || {};
window.formShapes['fu-call'] = (data) => {
  const out = {reached: data.reached === 'true', comment: data.comment || ''};
  if (out.reached && data.satisfaction) out.satisfaction = Number(data.satisfaction);
  if (out.reached && data.paid) out.paid = data.paid === 'true';
  return out;
};
