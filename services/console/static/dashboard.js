// Supervisor dashboard: the board over server-sent events (no reload), statistics as inline SVG charts, and the
// acknowledgement / escalation forms (forms.js sends them; supervision.js gives their body shape).
// Everything is served by laborcase itself: the machine may be offline (no CDN). Labels come from the server.
const unitParam = window.ORG_UNIT ? `org_unit=${encodeURIComponent(window.ORG_UNIT)}` : '';
const TIER = {general: '一般', difficult: '难点', complex: '特别复杂'};
const CHANNEL = {hotline: '12351热线', window: '服务窗口', online: '网上申请', court: '法院委派/委托', bureau: '仲裁委裁前调解'};
const CLAIM = {wage_arrears: '欠薪', work_injury: '工伤待遇', social_insurance: '社会保险', termination: '解除劳动合同补偿',
               overtime: '加班费', labor_relationship: '确认劳动关系', other: '其他'};
const esc = (s) => String(s ?? '').replace(/[&<>"]/g, c => ({'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;'}[c]));
let lastOverdueNow = null;  // the board's last 已超期, to refresh the statistics when it changes
const pad = (n) => String(n).padStart(2, '0');
const when = (s) => {  // 2026年12月3日 14:30 (the server sends Asia/Shanghai times with their offset)
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})/.exec(s || '');
  return m ? `${+m[1]}年${+m[2]}月${+m[3]}日 ${m[4]}:${m[5]}` : '—';
};
const who = (a) => [(a.worker_names || []).join('、'), a.employer_name].filter(Boolean).map(esc).join('<br><small>') +
  (a.employer_name && (a.worker_names || []).length ? '</small>' : '');
const caseLink = (a) => `<a href="/supervision/cases/${esc(a.case_id)}">${esc(a.case_id)}</a>`;
const alerts = {};

function actions(a) {
  const ack = a.state === 'acknowledged' ? `<span class="hint">已签收：${esc(a.ack_note)}</span>`
    : `<button type="button" data-ack="${a.alert_id}">签收督办</button>`;
  const up = a.can_escalate ? ` <button type="button" class="quiet" data-escalate="${a.alert_id}">报上级</button>` : '';
  return ack + up;
}

// A part of the board is rewritten only when what it shows has changed: an update that changes nothing (most
// do) leaves the rows alone, so a link or button the supervisor is clicking is not swapped under the pointer
// (the click would be lost), nor a selection or focus within them.
const shown = {};  // id -> the HTML it shows

function show(id, html) {
  if (shown[id] !== html) {
    document.getElementById(id).innerHTML = html;
    shown[id] = html;
  }
}

function renderBoard(board) {
  for (const a of [...board.overdue, ...board.stage_overdue, ...board.warning]) alerts[a.alert_id] = a;
  document.getElementById('overdue-count').textContent = board.overdue_now;  // cases overdue now, as the statistics count them
  if (lastOverdueNow !== null && board.overdue_now !== lastOverdueNow) loadStats();  // keep 当前超期 the same figure
  lastOverdueNow = board.overdue_now;
  document.getElementById('warning-count').textContent = board.warning.length;
  show('overdue', board.overdue.map(a => `
    <tr class="overdue" data-case="${esc(a.case_id)}" data-alert="${a.alert_id}"><td data-label="案件">${caseLink(a)}</td>
    <td data-label="职工 / 用人单位">${who(a) || '—'}</td><td data-label="到期">${when(a.due_at)}</td>
    <td data-label="督办单位">${esc(a.escalated_to_name || '')}</td><td data-label="级别">${a.level ? '升级' + a.level + '级' : '本级'}</td>
    <td data-label="办理">${actions(a)}</td></tr>`).join('')
    || '<tr><td colspan="6" class="hint">暂无超期案件</td></tr>');
  const more = document.getElementById('overdue-more');
  more.hidden = board.overdue.length >= board.overdue_now;
  show('overdue-more', `仅列出前 ${board.overdue.length} 件，<a href="/supervision/cases?overdue=yes${unitParam ? '&' + unitParam : ''}">查看全部 ${board.overdue_now} 件</a>`);
  show('warning', board.warning.map(a => `
    <tr class="at-risk" data-case="${esc(a.case_id)}"><td data-label="案件">${caseLink(a)}</td>
    <td data-label="期限">${esc(a.label)}</td><td data-label="到期">${when(a.due_at)}</td><td data-label="单位">${esc(a.org_unit_name || '')}</td></tr>`).join('')
    || '<tr><td colspan="4" class="hint">暂无临期案件</td></tr>');
  show('stage-overdue', board.stage_overdue.length ? `<h2>环节期限超期 <span class="warn">${board.stage_overdue.length}</span></h2>
    <p class="hint">调解、法律援助审查等环节期限已过，但案件办结期限尚未届满（不计入“已超期”）。</p>
    <table class="alerts worklist responsive"><thead><tr><th>案件</th><th>期限</th><th>到期</th><th>督办单位</th><th>办理</th></tr></thead><tbody>
    ${board.stage_overdue.map(a => `<tr data-case="${esc(a.case_id)}"><td data-label="案件">${caseLink(a)}</td><td data-label="期限">${esc(a.label)}</td>
      <td data-label="到期">${when(a.due_at)}</td><td data-label="督办单位">${esc(a.escalated_to_name || '')}</td><td data-label="办理">${actions(a)}</td></tr>`).join('')}</tbody></table>` : '');
  show('attention', board.attention.length ? `<h2>需关注</h2><ul>${board.attention.map(a =>
    `<li>${a.kind === 'calendar' ? `运维提醒：${esc(a.detail.year)}年工作日历未加载，相关期限为暂定（仅按周一至周五计算）`
      : `${caseLink(a)}：${esc(a.label)}${a.kind === 'low_satisfaction' ? '（' + esc(a.detail.satisfaction) + '分）' : ''}`}</li>`).join('')}</ul>` : '');
  document.getElementById('live').textContent = `实时 · 更新于 ${when(board.at)}`;
}

function openForm(kind, id) {
  const a = alerts[id];
  const act = document.getElementById('act');
  act.hidden = false;
  for (const f of act.querySelectorAll('form')) f.hidden = true;
  const form = document.getElementById(kind === 'ack' ? 'ack-form' : 'escalate-form');
  form.hidden = false;
  form.dataset.action = `/api/v1/supervision/alerts/${id}/${kind === 'ack' ? 'ack' : 'escalate'}`;
  for (const span of form.querySelectorAll('.field-error, .form-error')) span.textContent = '';
  document.getElementById('act-title').textContent = `${kind === 'ack' ? '签收督办' : '报上级督办'}：案件 ${a ? a.case_id : ''}` +
    (a && a.worker_names && a.worker_names.length ? `（${a.worker_names.join('、')}）` : '');
  act.scrollIntoView({block: 'center'});
  form.querySelector('textarea').focus();
}

document.addEventListener('click', (e) => {
  const t = e.target;
  if (t.dataset && t.dataset.ack) openForm('ack', t.dataset.ack);
  else if (t.dataset && t.dataset.escalate) openForm('escalate', t.dataset.escalate);
  else if (t.dataset && 'close' in t.dataset) document.getElementById('act').hidden = true;
});

function connect() {
  const source = new EventSource(`/api/v1/stream${unitParam ? '?' + unitParam : ''}`);
  source.addEventListener('board', (e) => renderBoard(JSON.parse(e.data)));
  source.onerror = () => { document.getElementById('live').textContent = '连接中断，正在重连…'; };
}

function bars(svgId, entries, format = (v) => v) {
  const svg = document.getElementById(svgId);
  const max = Math.max(1, ...entries.map(([, v]) => v || 0));
  const w = 360, h = 200, pad = 28, bw = Math.max(12, (w - pad) / Math.max(entries.length, 1) - 8);
  svg.innerHTML = entries.map(([label, v], i) => {
    const bh = ((v || 0) / max) * (h - 2 * pad), x = pad + i * (bw + 8), y = h - pad - bh;
    return `<rect x="${x}" y="${y}" width="${bw}" height="${bh}" fill="#b3261e"></rect>
      <text x="${x + bw / 2}" y="${y - 4}" font-size="11" text-anchor="middle">${format(v)}</text>
      <text x="${x + bw / 2}" y="${h - 10}" font-size="11" text-anchor="middle">${esc(label)}</text>`;
  }).join('') || '<text x="20" y="100">暂无数据</text>';
}

async function loadStats() {
  const s = await (await fetch(`/api/v1/stats${unitParam ? '?' + unitParam : ''}`)).json();
  bars('chart-channel', Object.entries(s.received.by_channel).map(([k, v]) => [CHANNEL[k] || '其他', v]));
  bars('chart-claims', Object.entries(s.received.by_claim_type).map(([k, v]) => [CLAIM[k] || '其他', v]));
  bars('chart-ontime', ['general', 'difficult', 'complex'].map(t => [TIER[t], s.on_time[t] ? s.on_time[t].rate : null]),
       v => v == null ? '—' : Math.round(v * 100) + '%');
  const pct = v => v == null ? '—' : (v * 100).toFixed(1) + '%';
  const money = v => Number(v || 0).toLocaleString('zh-CN', {minimumFractionDigits: 2, maximumFractionDigits: 2}) + ' 元';
  const rows = [['受理案件', s.received.total], ['涉及职工', s.workers], ['集体争议', s.group_disputes],
    ['当前超期', s.overdue_now], ['调解成功率', `${pct(s.mediation.success_rate)}（目标≥60%，${s.mediation.meets_target ? '达标' : '未达标'}）`],
    ['退回法院 / 转仲裁', `${s.returned.court} / ${s.returned.arbitration}`],
    ['法律援助 / 挽回金额', `${s.legal_aid.cases} 件 / ${money(s.legal_aid.recovered_cny)}`],
    ['平均满意度', s.satisfaction.average ?? '—'], ['网上受理占比', pct(s.online_share)]];
  document.getElementById('kpis').innerHTML = rows.map(([k, v]) => `<tr><th>${k}</th><td>${esc(v)}</td></tr>`).join('');
}

async function loadForecast() {
  const f = await (await fetch(`/api/v1/forecast${unitParam ? '?' + unitParam : ''}`)).json();
  document.getElementById('forecast').innerHTML = f.units.map(u => `<tr><td data-label="单位">${esc(u.org_unit_name)}</td><td data-label="在办">${u.open_cases}</td>
    <td data-label="日办结能力">${u.effective_per_day} 件/日</td><td data-label="可能超期">${u.likely_to_breach.map(c => `<a href="/supervision/cases/${esc(c.case_id)}">${esc(c.case_id)}</a>`).join('、') || '—'}</td></tr>`).join('')
    || '<tr><td colspan="4" class="hint">暂无在办案件</td></tr>';
}

connect();
loadStats();
loadForecast();
setInterval(() => { loadStats(); loadForecast(); }, 30000);
