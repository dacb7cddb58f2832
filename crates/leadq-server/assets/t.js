/* leadq website tracking: page views and custom events of an anonymous
 * visitor, and forms that turn the visitor into a lead.
 *
 *   <script src="https://leadq.example.com/t.js" data-site="www" async></script>
 *
 * The visitor id lives in a first-party cookie (leadq_vid) on the site.
 * Nothing is recorded and no cookie is set when the browser sends
 * Do-Not-Track or Global Privacy Control, nor, with data-require-consent,
 * until leadq("consent", true). Requests are text/plain so browsers send
 * them without a CORS preflight. */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || !script.src || window.__leadqLoaded) return;
  window.__leadqLoaded = true;
  var server = new URL(script.src, location.href).origin;
  var site = script.getAttribute("data-site") || "";
  var requireConsent = script.hasAttribute("data-require-consent");
  var cookieDomain = script.getAttribute("data-cookie-domain");
  var COOKIE = "leadq_vid";
  var YEAR = 365 * 24 * 3600;
  var consented = false;

  function optedOut() {
    return navigator.doNotTrack === "1" || window.doNotTrack === "1" ||
      navigator.globalPrivacyControl === true;
  }

  function randomId() {
    var b = new Uint8Array(16);
    (window.crypto || window.msCrypto).getRandomValues(b);
    var s = "";
    for (var i = 0; i < b.length; i++) s += (b[i] < 16 ? "0" : "") + b[i].toString(16);
    return s;
  }

  function readCookie() {
    var parts = document.cookie ? document.cookie.split("; ") : [];
    for (var i = 0; i < parts.length; i++) {
      var kv = parts[i].split("=");
      if (kv[0] === COOKIE && /^[0-9a-zA-Z_-]{8,64}$/.test(kv[1] || "")) return kv[1];
    }
    return null;
  }

  function writeCookie(value, maxAge) {
    var c = COOKIE + "=" + value + "; Max-Age=" + maxAge + "; Path=/; SameSite=Lax";
    if (cookieDomain) c += "; Domain=" + cookieDomain;
    if (location.protocol === "https:") c += "; Secure";
    document.cookie = c;
  }

  // With consent required, the cookie itself is the record that consent
  // was given on an earlier page: it is only ever set after consent.
  function allowed() {
    if (optedOut()) return false;
    return !requireConsent || consented || readCookie() !== null;
  }

  // The visitor id, made (and the cookie set or renewed) only when allowed.
  function visitor() {
    if (!allowed()) return null;
    var vid = readCookie() || randomId();
    writeCookie(vid, YEAR);
    return vid;
  }

  function post(path, body, keepalive) {
    var data = JSON.stringify(body);
    if (window.fetch) {
      return fetch(server + path, {
        method: "POST", body: data, mode: "cors", credentials: "omit",
        keepalive: !!keepalive, headers: { "Content-Type": "text/plain" },
      });
    }
    if (navigator.sendBeacon) navigator.sendBeacon(server + path, data);
    return Promise.resolve(null);
  }

  function clip(s, n) {
    s = String(s == null ? "" : s);
    return s.length > n ? s.slice(0, n) : s;
  }

  // Referrers keep their origin and path: queries often carry personal data.
  function referrer() {
    if (!document.referrer) return "";
    try {
      var u = new URL(document.referrer);
      return clip(u.origin + u.pathname, 500);
    } catch (e) {
      return "";
    }
  }

  function send(kind, props) {
    var vid = visitor();
    if (!vid) return;
    var clean = {};
    var n = 0;
    for (var k in props || {}) {
      if (!Object.prototype.hasOwnProperty.call(props, k) || n >= 20) continue;
      var v = props[k];
      if (typeof v === "number" || typeof v === "boolean") clean[clip(k, 64)] = v;
      else if (v != null) clean[clip(k, 64)] = clip(v, 1000);
      n++;
    }
    var body = {
      vid: vid, site: site,
      events: [{ id: randomId(), kind: kind, url: location.pathname, at: Date.now(), props: clean }],
    };
    if (requireConsent) body.consent = true;
    post("/t/collect", body, true).catch(function () {});
  }

  function pageView() {
    send("page_view", { title: clip(document.title, 300), referrer: referrer() });
  }

  function fieldsOf(form) {
    var out = {};
    var consent = false;
    var els = form.elements;
    for (var i = 0; i < els.length; i++) {
      var el = els[i];
      if (!el.name || el.disabled || el.type === "file" || el.type === "password" ||
          el.type === "submit" || el.type === "button" || el.type === "reset") continue;
      if (el.name === "consent") {
        consent = el.type === "checkbox" ? el.checked : /^(1|true|yes|on)$/i.test(el.value);
        continue;
      }
      if ((el.type === "checkbox" || el.type === "radio") && !el.checked) continue;
      out[el.name] = el.value;
    }
    return { fields: out, consent: consent };
  }

  function showError(form, message, paths) {
    var box = form.querySelector("[data-leadq-error]");
    if (!box) {
      box = document.createElement("p");
      box.setAttribute("data-leadq-error", "");
      form.appendChild(box);
    }
    box.setAttribute("role", "alert");
    box.textContent = message;
    for (var i = 0; i < (paths || []).length; i++) {
      var name = String(paths[i]).replace(/^fields\./, "");
      var el = form.elements[name];
      if (el && el.setAttribute) el.setAttribute("aria-invalid", "true");
    }
  }

  function submitForm(form) {
    var got = fieldsOf(form);
    var body = {
      vid: visitor(), sid: randomId(), site: site, page: location.pathname,
      form: form.getAttribute("data-leadq-form") || form.getAttribute("name") || form.id || "",
      fields: got.fields, consent: got.consent,
    };
    var button = form.querySelector("[type=submit]");
    if (button) button.disabled = true;
    return post("/t/form", body, false).then(function (resp) {
      if (resp && !resp.ok) {
        return resp.json().then(function (j) {
          var e = (j && j.error) || {};
          var paths = ((e.details && e.details.fields) || []).map(function (f) { return f.path; });
          throw { message: e.message || "The form could not be sent.", paths: paths };
        });
      }
      var next = form.getAttribute("data-leadq-redirect");
      if (next) {
        location.href = next;
        return;
      }
      var thanks = document.createElement("p");
      thanks.setAttribute("data-leadq-thanks", "");
      thanks.setAttribute("role", "status");
      thanks.textContent = form.getAttribute("data-leadq-thanks") || "Thank you! We will be in touch.";
      form.parentNode.replaceChild(thanks, form);
    }).catch(function (err) {
      if (button) button.disabled = false;
      showError(form, (err && err.message) || "The form could not be sent; try again.", err && err.paths);
    });
  }

  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    if (!form || !form.hasAttribute || !form.hasAttribute("data-leadq-form")) return;
    ev.preventDefault();
    submitForm(form);
  });

  // leadq("track", name, props) · leadq("page") · leadq("identify", {email, …})
  // · leadq("consent", true|false)
  function leadq(command, a, b) {
    if (command === "track" && typeof a === "string") send(a, b);
    else if (command === "page") pageView();
    else if (command === "identify" && a && typeof a === "object") {
      var vid = visitor();
      if (vid) {
        var fields = {};
        for (var k in a) if (Object.prototype.hasOwnProperty.call(a, k)) fields[k] = a[k];
        post("/t/form", { vid: vid, sid: randomId(), site: site, page: location.pathname, fields: fields, identify: true }, true)
          .catch(function () {});
      }
    } else if (command === "consent") {
      if (a === true) {
        var first = !consented && readCookie() === null;
        consented = true;
        // The page view of this page was held back until now.
        if (first && requireConsent) pageView();
      } else if (a === false) {
        var old = readCookie();
        consented = false;
        if (old && !optedOut()) post("/t/collect", { vid: old, site: site, consent: false, events: [] }, true).catch(function () {});
        writeCookie("", 0);
        requireConsent = true;
      }
    }
  }

  // Calls queued by the loader stub before this script arrived:
  // window.leadq = window.leadq || function () { (leadq.q = leadq.q || []).push(arguments); };
  var queued = (window.leadq && window.leadq.q) || [];
  window.leadq = leadq;
  pageView();
  for (var i = 0; i < queued.length; i++) leadq.apply(null, queued[i]);
})();
