// Supervisor dashboard: the board over server-sent events (no reload), statistics as inline SVG charts.
// Everything is served by laborcase itself: the machine may be offline (no CDN).
const unitParam = window.ORG_UNIT ? `org_unit=${encodeURIComponent(window.ORG_UNIT)}` : '';
const CLOCK = {tier: '办结期限', union_mediation: '工会调解15日', court_entrusted: '法院委托期限',
               legal_aid_decision: '援助审查7日', lawyer_assignment: '指派律师3日', followup_first: '首次回访'};
const TIER = {general: '一般', difficult: '难点', complex: '特别复杂'};
const CHANNEL = {hotline: '12351热线', window: '窗口', online: '网上', court: '法院', bureau: '仲裁委'};
const CLAIM = {wage_arrears: '欠薪', work_injury: '工伤', social_insurance: '社保', termination: '解除补偿',
               overtime: '加班费', labor_relationship: '劳动关系', other: '其他'};
const esc = (s) => String(s ?? '').replace(/[&<>"]/g, c => ({'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;'}[c]));
let lastOverdueNow = null;  // the board's last 已超期, to refresh the statistics when it changes
const when = (s) => (s || '').slice(0, 16).replace('T', ' ');

function renderBoard(board) {
  const overdue = board.alerts.filter(a => a.kind === 'overdue');
  const warning = board.alerts.filter(a => a.kind === 'warning');
  const other = board.alerts.filter(a => !['overdue', 'warning'].includes(a.kind));
  document.getElementById('overdue-count').textContent = board.overdue_now;  // cases overdue now, as the statistics count them
  if (lastOverdueNow !== null && board.overdue_now !== lastOverdueNow) loadStats();  // keep 当前超期 the same figure
  lastOverdueNow = board.overdue_now;
  document.getElementById('warning-count').textContent = warning.length;
  document.getElementById('overdue').innerHTML = overdue.map(a => `
    <tr class="overdue" data-case="${esc(a.case_id)}"><td><a href="/supervision/cases/${esc(a.case_id)}">${esc(a.case_id)}</a></td>
    <td>${esc(CLOCK[a.deadline_kind] || a.deadline_kind)}</td><td>${when(a.due_at)}</td>
    <td>${esc(a.escalated_to_name || a.escalated_to || '')}</td><td>${a.level ? '升级' + a.level + '级' : '本级'}</td>
    <td>${a.state === 'acknowledged' ? '已确认' : `<button data-ack="${a.alert_id}">确认督办</button>`}</td></tr>`).join('')
    || '<tr><td colspan="6" class="hint">暂无超期案件</td></tr>';
  document.getElementById('warning').innerHTML = warning.map(a => `
    <tr class="at-risk" data-case="${esc(a.case_id)}"><td><a href="/supervision/cases/${esc(a.case_id)}">${esc(a.case_id)}</a></td>
    <td>${esc(CLOCK[a.deadline_kind] || a.deadline_kind)}</td><td>${when(a.due_at)}</td><td>${esc(a.org_unit || '')}</td></tr>`).join('')
    || '<tr><td colspan="4" class="hint">暂无临期案件</td></tr>';
  document.getElementById('attention').innerHTML = other.length ? `<h2>需关注</h2><ul>${other.map(a =>
    `<li>${a.kind === 'calendar' ? `运维提醒：${esc(a.detail.year)}年工作日历未加载，相关期限为暂定（仅按周一至周五计算）`
      : `${esc(a.case_id)}：${a.kind === 'low_satisfaction' ? '满意度低（' + esc(a.detail.satisfaction) + '分）' : '多次回访未联系上'}`}</li>`).join('')}</ul>` : '';
  document.getElementById('live').textContent = `实时 · 更新于 ${when(board.at)}`;
}

document.addEventListener('click', async (e) => {
  const id = e.target.dataset && e.target.dataset.ack;
  if (!id) return;
  const note = prompt('督办意见（必填）');
  if (!note) return;
  await fetch(`/api/v1/supervision/alerts/${id}/ack`, {method: 'POST', headers: {'content-type': 'application/json'},
    body: JSON.stringify({actor: '督办员', note})});
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
  bars('chart-channel', Object.entries(s.received.by_channel).map(([k, v]) => [CHANNEL[k] || k, v]));
  bars('chart-claims', Object.entries(s.received.by_claim_type).map(([k, v]) => [CLAIM[k] || k, v]));
  bars('chart-ontime', ['general', 'difficult', 'complex'].map(t => [TIER[t], s.on_time[t] ? s.on_time[t].rate : null]),
       v => v == null ? '—' : Math.round(v * 100) + '%');
  const pct = v => v == null ? '—' : (v * 100).toFixed(1) + '%';
  const rows = [['受理案件', s.received.total], ['涉及职工', s.workers], ['集体争议', s.group_disputes],
    ['当前超期', s.overdue_now], ['调解成功率', `${pct(s.mediation.success_rate)}（目标≥60%，${s.mediation.meets_target ? '达标' : '未达标'}）`],
    ['退回法院 / 转仲裁', `${s.returned.court} / ${s.returned.arbitration}`],
    ['法律援助 / 挽回金额', `${s.legal_aid.cases} 件 / ${s.legal_aid.recovered_cny.toLocaleString('zh-CN')} 元`],
    ['平均满意度', s.satisfaction.average ?? '—'], ['网上受理占比', pct(s.online_share)]];
  document.getElementById('kpis').innerHTML = rows.map(([k, v]) => `<tr><th>${k}</th><td>${esc(v)}</td></tr>`).join('');
}

async function loadForecast() {
  const f = await (await fetch(`/api/v1/forecast${unitParam ? '?' + unitParam : ''}`)).json();
  document.getElementById('forecast').innerHTML = f.units.map(u => `<tr><td>${esc(u.org_unit_name)}</td><td>${u.open_cases}</td>
    <td>${u.effective_per_day} 件/日</td><td>${u.likely_to_breach.map(c => `<a href="/supervision/cases/${esc(c.case_id)}">${esc(c.case_id)}</a>`).join('、') || '—'}</td></tr>`).join('')
    || '<tr><td colspan="4" class="hint">暂无在办案件</td></tr>';
}

connect();
loadStats();
loadForecast();
setInterval(() => { loadStats(); loadForecast(); }, 30000);
