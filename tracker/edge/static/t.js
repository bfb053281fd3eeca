/*
 * t.js: storefront snippet of the SMS click tracker (GET /t.js on the edge; ES5, no dependencies).
 * The edge's click cookie lives on the short-link domain, which the shop cannot read, so the landing
 * page copies ?__CLICK_PARAM__= into a first-party cookie that the thank-you page still sees later.
 *   tracker.conversion({order_id: '1001', value: '19.99', currency: 'EUR', type: 'purchase', sig: '..'})
 * fires <this script's origin>/px.gif with the click id and returns the Image. `sig` covers the strings
 * as sent, so pass value as the string you signed. Calls queued before load are replayed:
 * window.tracker = window.tracker || []; tracker.push(['conversion', {...}]) (or a tracker.q array).
 */
(function (window, document) {
  'use strict';
  var PARAM = '__CLICK_PARAM__';
  var MAX_AGE = parseInt('__MAX_AGE__', 10) || 604800;
  var CLICK_ID = /^[A-Za-z0-9_-]{1,64}$/;
  // Read now: document.currentScript is only set while this file is running.
  var base = scriptOrigin();

  function scriptOrigin() {
    var script = document.currentScript, scripts, i, match;
    for (scripts = document.getElementsByTagName('script'), i = scripts.length - 1; !script && i >= 0; i--) {
      if (/\/t\.js([?#]|$)/.test(scripts[i].src)) script = scripts[i];
    }
    match = script && /^https?:\/\/[^\/?#]+/i.exec(script.src);
    return match ? match[0] : ''; // '' fires the pixel on the page's own origin (an edge behind its proxy)
  }

  function decode(text) {
    try { return decodeURIComponent(text.replace(/\+/g, ' ')); } catch (e) { return ''; }
  }

  // Only well-formed ids go into a cookie or a URL: the query string is anyone's to write.
  function valid(id) {
    return CLICK_ID.test(id) ? id : '';
  }

  function find(pairs) {
    for (var i = 0, at; i < pairs.length; i++) {
      at = pairs[i].indexOf('=');
      if (at > 0 && decode(pairs[i].slice(0, at)) === PARAM) return valid(decode(pairs[i].slice(at + 1)));
    }
    return '';
  }

  var landed = find(window.location.search.replace(/^\?/, '').split('&'));
  if (landed) {
    document.cookie = PARAM + '=' + landed + '; path=/; max-age=' + MAX_AGE + '; SameSite=Lax' +
      (window.location.protocol === 'https:' ? '; Secure' : '');
  }

  function conversion(data) {
    data = data || {};
    var query = [], image = new Image(1, 1);
    function add(name, value) {
      if (value !== undefined && value !== null && value !== '') {
        query.push(encodeURIComponent(name) + '=' + encodeURIComponent(String(value)));
      }
    }
    add('order_id', data.order_id);
    add('value', data.value);
    add('currency', data.currency);
    add('type', data.type || 'purchase');
    add(PARAM, landed || find(document.cookie.split(/;\s*/)));
    add('src', 'js');
    add('sig', data.sig);
    image.src = base + '/px.gif?' + query.join('&');
    return image;
  }

  function run(call) {
    return call && call[0] === 'conversion' ? conversion(call[1]) : undefined;
  }

  // Callable, with conversion() and push(), so every queueing style keeps working after load.
  var queued = window.tracker;
  var api = function () { return run(arguments); };
  api.conversion = conversion;
  api.push = run;
  window.tracker = api;
  var pending = (queued && queued.q) || (Array.isArray(queued) ? queued : []);
  for (var i = 0; i < pending.length; i++) run(pending[i]);
})(window, document);
