// The identity checks people type against (the same rules as intake's server: services/intake/domain/validation.py
// and identifiers.py): GB 11643 ID numbers, GB 32100 unified social credit codes, phone numbers, amounts.
// Each check answers {error} (refused), {warning} (a checksum that does not add up) or {}. The words are plain ones,
// for the worker's door; a page that speaks to staff passes its own for any reason (the clerk's desk: intake.js).
window.identityChecks = (function () {
  const ID_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
  const USCC_ALPHABET = '0123456789ABCDEFGHJKLMNPQRTUWXY';
  const USCC_WEIGHTS = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28];
  const ID_SHAPE = /^\d{17}[\dX]$/;
  const USCC_SHAPE = /^[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}$/;
  const PHONE_SHAPE = /^(1\d{10}|0\d{2,3}-?\d{7,8})$/;
  const AMOUNT_SHAPE = /^\d+(\.\d{1,2})?$/;
  const PLAIN = {
    id_missing: '请填写身份证号',
    id_shape: '身份证号应为18位：前17位是数字，最后一位是数字或X',
    id_birth_date: '身份证号第7到14位是出生日期，这个日期不存在，请核对',
    id_area: '身份证号前两位不是有效的省份代码，请核对',
    id_checksum: '身份证号最后一位（校验位）与前17位对不上，通常是某一位输错了，请对照身份证逐位核对',
    uscc_missing: '请填写统一社会信用代码',
    uscc_shape: '统一社会信用代码是营业执照上的18位数字或大写字母（不含 I、O、S、V、Z）',
    uscc_checksum: '统一社会信用代码最后一位（校验位）对不上，通常是某一位输错了，请对照营业执照核对',
    phone_missing: '请填写联系电话',
    phone_shape: '应为11位手机号，或带区号的固定电话（如 0971-8123456）',
    amount_shape: '金额请填数字，如 18600 或 18600.50',
  };
  const error = (reason, words) => ({error: (words && words[reason]) || PLAIN[reason]});
  const warning = (reason, words) => ({warning: (words && words[reason]) || PLAIN[reason]});
  function idCheckChar(first17) {
    let sum = 0;
    for (let i = 0; i < 17; i++) sum += Number(first17[i]) * ID_WEIGHTS[i];
    return '10X98765432'[sum % 11];
  }
  function usccCheckChar(first17) {
    let total = 0;
    for (let i = 0; i < 17; i++) total += USCC_ALPHABET.indexOf(first17[i]) * USCC_WEIGHTS[i];
    return USCC_ALPHABET[(31 - total % 31) % 31];
  }
  function birthDateOk(id) {
    const y = Number(id.slice(6, 10)), m = Number(id.slice(10, 12)), d = Number(id.slice(12, 14));
    const date = new Date(Date.UTC(y, m - 1, d));
    if (date.getUTCFullYear() !== y || date.getUTCMonth() !== m - 1 || date.getUTCDate() !== d) return false;
    return y >= 1900 && date <= new Date();
  }
  // provinces: the two-digit codes an ID number may start with (not checked when absent)
  function checkId(id, provinces, words) {
    if (!id) return error('id_missing', words);
    if (!ID_SHAPE.test(id)) return error('id_shape', words);
    if (!birthDateOk(id)) return error('id_birth_date', words);
    if (provinces && !provinces.includes(id.slice(0, 2))) return error('id_area', words);
    if (idCheckChar(id) !== id[17]) return warning('id_checksum', words);
    return {};
  }
  function checkUscc(code, words) {
    if (!code) return error('uscc_missing', words);
    if (!USCC_SHAPE.test(code)) return error('uscc_shape', words);
    if (usccCheckChar(code) !== code[17]) return warning('uscc_checksum', words);
    return {};
  }
  function checkPhone(phone, words) {
    if (!phone) return error('phone_missing', words);
    if (!PHONE_SHAPE.test(phone)) return error('phone_shape', words);
    return {};
  }
  // an amount as typed ("18,600", "18 600 元") without its separators and unit, as both pages read it
  function cleanAmount(text) {
    return (text || '').replace(/[,，\s元]/g, '');
  }
  // an amount in yuan, already stripped of separators by the page; empty is fine (amounts are optional)
  function checkAmount(amount, words) {
    if (amount && !AMOUNT_SHAPE.test(amount)) return error('amount_shape', words);
    return {};
  }
  return {checkId, checkUscc, checkPhone, checkAmount, cleanAmount};
})();
