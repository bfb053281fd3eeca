/*
 * t.js: storefront snippet of the SMS click tracker (GET /t.js on the edge; ES5, no dependencies).
 * The edge's click cookie lives on the short-link domain, which the shop cannot read, so the landing
 * page copies ?__CLICK_PARAM__= into a first-party cookie that the thank-you page still sees later.
 *   tracker.conversion({order_id: '1001', value: '19.99', currency: 'EUR', type: 'purchase', sig: '..'})
 * fires <this script's origin>/px.gif with the click id and returns the Image. `sig` covers the strings
 * as sent, so pass value as the string you signed. Calls queued before load are replayed:
 * window.tracker = window.tracker || []; tracker.push(['conversion', {...}]) (or a tracker.q array).
 * On a Shopify storefront (window.Shopify.shop is set) it also writes the click id into the cart's attributes
 * (POST /cart/update.js), so the order made from that cart carries it in note_attributes and the orders/paid
 * webhook credits the click, whichever checkout the buyer completes.
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

  function find(pairs, name) {
    for (var i = 0, at; i < pairs.length; i++) {
      at = pairs[i].indexOf('=');
      if (at > 0 && decode(pairs[i].slice(0, at)) === name) return decode(pairs[i].slice(at + 1));
    }
    return '';
  }

  function cookie(name) {
    return find(document.cookie.split(/;\s*/), name);
  }

  var landed = valid(find(window.location.search.replace(/^\?/, '').split('&'), PARAM));
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
    add('subscription_id', data.subscription_id);
    add(PARAM, landed || valid(cookie(PARAM)));
    add('src', 'js');
    add('sig', data.sig);
    image.src = base + '/px.gif?' + query.join('&');
    return image;
  }

  // Shopify's Ajax cart API lives under the storefront's root (a locale prefix such as /fr/ included).
  function shopifyRoot() {
    var shopify = window.Shopify, root;
    if (!shopify || typeof shopify.shop !== 'string' || !window.XMLHttpRequest) return '';
    root = shopify.routes && typeof shopify.routes.root === 'string' ? shopify.routes.root : '/';
    return root.charAt(root.length - 1) === '/' ? root : root + '/';
  }

  // The cart a page belongs to: Shopify's `cart` cookie. (Its JSON `token` may add '?key=...'.)
  function cartToken(token) {
    return String(token || '').split('?')[0];
  }

  // Once per click id and cart: a new cart (after a checkout) gets the id again. The cart's token comes from
  // update.js's answer, because a cookie that answer sets may not show in document.cookie yet.
  function rememberInCart(id) {
    var root = shopifyRoot(), request, attributes = {}, KEY = 'tracker_cart_' + PARAM;
    if (!root || !id) return;
    try {
      if (!landed && window.sessionStorage.getItem(KEY) === id + '|' + cartToken(cookie('cart'))) return;
    } catch (e) { /* storage blocked: write again, it is idempotent */ }
    attributes[PARAM] = id;
    request = new XMLHttpRequest();
    request.open('POST', root + 'cart/update.js', true);
    request.setRequestHeader('Content-Type', 'application/json');
    request.setRequestHeader('Accept', 'application/json');
    request.onload = function () {
      var token;
      if (request.status < 200 || request.status >= 300) return;
      try { token = JSON.parse(request.responseText).token; } catch (e) { token = cookie('cart'); }
      try { window.sessionStorage.setItem(KEY, id + '|' + cartToken(token)); } catch (e) { /* see above */ }
    };
    request.send(JSON.stringify({attributes: attributes}));
  }

  rememberInCart(landed || valid(cookie(PARAM)));

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
