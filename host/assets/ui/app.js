// imgbed web UI: plain DOM, no framework. Calls the JSON API with the token from
// localStorage as `Authorization: Bearer` (never a cookie, never in a URL).
'use strict';
(() => {
  const I18N = window.IMGBED_I18N;
  const body = document.body;
  const PAGE = body.dataset.page;
  const JWT = body.dataset.jwt === 'on';
  const MAIL = body.dataset.mail === 'on';
  const TOKEN_KEY = 'imgbed.token';
  const ADMIN_KEY = 'imgbed.admin';
  const LANG_KEY = 'imgbed.lang';
  const PER_PAGE = 24;
  const $ = (sel, root = document) => root.querySelector(sel);

  // Storage can be switched off in a browser: the UI then forgets on reload.
  const store = {
    get: (k, s = localStorage) => { try { return s.getItem(k) || ''; } catch { return ''; } },
    set: (k, v, s = localStorage) => { try { if (v) s.setItem(k, v); else s.removeItem(k); } catch { /* off */ } },
  };
  const token = () => store.get(TOKEN_KEY);
  const adminToken = () => store.get(ADMIN_KEY, sessionStorage);
  const signedIn = () => !JWT || !!token();

  let lang = store.get(LANG_KEY) || (document.documentElement.lang.startsWith('zh') ? 'zh' : 'en');

  function t(key, args) {
    let s = (I18N[lang] && I18N[lang][key]) ?? I18N.en[key] ?? key;
    if (args) for (const [k, v] of Object.entries(args)) s = s.split('{' + k + '}').join(String(v));
    return s;
  }

  function translateAttrs(el) {
    for (const pair of el.dataset.i18nAttr.split(';')) {
      const [attr, key] = pair.split('=');
      el.setAttribute(attr, t(key, el.dataset.args ? JSON.parse(el.dataset.args) : null));
    }
  }

  function translate() {
    document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
    document.querySelectorAll('[data-i18n]').forEach((el) => {
      el.textContent = t(el.dataset.i18n, el.dataset.args ? JSON.parse(el.dataset.args) : null);
    });
    document.querySelectorAll('[data-i18n-attr]').forEach(translateAttrs);
    const sw = $('#lang-switch');
    sw.textContent = lang === 'zh' ? 'English' : '中文';
    sw.setAttribute('lang', lang === 'zh' ? 'en' : 'zh-CN');
    sw.setAttribute('aria-label', lang === 'zh' ? 'Switch to English' : '切换到中文');
    document.title = t('title.' + PAGE) + ' · imgbed';
  }

  // Element builder. Text is always set as text (never parsed as HTML).
  function h(tag, props, ...kids) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (v == null || v === false) continue;
      if (k === 'class') el.className = v;
      else if (k === 'text') el.textContent = v;
      else if (k === 'i18n') el.dataset.i18n = v;
      else if (k === 'args') el.dataset.args = JSON.stringify(v);
      else if (k === 'i18nAttr') el.dataset.i18nAttr = v;
      else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
      else if (v === true) el.setAttribute(k, '');
      else el.setAttribute(k, v);
    }
    for (const kid of kids.flat(Infinity)) if (kid != null && kid !== false) el.append(kid);
    if (el.dataset.i18n) el.textContent = t(el.dataset.i18n, props.args);
    if (el.dataset.i18nAttr) translateAttrs(el);
    return el;
  }

  let sayTimer = 0;
  function say(text) {
    const s = $('#status');
    s.textContent = text;
    clearTimeout(sayTimer);
    sayTimer = setTimeout(() => { s.textContent = ''; }, 5000);
  }

  const errText = (d) => (d && d.detail && d.detail !== d.data ? `${d.data} (${d.detail})` : String(d && d.data));
  const enc = encodeURIComponent;

  async function api(method, path, { json, body: raw, auth = token(), headers: more = {} } = {}) {
    const headers = { ...more };
    if (auth) headers.Authorization = 'Bearer ' + auth;
    let payload = raw;
    if (json !== undefined) {
      headers['Content-Type'] = 'application/json';
      payload = JSON.stringify(json);
    }
    let res;
    try {
      res = await fetch(path, { method, headers, body: payload, cache: 'no-store' });
    } catch {
      return { ok: false, status: 0, data: { data: t('err.network'), type: 'error' } };
    }
    let data;
    try { data = await res.json(); } catch { data = { data: t('err.http', { status: res.status }), type: 'error' }; }
    return { ok: res.ok, status: res.status, data, res };
  }

  async function copy(text) {
    try {
      await navigator.clipboard.writeText(text);
    } catch {
      const ta = h('textarea', { class: 'offscreen', readonly: true, 'aria-hidden': 'true' });
      ta.value = text;
      body.append(ta);
      ta.select();
      document.execCommand('copy');
      ta.remove();
    }
    say(t('copied'));
  }

  function confirmBox(message, okKey = 'delete') {
    return new Promise((resolve) => {
      const dlg = h('dialog', { class: 'confirm', 'aria-labelledby': 'confirm-text' },
        h('p', { id: 'confirm-text', text: message }),
        h('form', { method: 'dialog', class: 'row end' },
          h('button', { value: 'cancel', class: 'ghost', i18n: 'cancel' }),
          h('button', { value: 'ok', class: 'danger', i18n: okKey })));
      dlg.addEventListener('close', () => { resolve(dlg.returnValue === 'ok'); dlg.remove(); });
      body.append(dlg);
      dlg.showModal();
      $('.ghost', dlg).focus();
    });
  }

  function fmtBytes(n) {
    if (n < 1024) return n + ' B';
    const units = ['KiB', 'MiB', 'GiB', 'TiB'];
    let i = -1;
    do { n /= 1024; i++; } while (n >= 1024 && i < units.length - 1);
    return n.toFixed(n < 10 ? 1 : 0) + ' ' + units[i];
  }
  const fmtDate = (secs) => new Date(secs * 1000).toLocaleString(lang === 'zh' ? 'zh-CN' : 'en');

  function jwtMail(tok) {
    try {
      const part = tok.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
      const bin = atob(part.padEnd(Math.ceil(part.length / 4) * 4, '='));
      return JSON.parse(new TextDecoder().decode(Uint8Array.from(bin, (c) => c.charCodeAt(0)))).sub || '';
    } catch { return ''; }
  }

  const signinNotice = () => h('p', { class: 'notice' }, h('span', { i18n: 'signin.needed' }), ' ',
    h('a', { href: '/account', i18n: 'signin.link' }));

  function msgBox(id) { return h('p', { id, class: 'msg', role: 'alert' }); }
  function showMsg(el, text, ok) { el.textContent = text; el.classList.toggle('ok', !!ok); el.classList.toggle('error', !ok); }

  // ---- images: previews, snippets, cards ----

  function media(rec, full) {
    if (rec.kind === 'video') {
      return h('video', { class: 'media', src: rec.url, controls: true, preload: 'metadata', width: rec.width || null, height: rec.height || null });
    }
    return h('img', { class: 'media', src: full ? rec.url : rec.thumb_url || rec.url, alt: rec.original_name || rec.name,
      loading: 'lazy', decoding: 'async', width: rec.width || null, height: rec.height || null });
  }

  function copyRow(snip, rec) {
    const row = h('div', { class: 'copyrow' });
    for (const [label, key] of [['url', 'link'], ['html', 'html'], ['markdown', 'markdown'], ['bbcode', 'bbcode']]) {
      row.append(h('button', { type: 'button', class: 'copy', 'data-copy': label, i18n: 'copy.' + label, onclick: () => copy(snip[key]) }));
    }
    if (rec.delete_url) {
      row.append(h('button', { type: 'button', class: 'copy', 'data-copy': 'delete', i18n: 'copy.delete', onclick: () => copy(rec.delete_url) }));
    }
    return row;
  }

  function facts(rec) {
    const rows = [
      ['fact.size', fmtBytes(rec.size)],
      ['fact.dims', `${rec.width} × ${rec.height}`],
      ['fact.type', `${rec.format} (${rec.mime})`],
      ['fact.date', fmtDate(rec.time)],
      ['fact.original', rec.original_name || '—'],
      ['fact.name', rec.name],
    ];
    if (rec.duration_ms != null) rows.splice(2, 0, ['fact.duration', (rec.duration_ms / 1000).toFixed(1) + ' s']);
    return h('dl', { class: 'facts' }, rows.map(([k, v]) => [h('dt', { i18n: k }), h('dd', { text: v })]));
  }

  async function snippets(name) {
    const r = await api('GET', '/api/image_format?name=' + enc(name));
    return r.ok ? r.data.data : null;
  }

  // ---- upload page ----

  function renderUpload(main) {
    main.append(h('h1', { class: 'offscreen', i18n: 'title.upload' }));
    if (!signedIn()) main.append(signinNotice());
    const input = h('input', { type: 'file', id: 'file-input', multiple: true, accept: 'image/*,video/*', hidden: true });
    const zone = h('section', { class: 'drop', id: 'drop', 'aria-labelledby': 'drop-title' },
      h('p', { class: 'big', id: 'drop-title', i18n: 'upload.drop' }),
      h('button', { type: 'button', class: 'primary', id: 'choose', i18n: 'upload.choose', onclick: () => input.click() }),
      h('p', { class: 'hint', i18n: 'upload.paste' }),
      input);
    const list = h('ul', { class: 'results', id: 'results', i18nAttr: 'aria-label=upload.results' });
    main.append(zone, list);
    input.addEventListener('change', () => { enqueue(list, [...input.files]); input.value = ''; });
    const hasFiles = (e) => e.dataTransfer && [...e.dataTransfer.types].includes('Files');
    document.addEventListener('dragover', (e) => { if (hasFiles(e)) { e.preventDefault(); zone.classList.add('over'); } });
    document.addEventListener('dragleave', (e) => { if (!e.relatedTarget) zone.classList.remove('over'); });
    document.addEventListener('drop', (e) => {
      if (!hasFiles(e)) return;
      e.preventDefault();
      zone.classList.remove('over');
      enqueue(list, [...e.dataTransfer.files]);
    });
    document.addEventListener('paste', (e) => {
      const files = [...((e.clipboardData && e.clipboardData.files) || [])];
      if (files.length) { e.preventDefault(); enqueue(list, files); }
    });
  }

  const queue = [];
  let running = 0;
  function enqueue(list, files) {
    for (const file of files) {
      const bar = h('progress', { max: '1', value: '0', i18nAttr: 'aria-label=upload.progress', args: { name: file.name } });
      const msg = h('p', { class: 'msg', i18n: 'upload.waiting' });
      const item = h('li', { class: 'item uploading' },
        h('div', { class: 'itemhead' }, h('strong', { class: 'fname', text: file.name || 'clipboard' }), h('span', { class: 'fsize', text: fmtBytes(file.size) })),
        bar, msg);
      list.prepend(item);
      queue.push({ file, item, bar, msg });
    }
    pump();
  }

  function pump() {
    while (running < 2 && queue.length) {
      const job = queue.shift();
      running++;
      uploadOne(job).finally(() => { running--; pump(); });
    }
  }

  function send(file, onprogress) {
    return new Promise((resolve) => {
      const xhr = new XMLHttpRequest();
      xhr.open('POST', '/api/image_upload');
      if (token()) xhr.setRequestHeader('Authorization', 'Bearer ' + token());
      xhr.responseType = 'json';
      xhr.upload.addEventListener('progress', (e) => { if (e.lengthComputable) onprogress(e.loaded / e.total); });
      xhr.addEventListener('load', () => resolve({ status: xhr.status,
        data: xhr.response || { data: t('err.http', { status: xhr.status }), type: 'error' } }));
      xhr.addEventListener('error', () => resolve({ status: 0, data: { data: t('err.network'), type: 'error' } }));
      const form = new FormData();
      form.append('file', file, file.name || 'clipboard.png');
      xhr.send(form);
    });
  }

  async function uploadOne({ file, item, bar, msg }) {
    msg.dataset.i18n = 'upload.sending';
    msg.textContent = t('upload.sending');
    const r = await send(file, (f) => { bar.value = f; });
    item.classList.remove('uploading');
    bar.remove();
    delete msg.dataset.i18n;
    if (r.status !== 200 || !r.data.files) {
      item.classList.add('refused');
      msg.setAttribute('role', 'alert');
      showMsg(msg, errText(r.data), false);
      return;
    }
    const rec = r.data.files[0];
    const snip = await snippets(rec.name);
    item.classList.add('card');
    item.replaceChildren(
      h('a', { class: 'preview', href: rec.url, target: '_blank', rel: 'noopener', i18nAttr: 'aria-label=open.named', args: { name: rec.original_name || rec.name } }, media(rec, false)),
      h('div', { class: 'cardbody' },
        h('div', { class: 'itemhead' }, h('strong', { class: 'fname', text: rec.original_name || rec.name }),
          h('span', { class: 'fsize', text: `${rec.width} × ${rec.height} · ${fmtBytes(rec.size)}` })),
        h('input', { class: 'link', readonly: true, value: rec.url, i18nAttr: 'aria-label=fact.link' }),
        rec.duplicate ? h('p', { class: 'hint', i18n: 'upload.duplicate' }) : null,
        snip ? copyRow(snip, rec) : null));
  }

  // ---- gallery ----

  function renderGallery(main) {
    main.append(h('h1', { i18n: 'title.gallery' }));
    if (!signedIn()) { main.append(signinNotice()); return; }
    let page = Math.max(1, parseInt(new URLSearchParams(location.search).get('page'), 10) || 1);
    const count = h('span', { class: 'count' });
    const delBtn = h('button', { type: 'button', class: 'danger', id: 'delete-selected', disabled: true, i18n: 'gallery.delete', args: { n: 0 } });
    const allBtn = h('button', { type: 'button', class: 'ghost', id: 'select-all', i18n: 'gallery.all' });
    const bar = h('div', { class: 'toolbar' }, count, allBtn, delBtn);
    const grid = h('ul', { class: 'grid', id: 'grid' });
    const pager = h('nav', { class: 'pager', i18nAttr: 'aria-label=gallery.pages' });
    const msg = msgBox('gallery-msg');
    main.append(bar, msg, grid, pager);

    const picked = () => [...grid.querySelectorAll('.pick:checked')].map((c) => c.value);
    const refresh = () => {
      const n = picked().length;
      delBtn.disabled = n === 0;
      delBtn.dataset.args = JSON.stringify({ n });
      delBtn.textContent = t('gallery.delete', { n });
    };
    grid.addEventListener('change', refresh);
    allBtn.addEventListener('click', () => {
      const boxes = [...grid.querySelectorAll('.pick')];
      const on = boxes.some((b) => !b.checked);
      boxes.forEach((b) => { b.checked = on; });
      refresh();
    });
    delBtn.addEventListener('click', async () => {
      const names = picked();
      if (names.length && await confirmBox(t('confirm.delete.many', { n: names.length }))) await remove(names);
    });

    async function remove(names) {
      const r = await api('POST', '/api/image_delete', { json: { names } });
      if (r.ok) { say(t('deleted', { n: names.length })); await load(); } else showMsg(msg, errText(r.data), false);
    }

    function tile(rec) {
      const name = rec.original_name || rec.name;
      // Small variants when the server makes them: the browser picks the width the tile
      // needs (a square cover: a wide image needs more than the tile's width).
      const cover = rec.width && rec.height ? Math.max(1, rec.width / rec.height) : 1;
      const thumb = rec.thumb_url || rec.kind !== 'video'
        ? h('img', { src: rec.thumb_url || rec.url, srcset: rec.srcset, sizes: rec.srcset ? `${Math.ceil(12 * cover)}rem` : null, alt: '', loading: 'lazy', decoding: 'async',
            // A variant that cannot be had (a policy without variants, the miss rate): the thumbnail.
            onerror: (e) => { if (e.target.hasAttribute('srcset')) e.target.removeAttribute('srcset'); } })
        : h('span', { class: 'vid', 'aria-hidden': 'true', text: '▶' });
      return h('li', { class: 'tile' },
        h('button', { type: 'button', class: 'thumb', i18nAttr: 'aria-label=gallery.open', args: { name }, onclick: () => detail(rec, remove) }, thumb),
        h('label', { class: 'cap' }, h('input', { type: 'checkbox', class: 'pick', value: rec.name }), h('span', { text: name })));
    }

    async function load() {
      const r = await api('GET', `/api/image_list?page=${page}&per_page=${PER_PAGE}`);
      if (!r.ok) { showMsg(msg, errText(r.data), false); return; }
      const d = r.data;
      if (d.data.length === 0 && page > 1 && d.pages >= 1) { page = d.pages; return load(); }
      msg.textContent = '';
      count.dataset.i18n = 'gallery.count';
      count.dataset.args = JSON.stringify({ n: d.total });
      count.textContent = t('gallery.count', { n: d.total });
      if (d.total === 0) {
        grid.replaceChildren(h('li', { class: 'empty' }, h('p', { i18n: 'gallery.empty' }), h('a', { class: 'button primary', href: '/', i18n: 'gallery.empty.link' })));
      } else {
        grid.replaceChildren(...d.data.map(tile));
      }
      pager.replaceChildren();
      if (d.pages > 1) {
        pager.append(
          h('button', { type: 'button', class: 'ghost', id: 'prev', disabled: page <= 1, i18n: 'gallery.prev', onclick: () => go(page - 1) }),
          h('span', { class: 'pageno', i18n: 'gallery.page', args: { page, pages: d.pages } }),
          h('button', { type: 'button', class: 'ghost', id: 'next', disabled: page >= d.pages, i18n: 'gallery.next', onclick: () => go(page + 1) }));
      }
      refresh();
    }
    function go(p) {
      page = p;
      history.pushState(null, '', p > 1 ? `?page=${p}` : location.pathname);
      load().then(() => $('#grid .thumb') && $('#grid .thumb').focus());
    }
    window.addEventListener('popstate', () => { page = Math.max(1, parseInt(new URLSearchParams(location.search).get('page'), 10) || 1); load(); });
    load();
  }

  async function detail(rec, remove) {
    const snip = await snippets(rec.name);
    const name = rec.original_name || rec.name;
    const dlg = h('dialog', { class: 'detail', 'aria-labelledby': 'detail-title' },
      h('div', { class: 'dhead' }, h('h2', { id: 'detail-title', text: name }),
        h('button', { type: 'button', class: 'ghost close', i18nAttr: 'aria-label=close', text: '×', onclick: () => dlg.close() })),
      h('div', { class: 'dmedia' }, media(rec, true)),
      facts(rec),
      snip ? copyRow(snip, rec) : null,
      h('div', { class: 'row' },
        h('a', { class: 'button ghost', href: rec.url, target: '_blank', rel: 'noopener', i18n: 'open' }),
        h('button', { type: 'button', class: 'danger', i18n: 'delete', onclick: async () => {
          if (await confirmBox(t('confirm.delete.one', { name }))) { dlg.close(); await remove([rec.name]); }
        } })));
    dlg.addEventListener('close', () => dlg.remove());
    body.append(dlg);
    dlg.showModal();
  }

  // ---- account ----

  function field(id, labelKey, props) {
    return h('div', { class: 'field' }, h('label', { for: id, i18n: labelKey }), h('input', { id, ...props }));
  }

  function renderAccount(main) {
    main.replaceChildren(h('h1', { i18n: 'title.account' }));
    if (!JWT) main.append(h('p', { class: 'notice', i18n: 'account.nojwt' }));
    if (signedIn()) accountIn(main); else accountOut(main);
  }

  function accountOut(main) {
    const getMsg = msgBox('get-msg');
    const get = h('form', { class: 'panel', id: 'get-token' },
      h('h2', { i18n: 'account.get' }), h('p', { class: 'hint', i18n: 'account.get.hint' }),
      field('mail', 'account.mail', { type: 'email', name: 'mail', required: true, autocomplete: 'email' }),
      h('button', { class: 'primary', i18n: 'account.get.go' }), getMsg);
    get.addEventListener('submit', async (e) => {
      e.preventDefault();
      const r = await api('POST', '/api/get_token', { json: { mail: $('#mail').value }, auth: '' });
      if (r.ok && r.data.token) {
        store.set(TOKEN_KEY, r.data.token);
        renderAccount(main);
        say(t('account.got'));
      } else showMsg(getMsg, r.status === 409 ? t('account.exists') : errText(r.data), false);
    });

    const inMsg = msgBox('signin-msg');
    const signin = h('form', { class: 'panel', id: 'signin' },
      h('h2', { i18n: 'account.signin' }),
      field('token', 'account.token', { type: 'password', name: 'token', required: true, autocomplete: 'off', spellcheck: 'false' }),
      h('button', { class: 'primary', i18n: 'account.signin.go' }), inMsg);
    signin.addEventListener('submit', async (e) => {
      e.preventDefault();
      const tok = $('#token').value.trim();
      const r = await api('GET', '/api/image_list?per_page=1', { auth: tok });
      if (r.ok) { store.set(TOKEN_KEY, tok); renderAccount(main); say(t('account.signedin.now')); } else showMsg(inMsg, errText(r.data), false);
    });

    const recMsg = msgBox('recover-msg');
    const recover = h('form', { class: 'panel', id: 'recover' },
      h('h2', { i18n: 'account.recover' }),
      h('p', { class: 'hint', i18n: MAIL ? 'account.recover.hint' : 'account.nomail' }),
      MAIL ? [field('recover-mail', 'account.mail', { type: 'email', required: true, autocomplete: 'email' }),
        h('button', { class: 'primary', i18n: 'account.recover.go' })] : null, recMsg);
    recover.addEventListener('submit', async (e) => {
      e.preventDefault();
      const r = await api('POST', '/api/mail_for_reset', { json: { mail: $('#recover-mail').value }, auth: '' });
      showMsg(recMsg, r.ok ? t('account.recover.sent') : errText(r.data), r.ok);
    });
    main.append(h('div', { class: 'cols' }, get, signin), recover);
  }

  function accountIn(main) {
    const tok = token();
    const mail = tok ? jwtMail(tok) : '';
    if (tok) {
      const tokInput = h('input', { id: 'my-token', type: 'password', readonly: true, value: tok, i18nAttr: 'aria-label=account.token' });
      main.append(h('section', { class: 'panel', id: 'me' },
        h('h2', { i18n: mail ? 'account.as' : 'account.in', args: { mail } }),
        h('p', { class: 'hint', i18n: 'account.keep' }),
        h('div', { class: 'row' }, tokInput,
          h('button', { type: 'button', class: 'ghost', i18n: 'show', onclick: (e) => {
            const hidden = tokInput.type === 'password';
            tokInput.type = hidden ? 'text' : 'password';
            e.target.dataset.i18n = hidden ? 'hide' : 'show';
            e.target.textContent = t(e.target.dataset.i18n);
          } }),
          h('button', { type: 'button', class: 'ghost', i18n: 'copy', onclick: () => copy(tok) })),
        h('button', { type: 'button', id: 'signout', class: 'primary', i18n: 'account.signout', onclick: () => {
          store.set(TOKEN_KEY, '');
          renderAccount(main);
          say(t('account.signedout'));
        } })));
    }

    const cfgMsg = msgBox('config-msg');
    const clients = [['sharex', 'ShareX (.sxcu)'], ['picgo', 'PicGo'], ['upic', 'uPic'], ['flameshot', 'Flameshot / curl']];
    main.append(h('section', { class: 'panel', id: 'configs' },
      h('h2', { i18n: 'configs' }), h('p', { class: 'hint', i18n: 'configs.hint' }),
      h('div', { class: 'row wrap' }, clients.map(([c, label]) => h('button', { type: 'button', class: 'ghost', 'data-client': c, text: label,
        onclick: () => downloadConfig(c, cfgMsg) }))), cfgMsg));

    if (tok) {
      const delMsg = msgBox('delete-msg');
      const form = h('form', { class: 'panel danger-zone', id: 'delete-account' },
        h('h2', { i18n: 'account.delete' }), h('p', { class: 'hint', i18n: 'account.delete.hint' }),
        field('delete-mail', 'account.mail', { type: 'email', required: true, value: mail }),
        h('button', { class: 'danger', i18n: 'account.delete.go' }), delMsg);
      form.addEventListener('submit', async (e) => {
        e.preventDefault();
        const m = $('#delete-mail').value.trim();
        if (!await confirmBox(t('confirm.account', { mail: m }))) return;
        const r = await api('POST', '/api/remove_token', { json: { mail: m, token: tok }, auth: '' });
        if (r.ok) { store.set(TOKEN_KEY, ''); renderAccount(main); say(t('account.deleted')); } else showMsg(delMsg, errText(r.data), false);
      });
      main.append(form);
    }
  }

  async function downloadConfig(client, msg) {
    const headers = token() ? { Authorization: 'Bearer ' + token() } : {};
    let res;
    try { res = await fetch('/api/uploader_config?client=' + client, { headers, cache: 'no-store' }); } catch { showMsg(msg, t('err.network'), false); return; }
    if (!res.ok) {
      let d;
      try { d = await res.json(); } catch { d = { data: t('err.http', { status: res.status }) }; }
      showMsg(msg, errText(d), false);
      return;
    }
    const name = (/filename="([^"]+)"/.exec(res.headers.get('Content-Disposition') || '') || [])[1] || 'imgbed-' + client;
    const url = URL.createObjectURL(await res.blob());
    const a = h('a', { href: url, download: name, hidden: true });
    body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
    showMsg(msg, t('configs.saved', { name }), true);
  }

  // ---- admin ----

  function renderAdmin(main) {
    main.replaceChildren(h('h1', { i18n: 'title.admin' }));
    if (!adminToken()) {
      const msg = msgBox('admin-msg');
      const form = h('form', { class: 'panel', id: 'admin-signin' },
        h('p', { class: 'hint', i18n: 'admin.hint' }),
        field('admin-token', 'admin.token', { type: 'password', required: true, autocomplete: 'off' }),
        h('button', { class: 'primary', i18n: 'account.signin.go' }), msg);
      form.addEventListener('submit', async (e) => {
        e.preventDefault();
        const tok = $('#admin-token').value.trim();
        const r = await api('GET', '/api/admin/policy', { auth: tok });
        if (r.ok) { store.set(ADMIN_KEY, tok, sessionStorage); renderAdmin(main); } else showMsg(msg, errText(r.data), false);
      });
      main.append(form);
      return;
    }
    main.append(h('div', { class: 'row end' }, h('button', { type: 'button', class: 'ghost', id: 'admin-signout', i18n: 'admin.signout',
      onclick: () => { store.set(ADMIN_KEY, '', sessionStorage); renderAdmin(main); } })));
    const policy = h('section', { class: 'panel', id: 'policy' });
    const users = h('section', { class: 'panel', id: 'users' });
    main.append(policy, users);
    loadPolicy(policy);
    loadUsers(users);
  }

  function policyCard(p, key) {
    if (!p) return h('article', { class: 'policy none' }, h('h3', { i18n: key }), h('p', { class: 'hint', i18n: 'policy.none' }));
    // Counters (the latency histogram is for metrics, not for this page).
    const stats = Object.entries(p.stats || {}).filter(([k]) => k !== 'latency')
      .map(([k, v]) => [k, typeof v === 'object' ? Object.entries(v).map(([a, b]) => `${a}: ${b}`).join(', ') || '0' : String(v)]);
    return h('article', { class: 'policy' }, h('h3', { i18n: key }),
      h('p', { class: 'pname', text: `${p.name}@${p.version}` }),
      h('dl', { class: 'facts' },
        h('dt', { text: 'SHA-256' }), h('dd', { class: 'mono', text: String(p.sha256).slice(0, 16) + '…', title: p.sha256 }),
        h('dt', { i18n: 'fact.size' }), h('dd', { text: fmtBytes(p.size) }),
        h('dt', { i18n: 'policy.source' }), h('dd', { text: p.source }),
        h('dt', { i18n: 'policy.loaded' }), h('dd', { text: fmtDate(p.loaded_at) }),
        p.signed_by ? [h('dt', { i18n: 'policy.signed' }), h('dd', { class: 'mono', text: String(p.signed_by).slice(0, 16) + '…', title: p.signed_by })] : [],
        stats.map(([k, v]) => [h('dt', { text: k }), h('dd', { text: v })])));
  }

  // A form that PUTs a policy component to `path` — with policy.trusted_keys set, with its
  // detached signature (`imgbed policy sign`) — showing a refusal in `msg`, `done` after a success.
  function componentForm({ id, label, button, primary, signed, path, msg, done }) {
    const file = h('input', { type: 'file', id: `${id}-file`, accept: '.wasm,application/wasm', required: true });
    const sig = signed ? h('input', { type: 'file', id: `${id}-sig`, accept: '.sig', required: true }) : null;
    const form = h('form', { class: 'row wrap', id: `${id}-upload` },
      h('label', { for: `${id}-file`, i18n: label }), file,
      signed ? [h('label', { for: `${id}-sig`, i18n: 'policy.sig' }), sig] : [],
      h('button', { class: primary ? 'primary' : 'ghost', i18n: button }));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      if (!file.files[0] || (sig && !sig.files[0])) return;
      const headers = sig ? { 'X-Imgbed-Signature': (await sig.files[0].text()).trim() } : {};
      const res = await api('PUT', path, { body: file.files[0], auth: adminToken(), headers });
      if (res.ok) await done(); else showMsg(msg, errText(res.data), false);
    });
    return form;
  }

  async function loadPolicy(box) {
    const r = await api('GET', '/api/admin/policy', { auth: adminToken() });
    const msg = msgBox('policy-msg');
    if (!r.ok) { box.replaceChildren(h('h2', { i18n: 'policy' }), msg); showMsg(msg, errText(r.data), false); return; }
    const signed = !!r.data.data.signatures_required;
    const form = componentForm({ id: 'policy', label: 'policy.file', button: 'policy.upload', primary: true,
      signed, path: '/api/admin/policy', msg,
      done: async () => { await loadPolicy(box); showMsg($('#policy-msg'), t('policy.swapped'), true); } });
    const back = h('button', { type: 'button', class: 'ghost', id: 'rollback', i18n: 'policy.rollback', disabled: !r.data.data.previous, onclick: async () => {
      if (!await confirmBox(t('confirm.rollback'), 'policy.rollback')) return;
      const res = await api('POST', '/api/admin/policy/rollback', { auth: adminToken() });
      if (res.ok) { await loadPolicy(box); showMsg($('#policy-msg'), t('policy.rolledback'), true); } else showMsg(msg, errText(res.data), false);
    } });
    const shadow = h('section', { class: 'shadow', id: 'shadow' });
    box.replaceChildren(h('h2', { i18n: 'policy' }),
      h('div', { class: 'cols' }, policyCard(r.data.data.active, 'policy.active'), policyCard(r.data.data.previous, 'policy.previous')),
      form, h('div', { class: 'row' }, back), msg, shadow);
    loadShadow(shadow, box, signed);
  }

  // Shadow mode: a candidate runs beside the active policy on live traffic; its answers
  // are never used, only where it would decide differently is shown.
  async function loadShadow(box, policyBox, signed) {
    const r = await api('GET', '/api/admin/policy/shadow', { auth: adminToken() });
    const msg = msgBox('shadow-msg');
    if (!r.ok) { box.replaceChildren(h('h3', { i18n: 'shadow' }), msg); showMsg(msg, errText(r.data), false); return; }
    const d = r.data.data;
    const form = componentForm({ id: 'shadow', label: 'shadow.file', button: 'shadow.load', primary: false,
      signed, path: '/api/admin/policy/shadow', msg,
      done: async () => { await loadShadow(box, policyBox, signed); showMsg($('#shadow-msg'), t('shadow.loaded'), true); } });
    const parts = [h('h3', { i18n: 'shadow' }), h('p', { class: 'hint', i18n: 'shadow.hint', args: { rate: String(d.sample) } })];
    if (d.shadow) {
      const c = d.shadow.counts;
      const outcome = (o) => o.code ? `${o.outcome} (${o.code})` : o.outcome;
      parts.push(h('p', { class: 'pname', text: `${d.shadow.policy.name}@${d.shadow.policy.version}` }),
        h('dl', { class: 'facts', id: 'shadow-counts' },
          h('dt', { i18n: 'shadow.calls' }), h('dd', { text: String(c.calls) }),
          h('dt', { i18n: 'shadow.agreements' }), h('dd', { text: String(c.agreements) }),
          h('dt', { i18n: 'shadow.disagreements' }), h('dd', { class: 'num', text: String(c.disagreements) }),
          h('dt', { i18n: 'shadow.skipped' }), h('dd', { text: String(c.skipped) })),
        d.shadow.recent.length ? h('div', { class: 'scroll' }, h('table', { class: 'users', id: 'shadow-recent' },
          h('thead', {}, h('tr', {}, ['shadow.action', 'shadow.image', 'policy.active', 'shadow', 'admin.created'].map((k) => h('th', { scope: 'col', i18n: k })))),
          h('tbody', {}, d.shadow.recent.slice(-20).reverse().map((x) => h('tr', {},
            h('td', { text: `${x.action} · ${x.principal_kind}` }), h('td', { class: 'mono', text: x.image || '' }),
            h('td', { text: outcome(x.active) }), h('td', { text: outcome(x.shadow) }), h('td', { text: fmtDate(x.at) })))))) : h('p', { class: 'empty', i18n: 'shadow.none' }),
        h('div', { class: 'row' },
          h('button', { type: 'button', class: 'primary', id: 'shadow-promote', i18n: 'shadow.promote', onclick: async () => {
            if (!await confirmBox(t('confirm.promote'), 'shadow.promote')) return;
            const res = await api('POST', '/api/admin/policy/shadow/promote', { auth: adminToken() });
            if (res.ok) { await loadPolicy(policyBox); showMsg($('#policy-msg'), t('shadow.promoted'), true); } else showMsg(msg, errText(res.data), false);
          } }),
          h('button', { type: 'button', class: 'ghost', id: 'shadow-drop', i18n: 'shadow.drop', onclick: async () => {
            const res = await api('DELETE', '/api/admin/policy/shadow', { auth: adminToken() });
            if (res.ok) { await loadShadow(box, policyBox, signed); showMsg($('#shadow-msg'), t('shadow.dropped'), true); } else showMsg(msg, errText(res.data), false);
          } })));
    }
    box.replaceChildren(...parts, form, msg);
  }

  async function loadUsers(box) {
    const r = await api('GET', '/api/admin/users', { auth: adminToken() });
    const msg = msgBox('users-msg');
    box.replaceChildren(h('h2', { i18n: 'admin.accounts' }), msg);
    if (!r.ok) { showMsg(msg, errText(r.data), false); return; }
    if (!r.data.data.length) { box.append(h('p', { class: 'empty', i18n: 'admin.noaccounts' })); return; }
    const act = async (mail, ban) => {
      if (!await confirmBox(t(ban ? 'confirm.ban' : 'confirm.remove', { mail }), ban ? 'admin.ban' : 'admin.remove')) return;
      const res = await api('POST', '/api/admin/remove_user', { json: { mail, ban }, auth: adminToken() });
      if (res.ok) { say(t('admin.done', { mail })); loadUsers(box); } else showMsg(msg, errText(res.data), false);
    };
    box.append(h('div', { class: 'scroll' }, h('table', { class: 'users' },
      h('thead', {}, h('tr', {}, ['account.mail', 'admin.created', 'admin.images', 'fact.size', 'admin.actions'].map((k) => h('th', { scope: 'col', i18n: k })))),
      h('tbody', {}, r.data.data.map((u) => h('tr', {},
        h('td', { text: u.mail }), h('td', { text: fmtDate(u.created) }), h('td', { class: 'num', text: String(u.images) }),
        h('td', { class: 'num', text: fmtBytes(u.bytes) }),
        h('td', { class: 'row' },
          h('button', { type: 'button', class: 'ghost', i18n: 'admin.remove', onclick: () => act(u.mail, false) }),
          h('button', { type: 'button', class: 'danger', i18n: 'admin.ban', onclick: () => act(u.mail, true) }))))))));
  }

  // ---- start ----

  $('#lang-switch').addEventListener('click', () => {
    lang = lang === 'zh' ? 'en' : 'zh';
    store.set(LANG_KEY, lang);
    translate();
  });
  const cur = $(`[data-nav="${PAGE}"]`);
  if (cur) cur.setAttribute('aria-current', 'page');
  const main = $('#main');
  main.replaceChildren();
  ({ upload: renderUpload, gallery: renderGallery, account: renderAccount, admin: renderAdmin })[PAGE](main);
  translate();
})();
