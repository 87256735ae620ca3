// Supervision's form shapes (loaded before forms.js): a note is all the acknowledgement and escalation send.
window.formShapes = window.formShapes || {};
window.formShapes['supervision-note'] = (data) => ({note: (data.note || '').trim()});
